//! A document's revision tree, with CouchDB's rules: how edits extend it,
//! how replicated histories merge into it, which leaf wins, what stemming
//! forgets. Pure: the store loads the nodes, calls these, saves the result.
//!
//! Laws that must stay true (tested below):
//! - The winner is a function of the set of leaves only: every replica that
//!   holds the same leaves picks the same winner, whatever order the edits
//!   arrived in. CouchDB's rule: a non-deleted leaf beats a deleted one, then
//!   the longest branch (highest position), then the highest revision id
//!   compared as a string.
//! - Merging a path that is already present changes nothing (replication is
//!   idempotent).
//! - An edit with `new_edits` semantics only ever extends a leaf.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The highest revision position accepted (2^53, as JavaScript counts).
pub const MAX_POS: u64 = 1 << 53;

/// The most revisions of one branch a doctype keeps (`_revs_limit` is at
/// most this; CouchDB accepts any positive integer, default 1,000), and so
/// the longest `_revisions` path taken from a client: older ids are
/// dropped on parse, as stemming would drop them after the merge. Merging
/// and stemming a path costs O(n log n), and every kept revision is a row.
pub const MAX_REVS_LIMIT: usize = 10_000;

/// A revision: `{pos}-{id}`, e.g. `3-917fa2381192822767f010b95b45325b`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Rev {
    pub pos: u64,
    pub id: String,
}

impl Rev {
    pub fn new(pos: u64, id: impl Into<String>) -> Rev {
        Rev { pos, id: id.into() }
    }

    /// Parses `N-ID` with N ≥ 1 and a non-empty id of URL-safe characters.
    pub fn parse(s: &str) -> Option<Rev> {
        let (pos, id) = s.split_once('-')?;
        // Positions stay far below u64::MAX so `pos + 1` never overflows
        // (and fit the store's BIGINT).
        let pos: u64 = pos.parse().ok().filter(|p| (1..=MAX_POS).contains(p))?;
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| Rev::new(pos, id))
    }

    /// CouchDB's leaf order: higher position first, then higher id.
    fn rank(&self, other: &Rev) -> Ordering {
        self.pos
            .cmp(&other.pos)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl fmt::Display for Rev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pos, self.id)
    }
}

/// One revision of a document, without its body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RevNode {
    pub rev: Rev,
    /// `None` for a root: the first revision, or one whose ancestors were
    /// stemmed or never replicated to us.
    pub parent: Option<Rev>,
    pub deleted: bool,
}

/// Why an edit was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("Document update conflict.")]
    Conflict,
}

/// What stemming did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stemmed {
    /// Revisions forgotten.
    pub gone: Vec<Rev>,
    /// Revisions kept whose parent was forgotten: they are roots now.
    pub rerooted: Vec<Rev>,
}

/// The tree of one document.
#[derive(Clone, Debug, Default)]
pub struct RevTree {
    nodes: BTreeMap<Rev, RevNode>,
}

/// What merging a replicated path did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// Revisions added, oldest first.
    pub added: Vec<RevNode>,
}

