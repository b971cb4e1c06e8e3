//! CouchDB's document semantics for nuage: every doctype of an instance is
//! a CouchDB database. This crate turns requests (already parsed from HTTP)
//! into store calls and answers shaped as CouchDB's, checking permissions on
//! every document it reads or writes; nuage-web only moves bytes.
//!
//! Must stay true: every read and write goes through [`Db`], which carries
//! the instance and the caller's [`Access`]; a permission limited to some
//! documents limits reads, writes and the changes feed alike.

mod all_docs;
pub mod attachments;
mod blob_gc;
mod bulk;
mod changes;
mod db;
mod doctype_removal;
pub mod error;
mod find;
mod get;
pub mod incoming;
mod known;
mod local;
mod removal;
pub mod render;
pub mod revid;
pub mod share;
mod standalone;
mod write;

pub use all_docs::{ALL_DOCS_PAGE, AllDocsCursor, AllDocsHead, AllDocsRequest, MAX_ALL_DOCS_KEYS};
pub use blob_gc::{BLOB_GRACE, BlobCollector, CollectError, Collected};
pub use bulk::{BulkGetAnswer, BulkGetItem, MAX_BULK_GET, MAX_REVS_DIFF};
pub use changes::{ChangesQuery, DocPredicate, Feed, Filter, MAX_CHANGES_LEFT_OUT, Page, Style};
pub use error::{Batch, DocError, DocResult};
pub use find::MAX_FIND_EXAMINED;
pub use get::{GetAnswer, GetOptions, OpenRevs};
pub use nuage_store::AllDocsQuery;
pub use removal::{PURGE_CHUNK_ROWS, Removal, RemovalError, RemovalProgress, Remover};
pub use render::Meta;
pub use share::{MinBodyRate, Share, SharePanicked, SharePermit};
pub use standalone::AttachmentContent;
pub use write::{MAX_BULK_DOCS, WriteResult};

use nuage_blob::Blobs;
use nuage_core::scope::valid_doctype;
use nuage_core::{Access, InstanceId, Target, Verb};
use nuage_store::Store;

/// CouchDB's default `max_document_size`.
pub const DEFAULT_MAX_DOC_BYTES: usize = 8 * 1024 * 1024;
/// How long one `_find` may read rows before it is refused (CouchDB's
/// default `fabric` request timeout is of the same order).
pub const DEFAULT_FIND_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest either time budget may be configured to.
pub const MAX_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(300);
/// How long a one-shot (`normal`) `_changes` feed that has found nothing
/// the caller may see reads on, a step of [`MAX_CHANGES_LEFT_OUT`] changes
/// at a time, before it answers empty where it stopped.
pub const DEFAULT_CHANGES_SEARCH: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct Docs {
    pub(crate) store: Store,
    pub(crate) blobs: Blobs,
    pub max_doc_bytes: usize,
    share: Share,
    /// The time one `_find` may take ([`DEFAULT_FIND_BUDGET`]); tests set
    /// it to zero to see the refusal without waiting.
    pub find_budget: std::time::Duration,
    /// [`DEFAULT_CHANGES_SEARCH`], unless configured.
    pub changes_search: std::time::Duration,
}

impl Docs {
    pub fn new(store: Store, blobs: Blobs) -> Docs {
        Docs {
            store,
            blobs,
            max_doc_bytes: DEFAULT_MAX_DOC_BYTES,
            share: Share::default(),
            find_budget: DEFAULT_FIND_BUDGET,
            changes_search: DEFAULT_CHANGES_SEARCH,
        }
    }

    /// Large requests hold at most `bytes` of bodies at once, across every
    /// instance ([`share::DEFAULT_BODY_BUDGET`] by default).
    pub fn with_body_budget(mut self, bytes: u64) -> Docs {
        self.share = Share::new(bytes, self.share.min_body_rate());
        self
    }

    /// A large body read in its instance's turn must keep up `rate`
    /// ([`share::DEFAULT_MIN_BODY_RATE`] by default).
    pub fn with_min_body_rate(mut self, rate: share::MinBodyRate) -> Docs {
        self.share = Share::new(self.share.body_budget(), rate);
        self
    }

    /// The time one `_find` may take, and one normal `_changes` feed may
    /// search for something its caller may see, each at most
    /// [`MAX_TIME_BUDGET`]: the find budget is also the bound on the rows
    /// a limited caller makes the server read for nothing.
    pub fn with_time_budgets(
        mut self,
        find: std::time::Duration,
        changes_search: std::time::Duration,
    ) -> Docs {
        self.find_budget = find.min(MAX_TIME_BUDGET);
        self.changes_search = changes_search.min(MAX_TIME_BUDGET);
        self
    }

