//! CouchDB's errors: a status and `{"error", "reason"}`, as CouchDB 3
//! answers them, so that PouchDB and other clients react the same way.

use nuage_core::Denied;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {reason}")]
pub struct CouchError {
    pub status: u16,
    pub error: String,
    pub reason: String,
}

impl CouchError {
    pub fn new(status: u16, error: &str, reason: impl Into<String>) -> Self {
        CouchError {
            status,
            error: error.to_owned(),
            reason: reason.into(),
        }
    }
    pub fn not_found(reason: &str) -> Self {
        Self::new(404, "not_found", reason)
    }
    pub fn missing() -> Self {
        Self::not_found("missing")
    }
    pub fn deleted() -> Self {
        Self::not_found("deleted")
    }
    pub fn no_db(doctype: &str) -> Self {
        Self::new(
            404,
            "not_found",
            format!("Database does not exist: no document of type {doctype} was written yet"),
        )
    }
    pub fn conflict() -> Self {
        Self::new(409, "conflict", "Document update conflict.")
    }
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(400, "bad_request", reason)
    }
    pub fn doc_validation(reason: impl Into<String>) -> Self {
        Self::new(400, "doc_validation", reason)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "document_too_large",
            format!(
                "the document is larger than the limit of {limit} bytes; store large content as an attachment or a file"
            ),
        )
    }
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(500, "internal_server_error", reason)
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "reason": self.reason})
    }
}

impl From<Denied> for CouchError {
    fn from(d: Denied) -> Self {
        CouchError::new(403, "forbidden", d.to_string())
    }
}

impl From<nuage_store::StoreError> for CouchError {
    fn from(e: nuage_store::StoreError) -> Self {
        tracing::error!(error = %e, "document store failed");
        CouchError::internal(
            "the document store failed; the error was logged. Try again, and tell the administrator if it persists",
        )
    }
}

impl From<nuage_blob::BlobError> for CouchError {
    fn from(e: nuage_blob::BlobError) -> Self {
        match e {
            nuage_blob::BlobError::Missing(k) => CouchError::new(
                500,
                "internal_server_error",
                format!("attachment content {k} is missing from the blob store"),
            ),
            other => {
                tracing::error!(error = %other, "blob store failed");
                CouchError::internal("the attachment store failed; the error was logged")
            }
        }
    }
}

pub type CouchResult<T> = Result<T, CouchError>;
