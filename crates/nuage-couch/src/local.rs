//! `_local/{id}` documents: replication checkpoints and other per-replica
//! state. Readable and writable by whoever may read the doctype: a
//! replicating client must keep its checkpoint even with read-only access.

use crate::Db;
use crate::error::{CouchError, CouchResult};
use crate::render::parse_body;
use nuage_core::Verb;
use serde_json::{Value, json};

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
        let text = Value::Object(obj).to_string();
        if text.len() > self.couch.max_doc_bytes {
            return Err(CouchError::too_large(self.couch.max_doc_bytes));
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
