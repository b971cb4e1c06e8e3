//! `_local/{id}` documents: replication checkpoints and other per-replica
//! state. Readable and writable by whoever may read the doctype: a
//! replicating client keeps its checkpoint even with read-only access.
//!
//! Each has an owner. A caller who may write the whole doctype (PUT and
//! POST on it: the owner) reads and writes the owner's `_local` documents.
//! Any other caller — a read-only replicator, a token limited to some
//! documents — has its own, apart: its creator key ([`Db::local_creator`],
//! from the credential's subject and scope) is part of the store's key, so
//! it reads, updates and deletes only the `_local` documents it created.
//! What must stay true: such a caller can neither change the owner's
//! checkpoint nor learn whether one exists — the owner's `_local/x` and its
//! own are two documents, so every answer it gets is the one it would get
//! if the owner had none. Two credentials with the same subject and scope
//! (an OAuth client across its refreshed tokens) share theirs.
//!
//! Bounded, so that a read-only credential cannot fill the disk: a `_local`
//! document holds at most [`MAX_LOCAL_BYTES`]; the owner holds at most
//! [`MAX_LOCAL_DOCS`] per doctype, any other creator at most
//! [`MAX_LOCAL_DOCS_READER`] (a replicator needs one per peer), counted
//! over its own documents only.

use crate::Db;
use crate::error::{DocError, DocResult};
use crate::render::parse_body;
use nuage_core::{Permissions, Verb};
use nuage_store::LocalKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Bytes of one `_local` document's JSON at most (a PouchDB checkpoint is
/// well under 10 KB).
pub const MAX_LOCAL_BYTES: usize = 64 * 1024;
/// Bytes of a `_local` document's id at most (PouchDB's are ~30).
pub const MAX_LOCAL_ID_BYTES: usize = 256;
/// The owner's `_local` documents per doctype at most.
pub const MAX_LOCAL_DOCS: i64 = 10_000;
/// `_local` documents per doctype that one creator without write access
/// on the whole doctype may hold, at most.
pub const MAX_LOCAL_DOCS_READER: i64 = 100;

impl Db<'_> {
    /// Whose `_local` documents this caller touches: `""`, the owner's, for
    /// a caller who may write the whole doctype; otherwise a key of its
    /// own, a digest of its subject and its scope.
    pub(crate) fn local_creator(&self) -> String {
        if self.writes_everything() {
            return String::new();
        }
        let scope = match &self.access.permissions {
            Permissions::Owner => String::new(),
            Permissions::List(list) => nuage_core::scope::format_scope(list),
        };
        let subject = serde_json::to_string(&self.access.subject).unwrap_or_default();
        let digest = Sha256::digest(format!("{subject}\n{scope}"));
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn writes_everything(&self) -> bool {
        self.sees_all(Verb::Put) && self.sees_all(Verb::Post)
    }

    pub async fn get_local(&self, id: &str) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let creator = self.local_creator();
        let d = self
            .docs
            .store
            .local_doc(self.inst, &self.local_key(&creator, id))
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
        let cap = if self.writes_everything() {
            MAX_LOCAL_DOCS
        } else {
            MAX_LOCAL_DOCS_READER
        };
        let creator = self.local_creator();
        self.docs
            .store
            .put_local_doc(
                self.inst,
                &self.local_key(&creator, id),
                rev.as_deref(),
                &text,
                cap,
            )
            .await
            .map_err(|e| match e {
                nuage_store::StoreError::LocalFull { held, cap } => DocError::Refused(format!(
                    "this credential already holds {held} _local documents in this doctype, the most it may create ({cap}); delete old replication checkpoints first"
                )),
                other => other.into(),
            })?
            .ok_or_else(DocError::conflict)
    }

    pub async fn delete_local(&self, id: &str, rev: Option<String>) -> DocResult<()> {
        self.check_some(Verb::Get)?;
        let store = &self.docs.store;
        let creator = self.local_creator();
        let key = self.local_key(&creator, id);
        let current = store
            .local_doc(self.inst, &key)
            .await?
            .ok_or_else(DocError::missing)?;
        let rev = rev.ok_or_else(DocError::conflict)?;
        if current.rev != rev || !store.delete_local_doc(self.inst, &key, &rev).await? {
            return Err(DocError::conflict());
        }
        Ok(())
    }

    fn local_key<'k>(&'k self, creator: &'k str, id: &'k str) -> LocalKey<'k> {
        LocalKey {
            doctype: self.doctype,
            creator,
            id,
        }
    }
}
