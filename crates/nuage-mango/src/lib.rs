//! CouchDB Mango for nuage's document store: selectors, the `_find` and
//! `_index` bodies, view collation, index choice, projection and bookmarks.
//!
//! Everything here is pure — no I/O, no clock, no storage — so each rule is
//! tested on its own and the store can compile the same [`Selector`] AST to
//! SQL. The semantics are CouchDB 3.x's as documented at docs.couchdb.org
//! ("/{db}/_find", "Selector Syntax", "Views Collation"), including the
//! surprising parts, because clients written against CouchDB rely on them:
//! a condition on a missing field fails (even `$ne`), comparisons collate
//! across JSON types, and a sorted query needs an index and only returns
//! documents that have the sort fields. [`find_in_memory`] is the reference
//! pipeline; `tests/data/fixture.json` pins its answers, which must also be
//! what CouchDB answers.
//!
//! Errors are one type, [`MangoError`], whose `error()`/`reason()`/`status()`
//! are CouchDB's `{"error", "reason"}` body and status.

mod bookmark;
mod collate;
mod ddoc;
mod error;
mod fields;
mod index;
mod keys;
mod memory;
mod path;
mod plan;
mod ranges;
mod request;
mod selector;
mod sort;

pub use bookmark::{Bookmark, NIL as NO_BOOKMARK};
pub use collate::{collate, collate_raw, collate_strings};
pub use ddoc::query_indexes;
pub use error::MangoError;
pub use fields::{parse_fields, project};
pub use index::{
    IndexDefinition, MAX_FIELD_SEGMENTS, MAX_INDEX_FIELDS, MAX_INDEX_NAME_BYTES,
    all_docs_index_json,
};
pub use keys::{encode_key, encode_value};
pub use memory::{FindResult, find_in_memory};
pub use path::{FieldPath, Lookup};
pub use plan::{IndexChoice, NO_INDEX_WARNING, QueryPlan, choose_index};
pub use ranges::{KeyRange, index_ranges};
pub use request::{DEFAULT_LIMIT, FindRequest, UseIndex};
pub use selector::{
    Condition, MAX_REGEX_BYTES, MAX_REGEX_CACHE_BYTES, MAX_SELECTOR_NODES, MAX_SELECTOR_REGEXES,
    Pattern, Selector, json_type, parse_selector,
};
pub use sort::{Direction, SortField, direction, parse_sort, sort_docs, sort_to_json};
