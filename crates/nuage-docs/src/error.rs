//! What can go wrong with a document operation, said as what happened —
//! never as a status code. Each protocol face maps these at its edge: the
//! CouchDB face (nuage-couch `wire.rs`) to `{"error","reason"}`
//! with CouchDB's codes, and later the file API, DAV and PIM faces to their
//! own formats. Messages tell the person what to do next.

use nuage_core::Denied;
use nuage_mango::MangoError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocError {
    /// The document, revision, attachment, index or doctype does not exist
    /// (or, for a limited caller, is outside its permission: the two are
    /// told apart by nobody). `reason` is CouchDB's: `missing`, `deleted`…
    #[error("not found: {reason}")]
    NotFound { reason: String },
    /// The edit's revision is not the current leaf.
    #[error("document update conflict")]
    Conflict,
    /// Creating a doctype that already exists.
    #[error("the doctype already exists")]
    DoctypeExists,
    /// A write to a doctype whose deletion is under way (a few seconds at
    /// most); once it is finished the doctype may be written again, empty.
    #[error(
        "the doctype {doctype} is being deleted; try again in a moment, once its deletion is finished"
    )]
    DoctypeBeingDeleted { doctype: String },
    /// The caller's permissions do not cover the operation.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Allowed in kind, but past what this caller may do (a bound that
    /// depends on who asks).
    #[error("{0}")]
    Refused(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A parameter of the request does not parse.
    #[error("{0}")]
    InvalidParameter(String),
    /// The document itself is not acceptable (a bad special member…).
    #[error("{0}")]
    Validation(String),
    /// A document id that may not be used.
    #[error("{0}")]
    IllegalDocId(String),
    /// A doctype name that may not be used.
    #[error("{0}")]
    IllegalDoctype(String),
    /// One item is bigger than its limit.
    #[error("{what} is larger than the limit of {limit} bytes{}; {hint}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    TooLarge {
        what: &'static str,
        limit: usize,
        size: Option<usize>,
        hint: &'static str,
    },
    /// A request carries more items than one request may.
    #[error("{what} holds at most {limit} items (this one has {got}); send it in smaller batches")]
    TooMany {
        what: Batch,
        limit: usize,
        got: usize,
    },
    /// An attachment stub names an attachment the document does not have.
    #[error("{0}")]
    MissingStub(String),
    /// A form of content this store does not take.
    #[error("{0}")]
    Unsupported(String),
    /// A Mango request or index definition is refused (its error carries
    /// CouchDB's own code).
    #[error("{}", .0.reason())]
    Query(MangoError),
    /// The write would take the instance over its storage quota.
    #[error("{}", quota_message(*.needed, .usage))]
    QuotaExceeded {
        needed: i64,
        usage: nuage_store::Usage,
    },
    /// The store or the blob store failed; the cause was logged.
    #[error("{0}")]
    Internal(String),
}

/// The kinds of batch a request is bounded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    BulkDocs,
    BulkGet,
    /// The `keys` of one `_all_docs` request.
    AllDocsKeys,
    /// The revisions of one `_revs_diff` request, over all its ids.
    RevsDiff,
}

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Batch::BulkDocs => "a _bulk_docs batch",
            Batch::BulkGet => "a _bulk_get request",
            Batch::AllDocsKeys => "the keys of an _all_docs request",
            Batch::RevsDiff => "the revisions of a _revs_diff request",
        })
    }
}

impl DocError {
    pub fn not_found(reason: &str) -> Self {
        DocError::NotFound {
            reason: reason.to_owned(),
        }
    }
    pub fn missing() -> Self {
        Self::not_found("missing")
    }
    pub fn deleted() -> Self {
        Self::not_found("deleted")
    }
    pub fn no_db(doctype: &str) -> Self {
        DocError::NotFound {
            reason: format!(
                "Database does not exist: no document of type {doctype} was written yet"
            ),
        }
    }
    pub fn conflict() -> Self {
        DocError::Conflict
    }
    pub fn bad_request(reason: impl Into<String>) -> Self {
        DocError::Invalid(reason.into())
    }
    pub fn doc_validation(reason: impl Into<String>) -> Self {
        DocError::Validation(reason.into())
    }
    pub fn too_large(limit: usize) -> Self {
        DocError::TooLarge {
            what: "the document",
            limit,
            size: None,
            hint: "store large content as an attachment or a file",
        }
    }
    pub fn internal(reason: impl Into<String>) -> Self {
        DocError::Internal(reason.into())
    }
}

impl From<MangoError> for DocError {
    fn from(e: MangoError) -> Self {
        DocError::Query(e)
    }
}

/// Bytes for people: `1.5 MB`.
fn human(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b} bytes"),
    }
}

fn quota_message(needed: i64, usage: &nuage_store::Usage) -> String {
    let quota = usage.quota.unwrap_or(0);
    let top: Vec<String> = usage
        .by_doctype
        .iter()
        .map(|(d, b)| format!("{d} {}", human(*b)))
        .collect();
    format!(
        "this cloud's storage quota is {}, {} of it is used ({}), and this write needs {} more; delete documents or attachments you no longer need, or ask the administrator for a larger quota",
        human(quota),
        human(usage.used),
        if top.is_empty() {
            "nothing yet".to_owned()
        } else {
            top.join(", ")
        },
        human(needed)
    )
}

impl From<nuage_store::StoreError> for DocError {
    fn from(e: nuage_store::StoreError) -> Self {
        match e {
            nuage_store::StoreError::QuotaExceeded { needed, usage } => {
                return DocError::QuotaExceeded { needed, usage };
            }
            nuage_store::StoreError::DoctypeBeingRemoved { doctype } => {
                return DocError::DoctypeBeingDeleted { doctype };
            }
            nuage_store::StoreError::TooManyIndexes { cap, wanted } => {
                return DocError::Refused(format!(
                    "the design documents of this doctype would define {wanted} indexes; a doctype maintains at most {cap}: delete indexes it no longer needs (DELETE _index/...) first"
                ));
            }
            nuage_store::StoreError::TooManyDoctypes { cap } => {
                return DocError::Refused(format!(
                    "this instance already holds {cap} doctypes, the most it may; delete one it no longer needs (DELETE /data/{{doctype}}) before writing to a new one"
                ));
            }
            _ => {}
        }
        tracing::error!(error = %e, "document store failed");
        DocError::internal(
            "the document store failed; the error was logged. Try again, and tell the administrator if it persists",
        )
    }
}

impl From<nuage_blob::BlobError> for DocError {
    fn from(e: nuage_blob::BlobError) -> Self {
        match e {
            nuage_blob::BlobError::Missing(k) => {
                tracing::error!(blob = %k, "an attachment's content is missing from the blob store");
                DocError::internal(format!(
                    "attachment content {k} is missing from the blob store; tell the administrator"
                ))
            }
            other => {
                tracing::error!(error = %other, "blob store failed");
                DocError::internal("the attachment store failed; the error was logged")
            }
        }
    }
}

pub type DocResult<T> = Result<T, DocError>;
