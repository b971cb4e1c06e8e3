//! A whole `_find` over documents held in memory: the reference the SQL
//! implementation must agree with, and what the golden fixture runs.
//!
//! The pipeline is CouchDB's: choose the index ([`choose_index`]); scan its
//! rows — documents that have all its fields (and pass its partial filter),
//! never design documents — in key order then raw `_id` order, reversed for a
//! descending sort; resume after the bookmark; keep rows the selector
//! matches; skip, limit, project. Rows with equal keys keep `_id` order, so
//! the result is fully determined by the documents and the indexes.

use std::cmp::Ordering;

use serde_json::Value;

use crate::MangoError;
use crate::bookmark::{Bookmark, NIL, compare_keys};
use crate::fields::project;
use crate::index::IndexDefinition;
use crate::plan::{IndexChoice, choose_index};
use crate::request::FindRequest;
use crate::sort::Direction;

/// What `_find` answers, minus `execution_stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct FindResult {
    pub docs: Vec<Value>,
    pub bookmark: String,
    pub warning: Option<String>,
}

struct Row<'a> {
    key: Vec<Value>,
    id: &'a str,
    doc: &'a Value,
}

/// Runs `request` over `docs` as a database with these json `indexes` would.
pub fn find_in_memory(
    docs: &[Value],
    indexes: &[IndexDefinition],
    request: &FindRequest,
) -> Result<FindResult, MangoError> {
    let plan = choose_index(indexes, request)?;
    let key_fields = plan.key_fields();
    let partial = match plan.index {
        IndexChoice::Json(index) => index.partial_filter_selector.as_ref(),
        IndexChoice::AllDocs => None,
    };

    let mut rows: Vec<Row<'_>> = docs
        .iter()
        .filter_map(|doc| {
            let id = doc.get("_id")?.as_str()?;
            if id.starts_with("_design/") || partial.is_some_and(|p| !p.matches(doc)) {
                return None;
            }
            let key = key_fields
                .iter()
                .map(|f| f.get(doc).cloned())
                .collect::<Option<Vec<_>>>()?;
            Some(Row { key, id, doc })
        })
        .collect();
    let ascending = |a: &Row<'_>, b: &Row<'_>| {
        compare_keys(&a.key, &b.key).then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
    };
    rows.sort_by(|a, b| plan.direction.apply(ascending(a, b)));

    let after = |row: &Row<'_>| match &request.bookmark {
        None => true,
        Some(mark) => {
            let position = mark.compare_row(&row.key, row.id);
            match plan.direction {
                Direction::Asc => position == Ordering::Greater,
                Direction::Desc => position == Ordering::Less,
            }
        }
    };
    let page: Vec<Row<'_>> = rows
        .into_iter()
        .filter(|row| after(row) && request.selector.matches(row.doc))
        .skip(usize::try_from(request.skip).unwrap_or(usize::MAX))
        .take(usize::try_from(request.limit).unwrap_or(usize::MAX))
        .collect();

    let bookmark = match (page.last(), &request.bookmark) {
        (Some(last), _) => Bookmark {
            key: last.key.clone(),
            id: last.id.to_owned(),
        }
        .encode(),
        (None, Some(given)) => given.encode(),
        (None, None) => NIL.to_owned(),
    };
    let docs = page
        .into_iter()
        .map(|row| match &request.fields {
            Some(fields) => project(row.doc, fields),
            None => row.doc.clone(),
        })
        .collect();
    Ok(FindResult {
        docs,
        bookmark,
        warning: plan.warning,
    })
}
