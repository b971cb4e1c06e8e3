//! The store's one error type.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0} already exists")]
    Exists(String),
    #[error(
        "the database at {url} could not be opened: {source}. Check the URL, that the server runs and that the folder is writable."
    )]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "cannot reach PostgreSQL at {url}: {source}. Is PostgreSQL running, and does it listen there?"
    )]
    Unreachable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the database schema is at version {found}, newer than this nuage knows ({known}); run a newer nuage"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the doctype holds {held} _local documents, the most this writer may create ({cap})")]
    LocalFull { held: i64, cap: i64 },
    #[error(
        "the doctype's design documents define {wanted} indexes, more than the {cap} it may maintain"
    )]
    TooManyIndexes { cap: usize, wanted: usize },
    #[error("the instance holds {cap} doctypes, the most it may")]
    TooManyDoctypes { cap: i64 },
    #[error("the doctype {doctype} is being deleted")]
    DoctypeBeingRemoved { doctype: String },
    #[error("the write needs {needed} more bytes than the instance's quota allows")]
    QuotaExceeded {
        needed: i64,
        usage: crate::docs::Usage,
    },
}

impl StoreError {
    /// Maps a unique-constraint violation to `Exists(what)`.
    pub(crate) fn unique(err: sqlx::Error, what: impl Into<String>) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Exists(what.into()),
            _ => Self::Db(err),
        }
    }
}
