//! The CouchDB wire form of errors: a status and `{"error", "reason"}`, as
//! CouchDB 3 answers them, so that PouchDB and other clients react the same
//! way. The one place where the document service's typed errors
//! ([`DocError`]) become CouchDB's codes.

use nuage_docs::{Batch, DocError};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub fn body(&self) -> Value {
        json!({"error": self.error, "reason": self.reason})
    }
}

impl From<DocError> for CouchError {
    fn from(e: DocError) -> Self {
        let reason = e.to_string();
        match e {
            DocError::NotFound { reason } => Self::new(404, "not_found", reason),
            DocError::Conflict => Self::new(409, "conflict", "Document update conflict."),
            DocError::DoctypeExists => Self::new(
                412,
                "file_exists",
                "The database could not be created, the file already exists.",
            ),
            // Not a CouchDB error (a CouchDB deletion is instant): 409,
            // the state of the database conflicts with the write for the
            // moment; named apart from `conflict`, which clients take for
            // a document's revision conflict.
            DocError::DoctypeBeingDeleted { .. } => Self::new(409, "doctype_being_deleted", reason),
            DocError::Denied(_) | DocError::Refused(_) => Self::new(403, "forbidden", reason),
            DocError::Invalid(r) => Self::new(400, "bad_request", r),
            DocError::InvalidParameter(r) => Self::new(400, "query_parse_error", r),
            DocError::Validation(r) => Self::new(400, "doc_validation", r),
            DocError::IllegalDocId(r) => Self::new(400, "illegal_docid", r),
            DocError::IllegalDoctype(r) => Self::new(400, "illegal_database_name", r),
            DocError::TooLarge { .. } => Self::new(413, "document_too_large", reason),
            // CouchDB's `max_bulk_docs_count` / `max_bulk_get_count` errors;
            // CouchDB bounds no `keys`, so theirs is named the same way.
            DocError::TooMany { what, .. } => Self::new(
                413,
                match what {
                    Batch::BulkDocs => "max_bulk_docs_count_exceeded",
                    Batch::BulkGet => "max_bulk_get_count_exceeded",
                    Batch::AllDocsKeys => "max_keys_count_exceeded",
                    Batch::RevsDiff => "max_revs_diff_count_exceeded",
                },
                reason,
            ),
            DocError::MissingStub(r) => Self::new(412, "missing_stub", r),
            DocError::Unsupported(r) => Self::new(415, "bad_content_type", r),
            DocError::Query(m) => Self::new(m.status(), m.error(), m.reason()),
            // Not a CouchDB error (CouchDB has no quotas): 413, which
            // replicators treat as final rather than retrying for ever.
            DocError::QuotaExceeded { .. } => Self::new(413, "quota_exceeded", reason),
            DocError::Internal(r) => Self::new(500, "internal_server_error", r),
        }
    }
}

/// One `_bulk_docs` result row, as CouchDB writes it.
pub fn write_row(r: nuage_docs::WriteResult) -> Value {
    match r {
        Ok((id, rev)) => json!({"ok": true, "id": id, "rev": rev.to_string()}),
        Err((id, e)) => {
            let e = CouchError::from(e);
            json!({"id": id, "error": e.error, "reason": e.reason})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_find_out_of_time_is_couchdbs_timeout() {
        // chttpd `error_info(timeout)`: 500 `timeout`.
        let e = CouchError::from(DocError::Query(nuage_mango::MangoError::Timeout(10)));
        assert_eq!((e.status, e.error.as_str()), (500, "timeout"));
        assert!(e.reason.contains("narrow the selector"), "{}", e.reason);
    }
}
