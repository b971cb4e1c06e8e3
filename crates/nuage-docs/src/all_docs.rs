//! `_all_docs`: the live documents of a doctype in id order, or the ones
//! `keys` names, read a page at a time. The HTTP face writes each page as
//! it comes, so an answer over any number of documents is held in memory
//! one page (at most [`ALL_DOCS_PAGE`] rows) at a time.
//!
//! Must stay true: a page of a range is one store query on the primary key,
//! picked up after the last id read (keyset), never a growing OFFSET; only
//! `skip` is passed over in the database, once. A caller with a limited
//! permission sees its own documents only, and `skip`, `limit` and the
//! count it is told all count those alone: nothing it is told depends on
//! the documents it cannot read.
//!
//! An answer is not a snapshot: a document written while a long answer is
//! read may be in it or not, but one that exists throughout is listed
//! exactly once (a keyset cursor never repeats or skips an id).

use crate::Db;
use crate::error::{Batch, DocError, DocResult};
use crate::render::{self, Meta, parse_body};
use nuage_core::Verb;
use nuage_core::revs::RevTree;
use nuage_store::{AllDocsQuery, DocHead};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Rows read per store query: what a page holds at most.
pub const ALL_DOCS_PAGE: usize = 500;

/// Keys one `_all_docs` request may name (as `_bulk_get` may name
/// documents): each costs a lookup, and a request must stay bounded.
pub const MAX_ALL_DOCS_KEYS: usize = 10_000;

/// An `_all_docs` request, parsed.
#[derive(Clone, Debug, Default)]
pub struct AllDocsRequest {
    /// The range, `limit` and `skip` (its cursor and `ids_only` are this
    /// module's to set, page by page).
    pub range: AllDocsQuery,
    /// Given keys instead of a range: rows in the order asked.
    pub keys: Option<Vec<String>>,
    pub include_docs: bool,
    pub meta: Meta,
}

/// What the answer says before its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllDocsHead {
    /// The doctype's live documents; `None` for a caller with a limited
    /// permission, who is told only how many rows it was sent.
    pub total_rows: Option<i64>,
    pub offset: i64,
}

/// Where an answer stands between two pages.
#[derive(Debug)]
pub struct AllDocsCursor {
    /// The last id read, for a range.
    after: Option<String>,
    /// The next key to look up, and where the keys sent stop (`keys`).
    next_key: usize,
    keys_end: usize,
    /// Rows still to pass over before the first sent (limited callers
    /// only: for the others the database passes over them).
    skip: u64,
    /// Rows still to send.
    remaining: u64,
    finished: bool,
    store_reads: usize,
}

impl AllDocsCursor {
    /// The start of the answer to `req`.
    pub fn new(req: &AllDocsRequest) -> AllDocsCursor {
        let skip = u64::try_from(req.range.skip).unwrap_or(0);
        let remaining = req
            .range
            .limit
            .map_or(u64::MAX, |l| u64::try_from(l).unwrap_or(0));
        let (next_key, keys_end) = match &req.keys {
            Some(keys) => {
                let start = usize::try_from(skip).unwrap_or(usize::MAX).min(keys.len());
                let take = usize::try_from(remaining).unwrap_or(usize::MAX);
                (start, start.saturating_add(take).min(keys.len()))
            }
            None => (0, 0),
        };
        AllDocsCursor {
            after: None,
            next_key,
            keys_end,
            skip,
            remaining,
            finished: remaining == 0 || (req.keys.is_some() && next_key == keys_end),
            store_reads: 0,
        }
    }

    /// True once every row has been read: no page follows.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// How many times the documents were read from the store so far (one
    /// per page).
    pub fn store_reads(&self) -> usize {
        self.store_reads
    }
}

