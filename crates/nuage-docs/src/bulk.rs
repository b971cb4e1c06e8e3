//! Replication's reads: `_revs_diff` and `_bulk_get` (`_all_docs` is in
//! `all_docs.rs`).

use crate::Db;
use crate::error::{Batch, DocError, DocResult};
use crate::render::{self, Meta, Rendered, parse_body};
use nuage_core::Verb;
use nuage_core::revs::Rev;
use serde_json::{Map, Value, json};

/// One entry of a `_bulk_get` request.
#[derive(Clone, Debug)]
pub struct BulkGetItem {
    pub id: String,
    pub rev: Option<Rev>,
    pub atts_since: Vec<Rev>,
}

/// The answer to `_bulk_get`: serializes as CouchDB's
/// `{"results": [{"id", "docs": [{"ok": doc} | {"error": …}]}]}`.
#[derive(Debug, serde::Serialize)]
pub struct BulkGetAnswer {
    results: Vec<BulkGetResult>,
}

#[derive(Debug, serde::Serialize)]
struct BulkGetResult {
    id: String,
    docs: Vec<BulkGetEntry>,
}

#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum BulkGetEntry {
    Ok {
        ok: Rendered,
    },
    /// `{"error": {…}}`.
    Error(Value),
}

impl BulkGetAnswer {
    /// The answer as a JSON value (for tests and other faces).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Documents one `_bulk_get` asks for at most (CouchDB's
/// `max_bulk_get_count`).
pub const MAX_BULK_GET: usize = 10_000;

/// Revisions one `_revs_diff` asks about at most, over all its ids (an id
/// with an empty list counts as one). CouchDB bounds none; replicators
/// send batches of 100 to 1,000 documents.
pub const MAX_REVS_DIFF: usize = 10_000;

impl Db<'_> {
    /// `POST /_revs_diff`: which of these revisions are we missing?
    pub async fn revs_diff(&self, asked: Map<String, Value>) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let got: usize = asked
            .values()
            .map(|v| v.as_array().map_or(1, |a| a.len().max(1)))
            .sum();
        if got > MAX_REVS_DIFF {
            return Err(DocError::TooMany {
                what: Batch::RevsDiff,
                limit: MAX_REVS_DIFF,
                got,
            });
        }
        let mut ids: Vec<String> = asked.keys().cloned().collect();
        if !self.sees_all(Verb::Get) {
            // A limited permission learns nothing of documents outside it:
            // their revisions are reported missing, as if unknown; their
            // trees and leaves are not even read.
            let heads = self
                .docs
                .store
                .doc_heads(self.inst, self.doctype, &ids)
                .await?;
            ids.retain(|id| {
                heads.get(id).is_some_and(|h| {
                    self.check_doc(
                        Verb::Get,
                        id,
                        Some(&Value::Object(parse_body(h.judged_body()))),
                    )
                    .is_ok()
                })
            });
        }
        // Of a document it sees, a limited caller knows the revisions
        // known.rs lets it know: the others are missing, as if unknown.
        let trees = self.known_trees(&ids).await?;
        let mut out = Map::new();
        for (id, revs) in asked {
            let Value::Array(revs) = revs else {
                return Err(DocError::bad_request(format!(
                    "revisions of {id} must be an array"
                )));
            };
            let tree = trees.get(&id);
            let mut missing = Vec::new();
            let mut ancestors = std::collections::BTreeSet::new();
            for r in revs {
                let Some(rev) = r.as_str().and_then(Rev::parse) else {
                    return Err(DocError::bad_request("Invalid rev format"));
                };
                if tree.is_some_and(|t| t.contains(&rev)) {
                    continue;
                }
                if let Some(t) = tree {
                    ancestors.extend(
                        t.possible_ancestors(&rev)
                            .into_iter()
                            .map(|r| r.to_string()),
                    );
                }
                missing.push(rev.to_string());
            }
            if !missing.is_empty() {
                let mut entry = json!({"missing": missing});
                if !ancestors.is_empty() {
                    entry["possible_ancestors"] = json!(ancestors);
                }
                out.insert(id, entry);
            }
        }
        Ok(Value::Object(out))
    }

    /// `POST /_bulk_get`: many documents (or revisions) in one round trip,
    /// read with two queries whatever the batch size (the trees, then the
    /// bodies): replication pulls through here.
    pub async fn bulk_get(
        &self,
        items: Vec<BulkGetItem>,
        meta: &Meta,
        latest: bool,
    ) -> DocResult<BulkGetAnswer> {
        self.check_some(Verb::Get)?;
        if items.len() > MAX_BULK_GET {
            return Err(DocError::TooMany {
                what: Batch::BulkGet,
                limit: MAX_BULK_GET,
                got: items.len(),
            });
        }
        let store = &self.docs.store;
        let mut ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let full_read = self.sees_all(Verb::Get);
        // A limited caller sees a document as `get` does: judged by its
        // winner (a deletion by what it deleted, so a replicator pulls the
        // deletions `_changes` shows it); one it may not see is as never
        // written (its tree and leaves are not even read), and of one it
        // may see it knows the revisions known.rs lets it know. Each
        // revision is then judged by its body below.
        if !full_read {
            let heads = store.doc_heads(self.inst, self.doctype, &ids).await?;
            ids.retain(|id| {
                heads
                    .get(id)
                    .is_some_and(|h| !self.hides_head(Verb::Get, h))
            });
        }
        let (mut trees, bodies) = store
            .trees_with_bodies(self.inst, self.doctype, &ids)
            .await?;
        if !full_read {
            trees = trees
                .into_iter()
                .map(|(id, tree)| {
                    let known = self.known_tree(&id, &tree, &bodies);
                    (id, known)
                })
                .collect();
        }
        // Which revisions each item asks for.
        let wanted: Vec<Vec<Rev>> = items
            .iter()
            .map(|item| {
                let Some(tree) = trees.get(&item.id) else {
                    return item.rev.iter().cloned().collect();
                };
                match &item.rev {
                    None => tree.leaves().iter().map(|n| n.rev.clone()).collect(),
                    Some(r) if latest && tree.contains(r) => tree.latest_from(r),
                    Some(r) => vec![r.clone()],
                }
            })
            .collect();
        let mut results = Vec::with_capacity(items.len());
        for (item, revs) in items.iter().zip(wanted) {
            let missing = |rev: Value| {
                BulkGetEntry::Error(
                    json!({"error": {"id": item.id, "rev": rev, "error": "not_found", "reason": "missing"}}),
                )
            };
            let mut docs = Vec::with_capacity(revs.len().max(1));
            let tree = trees.get(&item.id);
            if revs.is_empty() {
                docs.push(missing(json!("undefined")));
            }
            // A limited caller learns nothing of a document outside its
            // permission, not even its revisions: it reads as missing, with
            // exactly what a missing document's answer would carry.
            let asked = || {
                json!(
                    item.rev
                        .as_ref()
                        .map_or("undefined".to_owned(), ToString::to_string)
                )
            };
            let mut hidden = 0;
            let count = revs.len();
            for rev in revs {
                let (Some(tree), Some(body)) = (
                    tree.filter(|t| t.contains(&rev)),
                    bodies.get(&(item.id.clone(), rev.clone())),
                ) else {
                    docs.push(missing(json!(rev.to_string())));
                    continue;
                };
                let deleted = tree.get(&rev).is_some_and(|n| n.deleted);
                if full_read
                    && let Some(text) = render::spliced(&item.id, &rev, deleted, body, tree, meta)
                {
                    docs.push(BulkGetEntry::Ok {
                        ok: Rendered::Text(text),
                    });
                    continue;
                }
                let body = parse_body(body);
                // The winner of a document it sees may be a tombstone: one
                // without content shows nothing but the deletion.
                let allowed = full_read
                    || (deleted && body.is_empty())
                    || !self.hides(Verb::Get, &item.id, &body);
                if !allowed {
                    hidden += 1;
                    if hidden == count {
                        docs.push(missing(asked()));
                    }
                    continue;
                }
                let mut m = meta.clone();
                m.atts_since = item.atts_since.clone();
                let doc = render::document(
                    &self.docs.blobs,
                    self.inst,
                    &item.id,
                    &rev,
                    deleted,
                    body,
                    Some(tree),
                    &m,
                )
                .await?;
                docs.push(BulkGetEntry::Ok {
                    ok: Rendered::Value(doc),
                });
            }
            results.push(BulkGetResult {
                id: item.id.clone(),
                docs,
            });
        }
        Ok(BulkGetAnswer { results })
    }
}
