//! `GET /{doctype}/{id}`: the winner, a given revision, or `open_revs`.

use crate::Db;
use crate::error::{DocError, DocResult};
use crate::render::{self, Meta, parse_body};
use nuage_core::Verb;
use nuage_core::revs::{Rev, RevTree};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub enum OpenRevs {
    All,
    List(Vec<Rev>),
}

#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    pub rev: Option<Rev>,
    pub open_revs: Option<OpenRevs>,
    pub latest: bool,
    pub meta: Meta,
}

/// The answer to a GET: one document, or the `open_revs` list.
pub enum GetAnswer {
    Doc(Value),
    OpenRevs(Vec<Value>),
}

impl Db<'_> {
    pub async fn get(&self, id: &str, opts: &GetOptions) -> DocResult<GetAnswer> {
        self.check_some(Verb::Get)?;
        crate::incoming::check_doc_id(id).map_err(|_| DocError::missing())?;
        // A refusal must not tell whether the document exists: an id list
        // refuses before the lookup; a selector, which needs the body,
        // answers an unreadable document as missing.
        self.check_before_lookup(Verb::Get, id)?;
        if let Some(open) = &opts.open_revs {
            return self
                .open_revs(id, open, opts)
                .await
                .map(GetAnswer::OpenRevs);
        }
        let store = &self.docs.store;
        if opts.rev.is_none() && !opts.meta.needs_tree() {
            // The common case: one row.
            let head = store
                .doc_head(self.inst, self.doctype, id)
                .await?
                .ok_or_else(DocError::missing)?;
            // Outside the permission is missing, even when deleted: a
            // tombstone is judged by the revision it deleted.
            if self.hides_head(Verb::Get, &head) {
                return Err(DocError::missing());
            }
            if head.deleted {
                return Err(DocError::deleted());
            }
            let body = parse_body(&head.body);
            let doc = render::document(
                &self.docs.blobs,
                self.inst,
                id,
                &head.rev,
                false,
                body,
                None,
                &opts.meta,
            )
            .await?;
            return Ok(GetAnswer::Doc(doc));
        }
        let tree = self.visible_tree(id).await?;
        let rev = match &opts.rev {
            Some(r) => r.clone(),
            None => {
                let w = tree.winner().ok_or_else(DocError::missing)?;
                if w.deleted {
                    return Err(DocError::deleted());
                }
                w.rev.clone()
            }
        };
        let doc = self
            .revision(id, &tree, &rev, &opts.meta)
            .await?
            .ok_or_else(DocError::missing)?;
        Ok(GetAnswer::Doc(doc))
    }

    /// The document's revision tree as the caller may know it (known.rs),
    /// or an empty one (a document never written) if the caller may not
    /// read its winner: every answer drawn from the tree (`open_revs=all`,
    /// `latest`, `revs_info`, `conflicts`) is then the one a missing
    /// document gets.
    async fn visible_tree(&self, id: &str) -> DocResult<RevTree> {
        let store = &self.docs.store;
        if !self.sees_all(Verb::Get) {
            let visible = store
                .doc_head(self.inst, self.doctype, id)
                .await?
                .is_some_and(|h| !self.hides_head(Verb::Get, &h));
            if !visible {
                return Ok(RevTree::default());
            }
        }
        Ok(self
            .known_trees(std::slice::from_ref(&id.to_owned()))
            .await?
            .remove(id)
            .unwrap_or_default())
    }

    /// One revision with its body, or `None` if unknown or pruned.
    async fn revision(
        &self,
        id: &str,
        tree: &RevTree,
        rev: &Rev,
        meta: &Meta,
    ) -> DocResult<Option<Value>> {
        let Some(node) = tree.get(rev) else {
            return Ok(None);
        };
        let rows = self
            .docs
            .store
            .revs_with_bodies(self.inst, self.doctype, id, std::slice::from_ref(rev))
            .await?;
        let Some(body) = rows.into_iter().next().and_then(|r| r.body) else {
            return Ok(None);
        };
        let body = parse_body(&body);
        // A revision the caller may not read is one it does not know. A
        // tombstone without content shows nothing but that the document
        // was deleted, which a caller shown this tree may know (the tree
        // is empty unless it may read the document, `visible_tree`).
        if self.hides(Verb::Get, id, &body) && !(node.deleted && body.is_empty()) {
            return Ok(None);
        }
        let doc = render::document(
            &self.docs.blobs,
            self.inst,
            id,
            rev,
            node.deleted,
            body,
            Some(tree),
            meta,
        )
        .await?;
        Ok(Some(doc))
    }

    async fn open_revs(
        &self,
        id: &str,
        open: &OpenRevs,
        opts: &GetOptions,
    ) -> DocResult<Vec<Value>> {
        let tree = self.visible_tree(id).await?;
        let wanted: Vec<Rev> = match open {
            OpenRevs::All => tree.leaves().iter().map(|n| n.rev.clone()).collect(),
            OpenRevs::List(list) => list.clone(),
        };
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for rev in wanted {
            let targets = if opts.latest && tree.contains(&rev) {
                tree.latest_from(&rev)
            } else {
                vec![rev.clone()]
            };
            for t in targets {
                if !seen.insert(t.clone()) {
                    continue;
                }
                match self.revision(id, &tree, &t, &opts.meta).await? {
                    Some(doc) => out.push(render::object([("ok", doc)])),
                    None => out.push(json!({"missing": t.to_string()})),
                }
            }
        }
        Ok(out)
    }
}
