//! `_local/{id}` documents: replication checkpoints and other per-replica
//! state. Readable and writable by whoever may read the doctype: a
//! replicating client keeps its checkpoint even with read-only access.
//!
//! Bounded, so that a read-only credential cannot fill the disk: a `_local`
//! document holds at most [`MAX_LOCAL_BYTES`]; a doctype holds at most
//! [`MAX_LOCAL_DOCS`], and a caller who may not write the whole doctype
//! creates new ones only while it holds fewer than [`MAX_LOCAL_DOCS_READER`]
//! (a replicator needs one per peer).

use crate::Db;
use crate::error::{CouchError, CouchResult};
use crate::render::parse_body;
use nuage_core::Verb;
use serde_json::{Value, json};

/// Bytes of one `_local` document's JSON at most (a PouchDB checkpoint is
/// well under 10 KB).
pub const MAX_LOCAL_BYTES: usize = 64 * 1024;
/// `_local` documents per doctype at most.
pub const MAX_LOCAL_DOCS: i64 = 10_000;
/// `_local` documents a caller without write access may create, at most.
pub const MAX_LOCAL_DOCS_READER: i64 = 100;

impl Db<'_> {
    pub async fn get_local(&self, id: &str) -> CouchResult<Value> {
        self.check_some(Verb::Get)?;
        let d = self
            .couch
            .store
            .local_doc(self.inst, self.doctype, id)
            .await?
            .ok_or_else(CouchError::missing)?;
        let mut body = parse_body(&d.body);
        body.insert("_id".into(), json!(format!("_local/{id}")));
        body.insert("_rev".into(), json!(d.rev));
        Ok(Value::Object(body))
    }

    pub async fn put_local(
        &self,
        id: &str,
        doc: Value,
        rev_query: Option<String>,
    ) -> CouchResult<String> {
        self.check_some(Verb::Get)?;
        let Value::Object(mut obj) = doc else {
            return Err(CouchError::bad_request("Document must be a JSON object"));
        };
        obj.remove("_id");
        let rev = obj
            .remove("_rev")
            .and_then(|v| v.as_str().map(str::to_owned))
            .or(rev_query);
        if obj.remove("_deleted").and_then(|v| v.as_bool()) == Some(true) {
            self.delete_local(id, rev).await?;
            return Ok("0-0".into());
        }
        if id.contains('\0') {
            return Err(CouchError::new(
                400,
                "illegal_docid",
                "Document id must not contain the NUL character (U+0000); choose another id",
            ));
        }
        let text = Value::Object(obj).to_string();
        if text.len() > MAX_LOCAL_BYTES {
            return Err(CouchError::new(
                413,
                "document_too_large",
                format!(
                    "a _local document holds at most {MAX_LOCAL_BYTES} bytes (this one has {}); keep replication state small and store data in regular documents",
                    text.len()
                ),
            ));
        }
        if rev.is_none() {
            let held = self
                .couch
                .store
                .count_local_docs(self.inst, self.doctype)
                .await?;
            let cap = if self.sees_all(Verb::Put) && self.sees_all(Verb::Post) {
                MAX_LOCAL_DOCS
            } else {
                MAX_LOCAL_DOCS_READER
            };
            if held >= cap {
                return Err(CouchError::new(
                    403,
                    "forbidden",
                    format!(
                        "this doctype already holds {held} _local documents, the most this credential may create ({cap}); delete old replication checkpoints first"
                    ),
                ));
            }
        }
        self.couch
            .store
            .put_local_doc(self.inst, self.doctype, id, rev.as_deref(), &text)
            .await?
            .ok_or_else(CouchError::conflict)
    }

    pub async fn delete_local(&self, id: &str, rev: Option<String>) -> CouchResult<()> {
        self.check_some(Verb::Get)?;
        let store = &self.couch.store;
        let current = store
            .local_doc(self.inst, self.doctype, id)
            .await?
            .ok_or_else(CouchError::missing)?;
        let rev = rev.ok_or_else(CouchError::conflict)?;
        if current.rev != rev
            || !store
                .delete_local_doc(self.inst, self.doctype, id, &rev)
                .await?
        {
            return Err(CouchError::conflict());
        }
        Ok(())
    }
}
