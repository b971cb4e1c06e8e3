//! Attachments on their own: `GET/PUT/DELETE /{doctype}/{id}/{name}`.
//! Writes go through the ordinary document write path: a new revision
//! whose other attachments are kept as stubs.

use crate::Db;
use crate::attachments::{self, BLOB_KEY};
use crate::error::{DocError, DocResult};
use crate::incoming;
use crate::render::parse_body;
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
    /// The document body at `rev` (or the winner's), for a caller about to
    /// do `verb` on it. A document outside what the caller may see (judged
    /// by its winner, then by the revision asked for) is missing, whatever
    /// the revision asked: every answer is then the one a document never
    /// written gets, and only after that is the attachment looked at.
    async fn body_at(
        &self,
        verb: Verb,
        id: &str,
        rev: Option<&Rev>,
    ) -> DocResult<Map<String, Value>> {
        let store = &self.docs.store;
        let winner = match rev {
            Some(_) if self.sees_all(Verb::Get) => None,
            _ => {
                let head = store
                    .doc_head(self.inst, self.doctype, id)
                    .await?
                    .ok_or_else(DocError::missing)?;
                if self.hides_head(verb, &head) {
                    return Err(DocError::missing());
                }
                Some((head.deleted, parse_body(&head.body)))
            }
        };
        match (rev, winner) {
            (None, Some((deleted, body))) => {
                if deleted {
                    return Err(DocError::deleted());
                }
                Ok(body)
            }
            (None, None) => Err(DocError::internal("the winner was not read")),
            (Some(r), _) => {
                let rows = store
                    .revs_with_bodies(self.inst, self.doctype, id, std::slice::from_ref(r))
                    .await?;
                let body = rows
                    .into_iter()
                    .next()
                    .and_then(|r| r.body)
                    .map(|b| parse_body(&b))
                    .ok_or_else(DocError::missing)?;
                if self.hides(verb, id, &body) {
                    return Err(DocError::missing());
                }
                Ok(body)
            }
        }
    }

    pub async fn get_attachment(
        &self,
        id: &str,
        name: &str,
        rev: Option<&Rev>,
    ) -> DocResult<AttachmentContent> {
        self.check_before_lookup(Verb::Get, id)?;
        let body = self.body_at(Verb::Get, id, rev).await?;
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

    /// Stores `data` as the attachment `name` of document `id`. The content
    /// is hashed and written as it came (no base64 round trip, no copy), so
    /// a big attachment costs the server about its own size in memory.
    pub async fn put_attachment<D>(
        &self,
        id: &str,
        name: &str,
        rev: Option<Rev>,
        content_type: &str,
        data: D,
    ) -> DocResult<(String, Rev)>
    where
        D: AsRef<[u8]> + Send + 'static,
    {
        if name.is_empty() || name.starts_with('_') {
            return Err(DocError::bad_request(
                "Attachment name can't start with '_'",
            ));
        }
        // Adding an attachment updates the document: PUT.
        self.check_before_lookup(Verb::Put, id)?;
        incoming::check_doc_id(id)?;
        let (mut body, mut atts) = match &rev {
            Some(r) => Self::with_stubs(self.body_at(Verb::Put, id, Some(r)).await?),
            None => (Map::new(), Map::new()),
        };
        atts.remove(name);
        body.insert("_attachments".into(), Value::Object(atts));
        let mut inc = incoming::parse(Value::Object(body))?;
        self.check_room(data.as_ref().len()).await?;
        // A write bound to conflict stores no blob (write.rs).
        let tree = self
            .docs
            .store
            .rev_tree(self.inst, self.doctype, id)
            .await?;
        crate::write::refuse_conflict(&tree, rev.as_ref(), false)?;
        let revpos = rev.as_ref().map_or(1, |r| r.pos.saturating_add(1));
        let stored =
            attachments::store_one(&self.docs.blobs, self.inst, content_type, revpos, data).await?;
        inc.stored_attachments.insert(name.to_owned(), stored);
        let written = self.put_incoming(id, inc, rev, true).await;
        // Refused after its blob was stored: the collector is told to look
        // (blob_gc.rs), whichever check refused it.
        if written.is_err() {
            self.note_garbage_blobs().await;
        }
        written
    }

    pub async fn delete_attachment(
        &self,
        id: &str,
        name: &str,
        rev: Option<Rev>,
    ) -> DocResult<(String, Rev)> {
        // Removing an attachment updates the document (a new revision
        // without it): PUT, as the write below checks.
        self.check_before_lookup(Verb::Put, id)?;
        let rev = rev.ok_or_else(DocError::conflict)?;
        let (mut body, mut atts) = Self::with_stubs(self.body_at(Verb::Put, id, Some(&rev)).await?);
        if atts.remove(name).is_none() {
            return Err(DocError::not_found("Document is missing attachment"));
        }
        if !atts.is_empty() {
            body.insert("_attachments".into(), Value::Object(atts));
        }
        self.put(id, Value::Object(body), Some(rev), true).await
    }
}