impl RevTree {
    pub fn from_nodes(nodes: impl IntoIterator<Item = RevNode>) -> RevTree {
        RevTree {
            nodes: nodes.into_iter().map(|n| (n.rev.clone(), n)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &RevNode> {
        self.nodes.values()
    }

    pub fn get(&self, rev: &Rev) -> Option<&RevNode> {
        self.nodes.get(rev)
    }

    pub fn contains(&self, rev: &Rev) -> bool {
        self.nodes.contains_key(rev)
    }

    fn parents(&self) -> BTreeSet<&Rev> {
        self.nodes
            .values()
            .filter_map(|n| n.parent.as_ref())
            .collect()
    }

    pub fn is_leaf(&self, rev: &Rev) -> bool {
        self.nodes.contains_key(rev) && !self.parents().contains(rev)
    }

    /// Every leaf, winner first, then in CouchDB's order.
    pub fn leaves(&self) -> Vec<&RevNode> {
        let parents = self.parents();
        let mut leaves: Vec<&RevNode> = self
            .nodes
            .values()
            .filter(|n| !parents.contains(&n.rev))
            .collect();
        leaves.sort_by(|a, b| {
            // Non-deleted first, then highest position, then highest id.
            a.deleted.cmp(&b.deleted).then_with(|| b.rev.rank(&a.rev))
        });
        leaves
    }

    /// The winning revision: what a plain GET returns.
    pub fn winner(&self) -> Option<&RevNode> {
        self.leaves().into_iter().next()
    }

    /// Non-deleted leaves other than the winner (`_conflicts`).
    pub fn conflicts(&self) -> Vec<Rev> {
        self.leaves()
            .into_iter()
            .skip(1)
            .filter(|n| !n.deleted)
            .map(|n| n.rev.clone())
            .collect()
    }

    /// Deleted leaves other than the winner (`_deleted_conflicts`).
    pub fn deleted_conflicts(&self) -> Vec<Rev> {
        self.leaves()
            .into_iter()
            .skip(1)
            .filter(|n| n.deleted)
            .map(|n| n.rev.clone())
            .collect()
    }

    /// The ancestry of `rev` known here, `rev` first (`_revisions`).
    pub fn path(&self, rev: &Rev) -> Vec<Rev> {
        let mut out = Vec::new();
        let mut cur = self.nodes.get(rev);
        while let Some(n) = cur {
            out.push(n.rev.clone());
            cur = n.parent.as_ref().and_then(|p| self.nodes.get(p));
        }
        out
    }

    /// The leaves that descend from `rev` (itself if it is a leaf), for
    /// `latest=true`.
    pub fn latest_from(&self, rev: &Rev) -> Vec<Rev> {
        self.leaves()
            .into_iter()
            .filter(|l| self.path(&l.rev).contains(rev))
            .map(|l| l.rev.clone())
            .collect()
    }

    /// An interactive edit (`new_edits: true`): `parent` must be a leaf; with
    /// no parent the document must not exist or its winner must be deleted
    /// (the new revision then extends the deleted leaf, as CouchDB does).
    /// Returns the node to add; the tree is changed.
    pub fn edit(
        &mut self,
        parent: Option<&Rev>,
        new_id: String,
        deleted: bool,
    ) -> Result<RevNode, EditError> {
        let parent = match parent {
            Some(p) if self.is_leaf(p) => Some(p.clone()),
            Some(_) => return Err(EditError::Conflict),
            None => match self.winner() {
                None => None,
                Some(w) if w.deleted => Some(w.rev.clone()),
                Some(_) => return Err(EditError::Conflict),
            },
        };
        let pos = match &parent {
            None => 1,
            Some(p) if p.pos < MAX_POS => p.pos + 1,
            Some(_) => return Err(EditError::Conflict),
        };
        let node = RevNode {
            rev: Rev::new(pos, new_id),
            parent,
            deleted,
        };
        if self.nodes.contains_key(&node.rev) {
            // The same edit of the same parent: CouchDB answers conflict.
            return Err(EditError::Conflict);
        }
        self.nodes.insert(node.rev.clone(), node.clone());
        Ok(node)
    }

    /// A replicated history (`new_edits: false`): `path` is the new leaf
    /// and its ancestors, newest first, consecutive positions. Adds what is
    /// missing; a path already present is a no-op.
    pub fn merge(&mut self, path: &[Rev], leaf_deleted: bool) -> Merged {
        // Only what is newer than the newest revision already here is
        // added, hanging from it: older ancestors are known, or were
        // stemmed on purpose and must not come back as parentless leaves.
        let known = path
            .iter()
            .position(|r| self.nodes.contains_key(r))
            .unwrap_or(path.len());
        let mut added = Vec::new();
        for i in (0..known).rev() {
            let node = RevNode {
                rev: path[i].clone(),
                parent: path.get(i + 1).cloned(),
                deleted: i == 0 && leaf_deleted,
            };
            self.nodes.insert(node.rev.clone(), node.clone());
            added.push(node);
        }
        Merged { added }
    }

    /// Keeps only the `limit` most recent revisions of each branch. Leaves
    /// are never forgotten. Costs O(leaves · limit + nodes · log nodes):
    /// a long replicated path is stemmed in one pass, not one node at a time.
    pub fn stem(&mut self, limit: usize) -> Stemmed {
        let limit = limit.max(1);
        let mut keep = BTreeSet::new();
        for leaf in self.leaves() {
            let mut cur = Some(leaf);
            for _ in 0..limit {
                let Some(n) = cur else { break };
                keep.insert(n.rev.clone());
                cur = n.parent.as_ref().and_then(|p| self.nodes.get(p));
            }
        }
        let gone: Vec<Rev> = self
            .nodes
            .keys()
            .filter(|r| !keep.contains(*r))
            .cloned()
            .collect();
        for r in &gone {
            self.nodes.remove(r);
        }
        let mut rerooted = Vec::new();
        for n in self.nodes.values_mut() {
            if n.parent.as_ref().is_some_and(|p| !keep.contains(p)) {
                n.parent = None;
                rerooted.push(n.rev.clone());
            }
        }
        Stemmed { gone, rerooted }
    }

    /// The part of the tree on the paths of `leaves` (themselves and
    /// their ancestors), for a caller who may know of those leaves only:
    /// its leaves are those of `leaves` that are leaves here, and a branch
    /// that only another leaf descends from is gone. Keeping the winner
    /// keeps the winner.
    pub fn restricted_to(&self, leaves: &[Rev]) -> RevTree {
        let keep: BTreeSet<Rev> = leaves
            .iter()
            .filter(|l| self.is_leaf(l))
            .flat_map(|l| self.path(l))
            .collect();
        RevTree::from_nodes(
            self.nodes
                .values()
                .filter(|n| keep.contains(&n.rev))
                .cloned(),
        )
    }

    /// For `_revs_diff`: leaves older than `rev` that could be its ancestors.
    pub fn possible_ancestors(&self, rev: &Rev) -> Vec<Rev> {
        self.leaves()
            .into_iter()
            .filter(|l| l.rev.pos < rev.pos)
            .map(|l| l.rev.clone())
            .collect()
    }
}

/// Builds a replicated path from `_revisions: {start, ids}`.
pub fn path_from_revisions(start: u64, ids: &[String]) -> Option<Vec<Rev>> {
    if ids.is_empty() || (start as usize) < ids.len() {
        return None;
    }
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let r = Rev::new(start - i as u64, id.clone());
            Rev::parse(&r.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Rev {
        Rev::parse(s).unwrap()
    }

    #[test]
    fn revisions_parse_strictly() {
        assert_eq!(r("3-abc"), Rev::new(3, "abc"));
        for bad in [
            "",
            "0-a",
            "a-b",
            "3-",
            "3",
            "-1-a",
            "3-a/b",
            "18446744073709551615-a",
            "9007199254740993-a",
        ] {
            assert!(Rev::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn edits_extend_leaves_and_stale_edits_conflict() {
        let mut t = RevTree::default();
        let a = t.edit(None, "a".into(), false).unwrap();
        assert_eq!(a.rev, r("1-a"));
        assert_eq!(t.edit(None, "x".into(), false), Err(EditError::Conflict));
        let b = t.edit(Some(&a.rev), "b".into(), false).unwrap();
        assert_eq!(b.rev, r("2-b"));
        assert_eq!(
            t.edit(Some(&a.rev), "c".into(), false),
            Err(EditError::Conflict),
            "1-a is no longer a leaf"
        );
        let del = t.edit(Some(&b.rev), "d".into(), true).unwrap();
        assert!(t.winner().unwrap().deleted);
        // Re-creating a deleted document extends the deleted leaf.
        let again = t.edit(None, "e".into(), false).unwrap();
        assert_eq!(again.parent, Some(del.rev));
        assert_eq!(again.rev.pos, 4);
    }

    #[test]
    fn a_restricted_tree_holds_the_paths_of_the_leaves_kept() {
        let mut t = RevTree::default();
        t.merge(&[r("3-w"), r("2-b"), r("1-a")], false);
        t.merge(&[r("2-c"), r("1-a")], false);
        t.merge(&[r("2-d"), r("1-x")], true);
        let cut = t.restricted_to(&[r("3-w"), r("2-b")]);
        let revs: Vec<Rev> = cut.nodes().map(|n| n.rev.clone()).collect();
        assert_eq!(revs, vec![r("1-a"), r("2-b"), r("3-w")], "2-b is no leaf");
        assert_eq!(cut.winner().unwrap().rev, r("3-w"));
        assert!(cut.conflicts().is_empty() && cut.deleted_conflicts().is_empty());
        let cut = t.restricted_to(&[r("3-w"), r("2-d")]);
        assert_eq!(cut.deleted_conflicts(), vec![r("2-d")]);
        assert!(!cut.contains(&r("2-c")) && cut.contains(&r("1-x")));
    }

    #[test]
    fn the_winner_is_the_longest_live_branch_then_the_highest_id() {
        let mut t = RevTree::default();
        t.merge(&[r("2-b"), r("1-a")], false);
        t.merge(&[r("2-c"), r("1-a")], false);
        assert_eq!(t.winner().unwrap().rev, r("2-c"));
        assert_eq!(t.conflicts(), vec![r("2-b")]);
        t.merge(&[r("3-a"), r("2-b"), r("1-a")], false);
        assert_eq!(
            t.winner().unwrap().rev,
            r("3-a"),
            "longest branch wins over higher id"
        );
        assert_eq!(t.conflicts(), vec![r("2-c")]);
        t.merge(&[r("4-z"), r("3-a"), r("2-b"), r("1-a")], true);
        assert_eq!(
            t.winner().unwrap().rev,
            r("2-c"),
            "a live leaf beats a deleted one"
        );
        assert_eq!(t.deleted_conflicts(), vec![r("4-z")]);
        assert!(t.conflicts().is_empty());
    }

    #[test]
    fn the_winner_does_not_depend_on_arrival_order() {
        let paths: Vec<(Vec<Rev>, bool)> = vec![
            (vec![r("2-b"), r("1-a")], false),
            (vec![r("2-c"), r("1-a")], false),
            (vec![r("3-d"), r("2-b"), r("1-a")], true),
            (vec![r("1-q")], false),
        ];
        let mut winners = BTreeSet::new();
        // Every permutation of four paths.
        let mut idx = [0usize, 1, 2, 3];
        for _ in 0..24 {
            let mut t = RevTree::default();
            for &i in &idx {
                t.merge(&paths[i].0, paths[i].1);
            }
            winners.insert((
                t.winner().unwrap().rev.clone(),
                t.conflicts(),
                t.deleted_conflicts(),
            ));
            next_permutation(&mut idx);
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
    }

    fn next_permutation(a: &mut [usize]) {
        let Some(i) = (0..a.len() - 1).rev().find(|&i| a[i] < a[i + 1]) else {
            a.reverse();
            return;
        };
        let j = (i + 1..a.len()).rev().find(|&j| a[j] > a[i]).unwrap();
        a.swap(i, j);
        a[i + 1..].reverse();
    }

    #[test]
    fn merging_twice_is_a_no_op() {
        let mut t = RevTree::default();
        let first = t.merge(&[r("2-b"), r("1-a")], false);
        assert_eq!(first.added.len(), 2);
        assert!(t.merge(&[r("2-b"), r("1-a")], false).added.is_empty());
        assert_eq!(t.path(&r("2-b")), vec![r("2-b"), r("1-a")]);
    }

    #[test]
    fn stemming_keeps_the_newest_revisions_of_every_branch() {
        let mut t = RevTree::default();
        t.merge(&[r("4-d"), r("3-c"), r("2-b"), r("1-a")], false);
        t.merge(&[r("2-x"), r("1-a")], false);
        // 1-a stays: it is within two of the leaf 2-x.
        assert_eq!(
            t.stem(2),
            Stemmed {
                gone: vec![r("2-b")],
                rerooted: vec![r("3-c")]
            }
        );
        assert_eq!(t.path(&r("4-d")), vec![r("4-d"), r("3-c")]);
        assert_eq!(
            t.get(&r("3-c")).unwrap().parent,
            None,
            "its parent was stemmed"
        );
        assert_eq!(t.path(&r("2-x")), vec![r("2-x"), r("1-a")]);
        assert_eq!(t.stem(1).gone, vec![r("1-a"), r("3-c")]);
        assert_eq!(t.winner().unwrap().rev, r("4-d"));
    }

    #[test]
    fn a_replicated_history_does_not_revive_stemmed_revisions() {
        let mut t = RevTree::default();
        t.merge(&[r("3-c"), r("2-b"), r("1-a")], false);
        t.stem(2);
        assert!(!t.contains(&r("1-a")));
        let merged = t.merge(&[r("4-d"), r("3-c"), r("2-b"), r("1-a")], false);
        assert_eq!(
            merged
                .added
                .iter()
                .map(|n| n.rev.clone())
                .collect::<Vec<_>>(),
            vec![r("4-d")]
        );
        assert_eq!(
            merged.added[0].parent,
            Some(r("3-c")),
            "the new revision hangs from the newest known one"
        );
        assert!(
            !t.contains(&r("1-a")),
            "a stemmed revision does not come back"
        );
        assert_eq!(t.leaves().len(), 1, "no phantom leaf");
        assert!(t.conflicts().is_empty());
    }

    #[test]
    fn latest_and_possible_ancestors() {
        let mut t = RevTree::default();
        t.merge(&[r("3-c"), r("2-b"), r("1-a")], false);
        t.merge(&[r("2-x"), r("1-a")], false);
        assert_eq!(t.latest_from(&r("1-a")), vec![r("3-c"), r("2-x")]);
        assert_eq!(t.latest_from(&r("2-b")), vec![r("3-c")]);
        assert_eq!(t.possible_ancestors(&r("3-z")), vec![r("2-x")]);
    }

    #[test]
    fn revisions_lists_become_paths() {
        assert_eq!(
            path_from_revisions(3, &["c".into(), "b".into(), "a".into()]).unwrap(),
            vec![r("3-c"), r("2-b"), r("1-a")]
        );
        assert!(path_from_revisions(1, &["b".into(), "a".into()]).is_none());
        assert!(path_from_revisions(2, &[]).is_none());
    }
}
