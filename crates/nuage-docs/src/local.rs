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
use crate::error::{DocError, DocResult};
use crate::render::parse_body;
use nuage_core::Verb;
use serde_json::{Value, json};

/// Bytes of one `_local` document's JSON at most (a PouchDB checkpoint is
/// well under 10 KB).
pub const MAX_LOCAL_BYTES: usize = 64 * 1024;
/// Bytes of a `_local` document's id at most (PouchDB's are ~30).
pub const MAX_LOCAL_ID_BYTES: usize = 256;
/// `_local` documents per doctype at most.
pub const MAX_LOCAL_DOCS: i64 = 10_000;
/// `_local` documents a caller without write access may create, at most.
pub const MAX_LOCAL_DOCS_READER: i64 = 100;

impl Db<'_> {
    pub async fn get_local(&self, id: &str) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let d = self
            .docs
            .store
            .local_doc(self.inst, self.doctype, id)
            .await?
            .ok_or_else(DocError::missing)?;
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
    ) -> DocResult<String> {
        self.check_some(Verb::Get)?;
        let Value::Object(mut obj) = doc else {
            return Err(DocError::bad_request("Document must be a JSON object"));
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
        crate::incoming::check_no_nul(id)?;
        if id.len() > MAX_LOCAL_ID_BYTES {
            return Err(DocError::IllegalDocId(format!(
                "a _local document id is at most {MAX_LOCAL_ID_BYTES} bytes; use a shorter one"
            )));
        }
        let text = Value::Object(obj).to_string();
        if text.len() > MAX_LOCAL_BYTES {
            return Err(DocError::TooLarge {
                what: "a _local document",
                limit: MAX_LOCAL_BYTES,
                size: Some(text.len()),
                hint: "keep replication state small and store data in regular documents",
            });
        }
        let cap = if self.sees_all(Verb::Put) && self.sees_all(Verb::Post) {
            MAX_LOCAL_DOCS
        } else {
            MAX_LOCAL_DOCS_READER
        };
        self.docs
            .store
            .put_local_doc(self.inst, self.doctype, id, rev.as_deref(), &text, cap)
            .await
            .map_err(|e| match e {
                nuage_store::StoreError::LocalFull { held, cap } => DocError::Refused(format!(
                    "this doctype already holds {held} _local documents, the most this credential may create ({cap}); delete old replication checkpoints first"
                )),
                other => other.into(),
            })?
            .ok_or_else(DocError::conflict)
    }

    pub async fn delete_local(&self, id: &str, rev: Option<String>) -> DocResult<()> {
        self.check_some(Verb::Get)?;
        let store = &self.docs.store;
        let current = store
            .local_doc(self.inst, self.doctype, id)
            .await?
            .ok_or_else(DocError::missing)?;
        let rev = rev.ok_or_else(DocError::conflict)?;
        if current.rev != rev
            || !store
                .delete_local_doc(self.inst, self.doctype, id, &rev)
                .await?
        {
            return Err(DocError::conflict());
        }
        Ok(())
    }
}
