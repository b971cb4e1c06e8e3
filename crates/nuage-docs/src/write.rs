//! Writing: single PUT/POST/DELETE and `_bulk_docs`, in both `new_edits`
//! modes. All go through one path: parse, check, prepare attachments and
//! the new revision, one store transaction for the batch.

use crate::Db;
use crate::attachments;
use crate::error::{Batch, DocError, DocResult};
use crate::incoming::{self, Incoming};
use crate::render::parse_body;
use crate::revid::new_rev_id;
use nuage_core::Verb;
use nuage_core::revs::{Rev, RevTree};
use nuage_store::{DocHead, DocWrite, WriteOutcome};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The result of one document of a batch.
pub type WriteResult = Result<(String, Rev), (String, DocError)>;

/// Documents per `_bulk_docs` batch at most (CouchDB's
/// `max_bulk_docs_count` setting, whose error this answers with).
pub const MAX_BULK_DOCS: usize = 10_000;

impl Db<'_> {
    /// Refuses a caller who may write nothing in the doctype, before its
    /// request body is even parsed.
    pub fn ensure_may_write(&self) -> DocResult<()> {
        if [Verb::Post, Verb::Put, Verb::Delete]
            .iter()
            .any(|v| self.access.may_some(self.doctype, *v))
        {
            Ok(())
        } else {
            self.check_some(Verb::Post)
        }
    }

    /// `PUT /{doctype}/{id}` (`rev` from the query string if not in the body).
    pub async fn put(
        &self,
        id: &str,
        doc: Value,
        rev_query: Option<Rev>,
        new_edits: bool,
    ) -> DocResult<(String, Rev)> {
        self.put_incoming(id, incoming::parse(doc)?, rev_query, new_edits)
            .await
    }

    /// [`Db::put`] of a document already taken apart.
    pub(crate) async fn put_incoming(
        &self,
        id: &str,
        mut inc: Incoming,
        rev_query: Option<Rev>,
        new_edits: bool,
    ) -> DocResult<(String, Rev)> {
        if inc.id.as_deref().is_some_and(|b| b != id) {
            return Err(DocError::bad_request(
                "Document id in the body does not match the URL",
            ));
        }
        incoming::check_doc_id(id)?;
        inc.id = Some(id.to_owned());
        if inc.rev.is_none() {
            inc.rev = rev_query;
        }
        let mut results = self
            .write(vec![Ok(inc)], new_edits, Some(Verb::Put))
            .await?;
        match results.pop() {
            Some(Ok(r)) => Ok(r),
            Some(Err((_, e))) => Err(e),
            None => Err(DocError::internal("no result for the write")),
        }
    }

    /// `POST /{doctype}/`: the id is the body's or a new one.
    pub async fn post(&self, doc: Value) -> DocResult<(String, Rev)> {
        let mut inc = incoming::parse(doc)?;
        if inc.id.is_none() {
            inc.id = Some(uuid::Uuid::now_v7().simple().to_string());
        }
        let id = inc.id.clone().unwrap_or_default();
        let mut results = self.write(vec![Ok(inc)], true, Some(Verb::Post)).await?;
        match results.pop() {
            Some(Ok(r)) => Ok(r),
            Some(Err((_, e))) => Err(e),
            None => Err(DocError::internal(format!(
                "no result for the write of {id}"
            ))),
        }
    }

    /// `DELETE /{doctype}/{id}?rev=…`: a new revision marked deleted.
    pub async fn delete_doc(&self, id: &str, rev: Option<Rev>) -> DocResult<(String, Rev)> {
        incoming::check_doc_id(id)?;
        let Some(rev) = rev else {
            return Err(DocError::conflict());
        };
        let inc = Incoming {
            id: Some(id.to_owned()),
            rev: Some(rev),
            deleted: true,
            ..Default::default()
        };
        let mut results = self.write(vec![Ok(inc)], true, Some(Verb::Delete)).await?;
        match results.pop() {
            Some(Ok(r)) => Ok(r),
            Some(Err((_, e))) => Err(e),
            None => Err(DocError::internal("no result for the deletion")),
        }
    }

    /// `POST /{doctype}/_bulk_docs`: one result per document, in order.
    pub async fn bulk_docs(
        &self,
        docs: Vec<Value>,
        new_edits: bool,
    ) -> DocResult<Vec<WriteResult>> {
        self.ensure_may_write()?;
        if docs.len() > MAX_BULK_DOCS {
            return Err(DocError::TooMany {
                what: Batch::BulkDocs,
                limit: MAX_BULK_DOCS,
                got: docs.len(),
            });
        }
        // CouchDB validates every document before writing any: one invalid
        // document refuses the whole batch (chttpd's _bulk_docs handler).
        let parsed: Vec<Result<Incoming, (String, DocError)>> = docs
            .into_iter()
            .map(|d| incoming::parse(d).map(Ok))
            .collect::<DocResult<_>>()?;
        self.write(parsed, new_edits, None).await
    }

    /// The one write path. Single-document routes check the verb of their
    /// HTTP method; `_bulk_docs` checks each document by what it does:
    /// DELETE for a deletion, PUT for an update, POST for a creation.
    async fn write(
        &self,
        docs: Vec<Result<Incoming, (String, DocError)>>,
        new_edits: bool,
        verb: Option<Verb>,
    ) -> DocResult<Vec<WriteResult>> {
        let store = &self.docs.store;
        // Current winners, needed for permission checks on limited access
        // and for the position of new attachments.
        let ids: Vec<String> = docs
            .iter()
            .filter_map(|d| d.as_ref().ok()?.id.clone())
            .collect();
        // The current winners are needed to check a limited permission
        // against the document as it was, and to place new attachments of
        // a re-created document; a replication batch by a full-access
        // credential needs neither, and skips the query.
        let full_access = [Verb::Post, Verb::Put, Verb::Delete]
            .into_iter()
            .all(|v| self.sees_all(v));
        let any_attachments = docs
            .iter()
            .any(|d| d.as_ref().is_ok_and(|i| i.attachments.is_some()));
        let mut docs = docs;
        if any_attachments {
            self.refuse_attachments_without_room(&mut docs).await?;
        }
        let stores_blobs = any_attachments
            || docs
                .iter()
                .any(|d| d.as_ref().is_ok_and(|i| !i.stored_attachments.is_empty()));
        let heads = if full_access && !(new_edits && any_attachments) {
            HashMap::new()
        } else {
            store.doc_heads(self.inst, self.doctype, &ids).await?
        };

        let mut slots: Vec<Result<usize, (String, DocError)>> = Vec::with_capacity(docs.len());
        let mut writes = Vec::new();
        for d in docs {
            match d {
                Err(e) => slots.push(Err(e)),
                Ok(inc) => match self.prepare(inc, new_edits, &heads, verb).await {
                    Ok(w) => {
                        slots.push(Ok(writes.len()));
                        writes.push(w);
                    }
                    Err(e) => slots.push(Err(e)),
                },
            }
        }
        let write_ids: Vec<String> = writes.iter().map(|w| w.id().to_owned()).collect();
        let outcomes = if writes.is_empty() {
            Ok(Vec::new())
        } else {
            store.write_docs(self.inst, self.doctype, writes).await
        };
        // Blobs stored for a document that was then refused are garbage:
        // the collector is told to look (blob_gc.rs).
        let failed = match &outcomes {
            Err(_) => true,
            Ok(o) => {
                slots.iter().any(Result::is_err)
                    || o.iter().any(|o| {
                        !matches!(
                            o,
                            WriteOutcome::Written(_) | WriteOutcome::AlreadyPresent(_)
                        )
                    })
            }
        };
        if stores_blobs && failed {
            self.note_garbage_blobs().await;
        }
        let outcomes = outcomes?;
        Ok(slots
            .into_iter()
            .map(|s| {
                let i = s?;
                let id = write_ids[i].clone();
                match &outcomes[i] {
                    WriteOutcome::Written(rev) | WriteOutcome::AlreadyPresent(rev) => {
                        Ok((id, rev.clone()))
                    }
                    WriteOutcome::Conflict => Err((id, DocError::conflict())),
                    WriteOutcome::QuotaExceeded { needed, usage } => Err((
                        id,
                        DocError::QuotaExceeded {
                            needed: *needed,
                            usage: usage.clone(),
                        },
                    )),
                    // Replaced since the stubs were resolved: as a stub
                    // naming no leaf's attachment is refused.
                    WriteOutcome::StaleStubs => Err((
                        id.clone(),
                        DocError::MissingStub(format!(
                            "Invalid attachment stub in {id}: the revision holding it was replaced"
                        )),
                    )),
                }
            })
            .collect())
    }

    /// Tells the blob collector to look at this instance: a write stored
    /// blobs and was then refused (blob_gc.rs).
    pub(crate) async fn note_garbage_blobs(&self) {
        if let Err(e) = self.docs.store.note_blob_sweep(self.inst).await {
            tracing::debug!(error = %e, "could not note a blob sweep; the next one will do");
        }
    }

    /// Refuses inline attachments that the instance's quota has no room
    /// for, before their blobs are stored (the store checks the quota again,
    /// exactly, when the documents commit), document by document: one whose
    /// attachments do not fit beside those of the documents before it gets
    /// its own `quota_exceeded`, and the others of its batch go on.
    async fn refuse_attachments_without_room(
        &self,
        docs: &mut [Result<Incoming, (String, DocError)>],
    ) -> DocResult<()> {
        let sizes: Vec<i64> = docs
            .iter()
            .map(|d| {
                d.as_ref()
                    .ok()
                    .and_then(|i| i.attachments.as_ref())
                    .into_iter()
                    .flat_map(|atts| atts.values())
                    .filter_map(|a| a.get("data").and_then(Value::as_str))
                    .map(|b64| (b64.len() / 4 * 3) as i64)
                    .sum()
            })
            .collect();
        if sizes.iter().all(|&n| n == 0) {
            return Ok(());
        }
        let usage = self.docs.store.usage(self.inst).await?;
        let Some(quota) = usage.quota else {
            return Ok(());
        };
        let mut used = usage.used;
        for (d, needed) in docs.iter_mut().zip(sizes) {
            if needed == 0 {
                continue;
            }
            if used + needed <= quota {
                used += needed;
                continue;
            }
            let id = d
                .as_ref()
                .ok()
                .and_then(|i| i.id.clone())
                .unwrap_or_default();
            let usage = nuage_store::Usage {
                used,
                ..usage.clone()
            };
            *d = Err((id, DocError::QuotaExceeded { needed, usage }));
        }
        Ok(())
    }

    /// Refuses `incoming` bytes of attachments the instance's quota has no
    /// room for (before they are stored).
    pub(crate) async fn check_room(&self, incoming: usize) -> DocResult<()> {
        if incoming == 0 {
            return Ok(());
        }
        let usage = self.docs.store.usage(self.inst).await?;
        match usage.quota {
            Some(quota) if usage.used + incoming as i64 > quota => Err(DocError::QuotaExceeded {
                needed: incoming as i64,
                usage,
            }),
            _ => Ok(()),
        }
    }

    /// Checks one document and turns it into a store write.
    async fn prepare(
        &self,
        inc: Incoming,
        new_edits: bool,
        heads: &HashMap<String, DocHead>,
        forced_verb: Option<Verb>,
    ) -> Result<DocWrite, (String, DocError)> {
        let id = match inc.id.clone() {
            Some(id) => id,
            None if new_edits => uuid::Uuid::now_v7().simple().to_string(),
            None => {
                return Err((
                    String::new(),
                    DocError::bad_request("a replicated document needs an _id"),
                ));
            }
        };
        let fail = |e: DocError| (id.clone(), e);
        incoming::check_doc_id(&id).map_err(fail)?;
        let head = heads.get(&id);
        let live = head.is_some_and(|h| !h.deleted);
        // What the write does decides the verb; a single-document route
        // also needs its own method's verb. So a PUT carrying `_deleted`
        // needs DELETE too, and a POST that updates an existing document
        // needs PUT too (a PUT that creates is what CouchDB's PUT does).
        let content_verb = if inc.deleted {
            Verb::Delete
        } else if live {
            Verb::Put
        } else {
            Verb::Post
        };
        let mut verbs = vec![forced_verb.unwrap_or(content_verb)];
        if forced_verb.is_some()
            && (inc.deleted || (live && forced_verb == Some(Verb::Post)))
            && !verbs.contains(&content_verb)
        {
            verbs.push(content_verb);
        }
        // A design document defines indexes and (next) code that runs for
        // the whole doctype: writing one needs the whole doctype, as
        // `_index` does, whatever a limited permission's selector says.
        if id.starts_with("_design/") {
            for verb in &verbs {
                self.check_all(*verb).map_err(fail)?;
            }
        }
        for verb in verbs {
            if self.sees_all(verb) {
                continue;
            }
            if inc.deleted {
                self.check_deletion(verb, &id, head, &inc.body, new_edits)
                    .map_err(fail)?;
                continue;
            }
            let new_body = Value::Object(inc.body.clone());
            self.check_doc(verb, &id, Some(&new_body)).map_err(fail)?;
            if let Some(h) = head {
                // A limited permission must cover the document as it was
                // too, or a write could move it out of someone else's reach.
                let old = parse_body(h.judged_body());
                if let Err(e) = self.check_doc(verb, &id, Some(&Value::Object(old.clone()))) {
                    // A document the caller may not even see is refused as
                    // an edit of a missing document is, whatever the
                    // revision given: a conflict (a write without a
                    // revision can't hide that the id is taken; it gets
                    // what any edit of an existing document without its
                    // revision gets).
                    if new_edits && self.hides(verb, &id, &old) {
                        return Err(fail(DocError::conflict()));
                    }
                    return Err(fail(e));
                }
            }
        }

        let path: Option<Vec<Rev>> = if new_edits {
            None
        } else {
            // CouchDB takes `_revisions` over `_rev` when both are given,
            // whatever they say (couch_doc `transfer_fields`): PouchDB's
            // replicator sends `"_rev": "3-c"` beside `_revisions` of a
            // stemmed `2-c`, and a refusal would lose the document.
            match (&inc.revisions, &inc.rev) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(r)) => Some(vec![r.clone()]),
                (None, None) => {
                    return Err(fail(DocError::bad_request(
                        "new_edits=false needs _rev or _revisions",
                    )));
                }
            }
        };
        let new_pos = match (&path, &inc.rev, head) {
            (Some(p), _, _) => p[0].pos,
            (None, Some(r), _) => r.pos.saturating_add(1),
            (None, None, Some(h)) if h.deleted => h.rev.pos.saturating_add(1),
            _ => 1,
        };

        let mut body: Map<String, Value> = inc.body;
        let mut stored = inc.stored_attachments;
        // The leaves the stubs were found in: the store checks they still
        // are, for their blobs may be collected once they are not.
        let mut stubs_from = Vec::new();
        if let Some(atts) = inc.attachments.filter(|a| !a.is_empty()) {
            let tree = self
                .docs
                .store
                .rev_tree(self.inst, self.doctype, &id)
                .await
                .map_err(|e| fail(e.into()))?;
            // No blob for a write that will change nothing: one the store
            // is about to refuse, or a replicated revision it already holds,
            // would leave its attachments on disk, counted by no quota and
            // referenced by nothing (blob_gc.rs).
            let held = path.as_ref().is_some_and(|p| tree.contains(&p[0]));
            if path.is_none() {
                refuse_conflict(&tree, inc.rev.as_ref(), inc.deleted).map_err(fail)?;
            }
            if serde_json::to_string(&body).map_or(0, |t| t.len()) > self.docs.max_doc_bytes {
                return Err(fail(DocError::too_large(self.docs.max_doc_bytes)));
            }
            if !held {
                let known = self.known_attachments(&id, &tree).await.map_err(fail)?;
                let (mut from_body, from) =
                    attachments::store(&self.docs.blobs, self.inst, &id, atts, new_pos, &known)
                        .await
                        .map_err(fail)?;
                from_body.append(&mut stored);
                stored = from_body;
                stubs_from = from;
            }
        }
        if !stored.is_empty() {
            body.insert("_attachments".into(), Value::Object(stored));
        }
        let text = Value::Object(body).to_string();
        if text.len() > self.docs.max_doc_bytes {
            return Err(fail(DocError::too_large(self.docs.max_doc_bytes)));
        }
        Ok(match path {
            Some(path) => DocWrite::Replicate {
                id,
                path,
                deleted: inc.deleted,
                body: text,
                stubs_from,
            },
            None => DocWrite::Edit {
                new_id: new_rev_id(inc.rev.as_ref(), inc.deleted, &text),
                id,
                parent: inc.rev,
                deleted: inc.deleted,
                body: text,
                stubs_from,
            },
        })
    }

    /// May a limited caller make this deletion? A tombstone has no content
    /// to judge: the caller must cover the document as it was, judged by
    /// what the deletion removes (a deleted winner by what its own deletion
    /// removed, `DocHead::judged_body`). A document it may not see is
    /// refused as the deletion of a missing one is: a conflict (new_edits),
    /// as is one that does not exist. A replicated deletion of a document
    /// unknown here is judged by the body it carries.
    fn check_deletion(
        &self,
        verb: Verb,
        id: &str,
        head: Option<&DocHead>,
        carried: &Map<String, Value>,
        new_edits: bool,
    ) -> DocResult<()> {
        let Some(h) = head else {
            if new_edits {
                return Err(DocError::conflict());
            }
            return self.check_doc(verb, id, Some(&Value::Object(carried.clone())));
        };
        let old = parse_body(h.judged_body());
        match self.check_doc(verb, id, Some(&Value::Object(old.clone()))) {
            Err(_) if new_edits && self.hides(verb, id, &old) => Err(DocError::conflict()),
            other => other,
        }
    }

    /// The `_attachments` of every revision of the document that still has
    /// a body (its leaves), with the revision, newest first: where stubs are
    /// looked up.
    async fn known_attachments(
        &self,
        id: &str,
        tree: &RevTree,
    ) -> DocResult<Vec<(Rev, Map<String, Value>)>> {
        let store = &self.docs.store;
        let leaves: Vec<Rev> = tree.leaves().iter().map(|n| n.rev.clone()).collect();
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = store
            .revs_with_bodies(self.inst, self.doctype, id, &leaves)
            .await?;
        rows.sort_by_key(|r| std::cmp::Reverse(r.node.rev.pos));
        // A caller limited by a selector takes stubs only from leaves it
        // may read: a conflict outside its permission lends it nothing, not
        // even the knowledge that an attachment of that name exists there.
        let full_read = self.sees_all(Verb::Get);
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.node.rev, r.body?)))
            .map(|(rev, b)| (rev, parse_body(&b)))
            .filter(|(_, body)| full_read || !self.hides(Verb::Get, id, body))
            .filter_map(|(rev, mut body)| match body.remove("_attachments") {
                Some(Value::Object(m)) => Some((rev, m)),
                _ => None,
            })
            .collect())
    }
}

/// Refuses, before its blobs are stored, an interactive edit that the
/// store would refuse as a conflict (the same rule, `RevTree::edit`, on the
/// tree as read now; the store applies it again, exactly, at commit).
pub(crate) fn refuse_conflict(
    tree: &RevTree,
    parent: Option<&Rev>,
    deleted: bool,
) -> DocResult<()> {
    // The new revision's id does not change the outcome but for an edit
    // made twice, which the store still catches.
    match tree.clone().edit(parent, String::new(), deleted) {
        Ok(_) => Ok(()),
        Err(_) => Err(DocError::conflict()),
    }
}
