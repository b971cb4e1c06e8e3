//! Documents with CouchDB semantics: revision trees, winners, the changes
//! feed, local documents. The rules of the tree live in
//! `nuage_core::revs`; this module loads, applies and saves them in one
//! transaction per batch.
//!
//! Must stay true: a failed write leaves no trace — no revision, no
//! sequence number, no event; an event is published only after its commit.

mod builder;
mod changes;
mod doctypes;
pub(crate) mod group;
mod indexes;
pub(crate) mod legacy;
mod local;
mod read;
pub(crate) mod removal;
pub(crate) mod usage;
mod write;

pub use builder::IndexBuilder;
pub use changes::ChangeRow;
pub use doctypes::{DoctypeInfo, MAX_DOCTYPES};
pub use group::GroupStats;
pub use indexes::{
    BUILD_STEP_DOCS, EntryRow, IndexBuild, IndexScan, MAX_INDEXES, MAX_STORED_KEY_BYTES, stored_key,
};
pub use local::{LocalDoc, LocalKey};
pub use read::{AllDocsQuery, DocHead, RevRow};
pub use usage::Usage;
pub use write::{DocWrite, WRITES_PER_TRANSACTION, WriteOutcome};

use nuage_core::revs::{Rev, RevNode};
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) fn rev_node_from_row(r: &AnyRow) -> Result<RevNode, sqlx::Error> {
    let rev: String = r.try_get("rev")?;
    let parent: Option<String> = r.try_get("parent")?;
    let bad =
        |what: &str| sqlx::Error::Decode(format!("stored revision `{what}` is malformed").into());
    Ok(RevNode {
        rev: Rev::parse(&rev).ok_or_else(|| bad(&rev))?,
        parent: match parent {
            Some(p) => Some(Rev::parse(&p).ok_or_else(|| bad(&p))?),
            None => None,
        },
        deleted: r.try_get::<i64, _>("deleted")? != 0,
    })
}

/// `$3, $4, …` for `n` values bound after `first - 1` others.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `doc_id IN (…) AND (doc_id, rev) IN ((…), …)` for `pairs`, with
/// placeholders from `$first`, and the values to bind in order. The first
/// condition is redundant for the answer but lets SQLite's planner use the
/// primary key (it scans the doctype for a row-value IN alone).
pub(crate) fn pairs_condition(
    first: usize,
    pairs: &[(String, nuage_core::revs::Rev)],
) -> (String, Vec<String>) {
    let mut ids: Vec<&str> = pairs.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut binds: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let id_list = placeholders(first, ids.len());
    let start = first + ids.len();
    let pair_list = (0..pairs.len())
        .map(|i| format!("(${}, ${})", start + 2 * i, start + 2 * i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    for (id, rev) in pairs {
        binds.push(id.clone());
        binds.push(rev.to_string());
    }
    (
        format!("doc_id IN ({id_list}) AND (doc_id, rev) IN ({pair_list})"),
        binds,
    )
}