impl Db<'_> {
    /// Checks an `_all_docs` request and reads what its answer says before
    /// the rows. Every refusal happens here, before a row is sent.
    pub async fn all_docs_head(&self, req: &AllDocsRequest) -> DocResult<AllDocsHead> {
        self.check_some(Verb::Get)?;
        if let Some(keys) = &req.keys
            && keys.len() > MAX_ALL_DOCS_KEYS
        {
            return Err(DocError::TooMany {
                what: Batch::AllDocsKeys,
                limit: MAX_ALL_DOCS_KEYS,
                got: keys.len(),
            });
        }
        let total_rows = if self.sees_all(Verb::Get) {
            Some(
                self.docs
                    .store
                    .doctype_info(self.inst, self.doctype)
                    .await?
                    .map_or(0, |i| i.doc_count),
            )
        } else {
            None
        };
        Ok(AllDocsHead {
            total_rows,
            offset: req.range.skip.max(0),
        })
    }

    /// The next rows of the answer to `req` (possibly none when every
    /// document read was outside a limited permission); `cursor` says
    /// when the answer is complete.
    pub async fn all_docs_page(
        &self,
        req: &AllDocsRequest,
        cursor: &mut AllDocsCursor,
    ) -> DocResult<Vec<Value>> {
        self.check_some(Verb::Get)?;
        if cursor.finished {
            return Ok(Vec::new());
        }
        cursor.store_reads += 1;
        match &req.keys {
            Some(keys) => self.keys_page(req, keys, cursor).await,
            None => self.range_page(req, cursor).await,
        }
    }

    async fn range_page(
        &self,
        req: &AllDocsRequest,
        cursor: &mut AllDocsCursor,
    ) -> DocResult<Vec<Value>> {
        let limited = !self.sees_all(Verb::Get);
        // A caller who sees everything reads no more than it still sends,
        // and the database passes over `skip` (once, on the first page).
        // A limited one filters, so it reads whole pages and counts both
        // itself.
        let size = if limited {
            ALL_DOCS_PAGE
        } else {
            ALL_DOCS_PAGE.min(usize::try_from(cursor.remaining).unwrap_or(ALL_DOCS_PAGE))
        };
        let skip = if limited {
            0
        } else {
            std::mem::take(&mut cursor.skip)
        };
        let q = AllDocsQuery {
            limit: Some(size as i64),
            skip: i64::try_from(skip).unwrap_or(i64::MAX),
            after: cursor.after.take(),
            ids_only: !(limited || req.include_docs),
            ..req.range.clone()
        };
        let heads = self
            .docs
            .store
            .all_docs(self.inst, self.doctype, &q)
            .await?;
        let exhausted = heads.len() < size;
        cursor.after = heads.last().map(|h| h.id.clone());
        let mut kept = Vec::with_capacity(heads.len());
        for h in heads {
            let body = if q.ids_only {
                Map::new()
            } else {
                parse_body(&h.body)
            };
            if limited && !self.may_read(&h.id, &body) {
                continue;
            }
            if cursor.skip > 0 {
                cursor.skip -= 1;
                continue;
            }
            if cursor.remaining == 0 {
                break;
            }
            cursor.remaining -= 1;
            kept.push((h, body));
        }
        if exhausted || cursor.remaining == 0 {
            cursor.finished = true;
        }
        let trees = self.trees_for(req, kept.iter().map(|(h, _)| &h.id)).await?;
        let mut rows = Vec::with_capacity(kept.len());
        for (h, body) in kept {
            rows.push(self.live_row(req, &h, body, trees.get(&h.id)).await?);
        }
        Ok(rows)
    }

    async fn keys_page(
        &self,
        req: &AllDocsRequest,
        keys: &[String],
        cursor: &mut AllDocsCursor,
    ) -> DocResult<Vec<Value>> {
        let end = cursor.keys_end.min(cursor.next_key + ALL_DOCS_PAGE);
        let chunk = &keys[cursor.next_key..end];
        cursor.next_key = end;
        cursor.finished = end >= cursor.keys_end;
        let heads = self
            .docs
            .store
            .doc_heads(self.inst, self.doctype, chunk)
            .await?;
        let limited = !self.sees_all(Verb::Get);
        let mut bodies: HashMap<&str, Map<String, Value>> = HashMap::new();
        for (id, h) in &heads {
            // Outside the permission reads as absent: existence is not
            // revealed. A deletion is judged by what it deleted.
            if !limited || !self.hides_head(Verb::Get, h) {
                bodies.insert(id.as_str(), parse_body(&h.body));
            }
        }
        let live = chunk.iter().filter(|k| {
            heads.get(*k).is_some_and(|h| !h.deleted) && bodies.contains_key(k.as_str())
        });
        let trees = self.trees_for(req, live).await?;
        let mut rows = Vec::with_capacity(chunk.len());
        for key in chunk {
            let (Some(h), Some(body)) = (heads.get(key), bodies.get(key.as_str())) else {
                rows.push(json!({"key": key, "error": "not_found"}));
                continue;
            };
            if h.deleted {
                rows.push(json!({"id": key, "key": key, "value": {"rev": h.rev.to_string(), "deleted": true}, "doc": null}));
                continue;
            }
            rows.push(self.live_row(req, h, body.clone(), trees.get(key)).await?);
        }
        Ok(rows)
    }

    fn may_read(&self, id: &str, body: &Map<String, Value>) -> bool {
        // The permission looks at the body (a selector may name fields);
        // one clone per document of a limited caller's page.
        self.check_doc(Verb::Get, id, Some(&Value::Object(body.clone())))
            .is_ok()
    }

    /// The revision trees of a page's documents (those the caller sees),
    /// as it may know them (known.rs), when the documents are sent with
    /// what only the tree knows (`conflicts`, `revs`…): one query per page,
    /// two for a limited caller.
    async fn trees_for<'i>(
        &self,
        req: &AllDocsRequest,
        ids: impl Iterator<Item = &'i String>,
    ) -> DocResult<HashMap<String, RevTree>> {
        if !(req.include_docs && req.meta.needs_tree()) {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = ids.cloned().collect();
        self.known_trees(&ids).await
    }

    async fn live_row(
        &self,
        req: &AllDocsRequest,
        h: &DocHead,
        body: Map<String, Value>,
        tree: Option<&RevTree>,
    ) -> DocResult<Value> {
        let mut row = json!({"id": h.id, "key": h.id, "value": {"rev": h.rev.to_string()}});
        if req.include_docs {
            row["doc"] = render::document(
                &self.docs.blobs,
                self.inst,
                &h.id,
                &h.rev,
                false,
                body,
                tree,
                &req.meta,
            )
            .await?;
        }
        Ok(row)
    }
}
