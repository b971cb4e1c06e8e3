//! What a caller limited by a selector may know of a document's revision
//! tree, for every answer that lists revisions: `_conflicts`,
//! `_deleted_conflicts`, `_revs_info`, `_revisions`, `open_revs=all`,
//! `latest`, `_bulk_get`, `_changes?style=all_docs`, `_revs_diff`.
//!
//! A rev id is the MD5 of its parent's id and its body (revid.rs), so an id
//! listed lets a guessed body be confirmed offline. Such a caller, shown a
//! document it may see, learns of the winner (judged as the document is,
//! a deletion by what it deleted: `gone_fields`), of the other leaves
//! whose own bodies it may read, and of the history of those, nothing
//! else: not another leaf, nor a branch only such a leaf descends from.
//! A deleted conflict is judged by its own body, because what it deleted
//! is pruned: an empty tombstone (the usual one) matches no selector, so a
//! caller limited by one does not know it (one limited by ids does).
//!
//! Must stay true: a route that lists revisions to a limited caller reads
//! the tree through [`Db::known_trees`] or [`Db::known_tree`], and judges
//! whether the document is visible at all before (by its head).

use crate::Db;
use crate::error::DocResult;
use crate::render::parse_body;
use nuage_core::Verb;
use nuage_core::revs::{Rev, RevTree};
use std::collections::HashMap;

/// Stored bodies by (document id, rev), as the store reads them with the
/// trees: the leaves'.
pub(crate) type Bodies = HashMap<(String, Rev), String>;

impl Db<'_> {
    /// The trees of `ids` as the caller may know them: whole for a caller
    /// who reads everything, else cut (module paragraph). One query, two
    /// for a limited caller (the leaves' bodies come with the trees).
    pub(crate) async fn known_trees(&self, ids: &[String]) -> DocResult<HashMap<String, RevTree>> {
        let store = &self.docs.store;
        if self.sees_all(Verb::Get) {
            return Ok(store.rev_trees(self.inst, self.doctype, ids).await?);
        }
        let (trees, bodies) = store
            .trees_with_bodies(self.inst, self.doctype, ids)
            .await?;
        Ok(trees
            .into_iter()
            .map(|(id, tree)| {
                let tree = self.known_tree(&id, &tree, &bodies);
                (id, tree)
            })
            .collect())
    }

    /// `tree`, of a document the caller may see, cut to what it may know.
    pub(crate) fn known_tree(&self, id: &str, tree: &RevTree, bodies: &Bodies) -> RevTree {
        if self.sees_all(Verb::Get) {
            return tree.clone();
        }
        let winner = tree.winner().map(|w| w.rev.clone());
        let known: Vec<Rev> = tree
            .leaves()
            .into_iter()
            .map(|leaf| leaf.rev.clone())
            .filter(|rev| {
                Some(rev) == winner.as_ref()
                    || bodies
                        .get(&(id.to_owned(), rev.clone()))
                        .map(|b| parse_body(b))
                        .is_some_and(|b| !self.hides(Verb::Get, id, &b))
            })
            .collect();
        tree.restricted_to(&known)
    }
}