    /// Each instance's fair share of the CPU for large requests: every
    /// face runs a request with a large body through it.
    pub fn share(&self) -> &Share {
        &self.share
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// One doctype of one instance, seen with the caller's permissions.
    pub fn db<'a>(
        &'a self,
        inst: &'a InstanceId,
        access: &'a Access,
        doctype: &'a str,
    ) -> DocResult<Db<'a>> {
        if !valid_doctype(doctype) || doctype.ends_with(".*") {
            return Err(DocError::IllegalDoctype(format!(
                "Name: '{doctype}'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and . are allowed. Must begin with a letter."
            )));
        }
        Ok(Db {
            docs: self,
            inst,
            access,
            doctype,
        })
    }

    /// `GET /data/_all_doctypes`: the doctypes this caller may read.
    pub async fn all_doctypes(&self, inst: &InstanceId, access: &Access) -> DocResult<Vec<String>> {
        let all = self.store.list_doctypes(inst).await?;
        Ok(all
            .into_iter()
            .filter(|d| access.may_some(d, Verb::Get))
            .collect())
    }
}

/// A doctype seen by one caller.
pub struct Db<'a> {
    pub(crate) docs: &'a Docs,
    pub(crate) inst: &'a InstanceId,
    pub(crate) access: &'a Access,
    pub(crate) doctype: &'a str,
}

impl Db<'_> {
    /// May the caller do `verb` on the whole doctype?
    pub(crate) fn check_all(&self, verb: Verb) -> DocResult<()> {
        Ok(self.access.check(self.doctype, verb, Target::Doctype)?)
    }

    /// May the caller do `verb` on at least some documents?
    pub(crate) fn check_some(&self, verb: Verb) -> DocResult<()> {
        if self.access.may_some(self.doctype, verb) {
            Ok(())
        } else {
            Err(nuage_core::Denied {
                doctype: self.doctype.to_owned(),
                verb: verb.as_str(),
            }
            .into())
        }
    }

    /// May the caller do `verb` on this document?
    pub(crate) fn check_doc(
        &self,
        verb: Verb,
        id: &str,
        body: Option<&serde_json::Value>,
    ) -> DocResult<()> {
        Ok(self
            .access
            .check(self.doctype, verb, Target::Doc { id, body })?)
    }

    /// Refuses `verb` on document `id` when the verbs or the id alone
    /// already refuse it: before anything is read, so that the refusal
    /// never depends on whether the document exists.
    pub(crate) fn check_before_lookup(&self, verb: Verb, id: &str) -> DocResult<()> {
        self.check_some(verb)?;
        if self.access.refused_by_id(self.doctype, verb, id) {
            return Err(nuage_core::Denied {
                doctype: self.doctype.to_owned(),
                verb: verb.as_str(),
            }
            .into());
        }
        Ok(())
    }

    /// Is this document (judged by `body`, its winner's or one revision's)
    /// outside what the caller may see? True when it may neither read it
    /// nor do `verb` on it. Such a document answers exactly as one never
    /// written would: a limited permission never learns whether a document
    /// outside it exists.
    pub(crate) fn hides(
        &self,
        verb: Verb,
        id: &str,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        if self.sees_all(Verb::Get) {
            return false;
        }
        let body = serde_json::Value::Object(body.clone());
        self.check_doc(Verb::Get, id, Some(&body)).is_err()
            && (verb == Verb::Get || self.check_doc(verb, id, Some(&body)).is_err())
    }

    /// [`Db::hides`] for a document as the `docs` table holds it: a deleted
    /// one is judged by the revision its deletion removed
    /// (`DocHead::judged_body`), so a reader limited by a selector learns
    /// of the deletion of a document it could read, and of no other.
    pub(crate) fn hides_head(&self, verb: Verb, head: &nuage_store::DocHead) -> bool {
        !self.sees_all(Verb::Get)
            && self.hides(verb, &head.id, &render::parse_body(head.judged_body()))
    }

    /// May the caller read every document of the doctype (no filtering)?
    pub fn reads_everything(&self) -> bool {
        self.sees_all(Verb::Get)
    }

    /// True when the caller sees every document: no per-document filtering.
    pub(crate) fn sees_all(&self, verb: Verb) -> bool {
        self.access
            .check(self.doctype, verb, Target::Doctype)
            .is_ok()
    }
}
