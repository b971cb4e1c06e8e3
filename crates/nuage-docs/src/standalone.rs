//! Attachments on their own: `GET/PUT/DELETE /{doctype}/{id}/{name}`.
//! Writes go through the ordinary document write path: a new revision
//! whose other attachments are kept as stubs.

use crate::Db;
use crate::attachments::BLOB_KEY;
use crate::error::{DocError, DocResult};
use crate::render::parse_body;
use base64::Engine as _;
use nuage_core::Verb;
use nuage_core::revs::Rev;
use serde_json::{Map, Value, json};

/// An attachment's content and what describes it.
pub struct AttachmentContent {
    pub content_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Db<'_> {
    /// The document body at `rev` (or the winner), with its revision.
    async fn body_at(&self, id: &str, rev: Option<&Rev>) -> DocResult<(Rev, Map<String, Value>)> {
        let store = &self.docs.store;
        match rev {
            None => {
                let head = store
                    .doc_head(self.inst, self.doctype, id)
                    .await?
                    .ok_or_else(DocError::missing)?;
                if head.deleted {
                    return Err(DocError::deleted());
                }
                Ok((head.rev, parse_body(&head.body)))
            }
            Some(r) => {
                let rows = store
                    .revs_with_bodies(self.inst, self.doctype, id, std::slice::from_ref(r))
                    .await?;
                let body = rows
                    .into_iter()
                    .next()
                    .and_then(|r| r.body)
                    .ok_or_else(DocError::missing)?;
                Ok((r.clone(), parse_body(&body)))
            }
        }
    }

    pub async fn get_attachment(
        &self,
        id: &str,
        name: &str,
        rev: Option<&Rev>,
    ) -> DocResult<AttachmentContent> {
        self.check_some(Verb::Get)?;
        let (_, body) = self.body_at(id, rev).await?;
        self.check_doc(Verb::Get, id, Some(&Value::Object(body.clone())))?;
        let meta = body
            .get("_attachments")
            .and_then(|a| a.get(name))
            .ok_or_else(|| DocError::not_found("Document is missing attachment"))?;
        let key = meta
            .get(BLOB_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| DocError::internal("attachment has no content"))?;
        Ok(AttachmentContent {
            content_type: meta
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_owned(),
            digest: meta
                .get("digest")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: self.docs.blobs.get(self.inst, key).await?,
        })
    }

    /// The body as a new revision would carry it: other attachments as stubs.
    fn with_stubs(mut body: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
        let mut atts = match body.remove("_attachments") {
            Some(Value::Object(a)) => a,
            _ => Map::new(),
        };
        for meta in atts.values_mut() {
            if let Value::Object(m) = meta {
                m.remove(BLOB_KEY);
                m.insert("stub".into(), json!(true));
            }
        }
        (body, atts)
    }

    pub async fn put_attachment(
        &self,
        id: &str,
        name: &str,
        rev: Option<Rev>,
        content_type: &str,
        data: &[u8],
    ) -> DocResult<(String, Rev)> {
        if name.is_empty() || name.starts_with('_') {
            return Err(DocError::bad_request(
                "Attachment name can't start with '_'",
            ));
        }
        let (mut body, mut atts) = match &rev {
            Some(r) => {
                let (_, b) = self.body_at(id, Some(r)).await?;
                Self::with_stubs(b)
            }
            None => (Map::new(), Map::new()),
        };
        atts.insert(
            name.to_owned(),
            json!({"content_type": content_type, "data": base64::engine::general_purpose::STANDARD.encode(data)}),
        );
        body.insert("_attachments".into(), Value::Object(atts));
        self.put(id, Value::Object(body), rev, true).await
    }

    pub async fn delete_attachment(
        &self,
        id: &str,
        name: &str,
        rev: Option<Rev>,
    ) -> DocResult<(String, Rev)> {
        let rev = rev.ok_or_else(DocError::conflict)?;
        let (_, b) = self.body_at(id, Some(&rev)).await?;
        let (mut body, mut atts) = Self::with_stubs(b);
        if atts.remove(name).is_none() {
            return Err(DocError::not_found("Document is missing attachment"));
        }
        if !atts.is_empty() {
            body.insert("_attachments".into(), Value::Object(atts));
        }
        self.put(id, Value::Object(body), Some(rev), true).await
    }
}
