//! The `POST /{db}/_find` body (docs.couchdb.org, "/{db}/_find").
//!
//! Members are checked in CouchDB's order — `selector` first, unknown keys
//! last — so that a body with several mistakes gets the same error as from
//! CouchDB. Accepted: everything the 3.x docs list (`selector`, `limit`,
//! `skip`, `sort`, `fields`, `use_index`, `allow_fallback`, `conflicts`, `r`,
//! `bookmark`, `update`, `stable`, the deprecated `stale`,
//! `execution_stats`) and `partition`, which CouchDB also takes in the body.
//! Numbers must be JSON integers: `25.0` is refused, as CouchDB refuses it.

use serde_json::{Map, Value};

use crate::MangoError;
use crate::bookmark::Bookmark;
use crate::error::json;
use crate::fields::parse_fields;
use crate::path::FieldPath;
use crate::selector::{Selector, parse_selector};
use crate::sort::{SortField, parse_sort};

/// CouchDB's default page size.
pub const DEFAULT_LIMIT: u64 = 25;

#[derive(Debug, Clone, PartialEq)]
pub struct FindRequest {
    pub selector: Selector,
    pub limit: u64,
    pub skip: u64,
    /// Empty for no sort.
    pub sort: Vec<SortField>,
    /// `None` returns whole documents.
    pub fields: Option<Vec<FieldPath>>,
    pub bookmark: Option<Bookmark>,
    pub use_index: Option<UseIndex>,
    /// May the query fall back to another index (ultimately `_all_docs`)
    /// than the one asked for, or than a json index? Default true.
    pub allow_fallback: bool,
    pub conflicts: bool,
    pub r: u64,
    /// `false` when `update: false` or `stale: "ok"`.
    pub update: bool,
    /// `true` when `stable: true` or `stale: "ok"`.
    pub stable: bool,
    pub execution_stats: bool,
    pub partition: Option<String>,
}

/// The index a query asks for: a design document, and maybe a name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseIndex {
    /// Always with its `_design/` prefix.
    pub ddoc: String,
    pub name: Option<String>,
}

/// One member of the body: taken out as it is checked, so what remains at
/// the end is unknown.
struct Body(Map<String, Value>);

impl Body {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }
}

impl FindRequest {
    pub fn parse(body: &Value) -> Result<FindRequest, MangoError> {
        let Value::Object(members) = body else {
            return Err(MangoError::BodyNotObject);
        };
        let mut body = Body(members.clone());
        let selector = match body.take("selector") {
            Some(v) => parse_selector(&v)?,
            None => return Err(MangoError::MissingRequiredKey("selector".into())),
        };
        let use_index = match body.take("use_index") {
            Some(v) => parse_use_index(&v)?,
            None => None,
        };
        let bookmark = match body.take("bookmark") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Bookmark::decode(&text)?,
            Some(other) => return Err(MangoError::InvalidBookmark(json(&other))),
        };
        let limit = optional(&mut body, "limit", non_neg_integer)?.unwrap_or(DEFAULT_LIMIT);
        let skip = optional(&mut body, "skip", non_neg_integer)?.unwrap_or(0);
        let sort = optional(&mut body, "sort", parse_sort)?.unwrap_or_default();
        let fields = optional(&mut body, "fields", parse_fields)?.flatten();
        let partition = optional(&mut body, "partition", string)?.filter(|p| !p.is_empty());
        let r = optional(&mut body, "r", pos_integer)?.unwrap_or(1);
        let conflicts = optional(&mut body, "conflicts", boolean)?.unwrap_or(false);
        let stale_ok = optional(&mut body, "stale", stale)?.unwrap_or(false);
        let update = optional(&mut body, "update", boolean)?.unwrap_or(true) && !stale_ok;
        let stable = optional(&mut body, "stable", boolean)?.unwrap_or(false) || stale_ok;
        let execution_stats = optional(&mut body, "execution_stats", boolean)?.unwrap_or(false);
        let allow_fallback = optional(&mut body, "allow_fallback", boolean)?.unwrap_or(true);
        if let Some(unknown) = body.0.keys().next() {
            return Err(MangoError::InvalidKey(unknown.clone()));
        }
        Ok(FindRequest {
            selector,
            limit,
            skip,
            sort,
            fields,
            bookmark,
            use_index,
            allow_fallback,
            conflicts,
            r,
            update,
            stable,
            execution_stats,
            partition,
        })
    }
}

fn optional<T>(
    body: &mut Body,
    key: &str,
    check: fn(&Value) -> Result<T, MangoError>,
) -> Result<Option<T>, MangoError> {
    body.take(key).map(|v| check(&v)).transpose()
}

pub(crate) fn non_neg_integer(v: &Value) -> Result<u64, MangoError> {
    v.as_u64()
        .ok_or_else(|| MangoError::NotNonNegInteger(json(v)))
}

pub(crate) fn pos_integer(v: &Value) -> Result<u64, MangoError> {
    v.as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| MangoError::NotPosInteger(json(v)))
}

pub(crate) fn boolean(v: &Value) -> Result<bool, MangoError> {
    v.as_bool().ok_or_else(|| MangoError::NotBoolean(json(v)))
}

pub(crate) fn string(v: &Value) -> Result<String, MangoError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| MangoError::NotString(json(v)))
}

/// `stale`: `"ok"` (true), or `false`/`"false"` (false).
fn stale(v: &Value) -> Result<bool, MangoError> {
    match v {
        Value::String(s) if s == "ok" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::Bool(false) => Ok(false),
        _ => Err(MangoError::InvalidValue {
            name: "stale",
            value: json(v),
        }),
    }
}

/// `"ddoc"`, `"ddoc/name"`, `"_design/ddoc[/name]"`, `["ddoc"]` or
/// `["ddoc", "name"]`; `null` and `[]` ask for nothing.
fn parse_use_index(v: &Value) -> Result<Option<UseIndex>, MangoError> {
    let invalid = || MangoError::InvalidIndexName(json(v));
    let (ddoc, name) = match v {
        Value::Null => return Ok(None),
        Value::String(s) => {
            let bare = s.strip_prefix("_design/").unwrap_or(s);
            match bare.split_once('/') {
                Some((ddoc, name)) => (ddoc.to_owned(), Some(name.to_owned())),
                None => (bare.to_owned(), None),
            }
        }
        Value::Array(parts) => match parts.as_slice() {
            [] => return Ok(None),
            [Value::String(ddoc)] => (ddoc.clone(), None),
            [Value::String(ddoc), Value::String(name)] => (ddoc.clone(), Some(name.clone())),
            _ => return Err(invalid()),
        },
        _ => return Err(invalid()),
    };
    let bare = ddoc.strip_prefix("_design/").unwrap_or(&ddoc);
    if bare.is_empty() || name.as_deref() == Some("") {
        return Err(invalid());
    }
    Ok(Some(UseIndex {
        ddoc: format!("_design/{bare}"),
        name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<FindRequest, MangoError> {
        FindRequest::parse(&v)
    }

    #[test]
    fn defaults_follow_couchdb() {
        let r = parse(json!({"selector": {}})).unwrap();
        assert_eq!((r.limit, r.skip, r.r), (25, 0, 1));
        assert!(r.sort.is_empty() && r.fields.is_none() && r.bookmark.is_none());
        assert!(r.update && !r.stable && !r.conflicts && !r.execution_stats && r.allow_fallback);
        assert_eq!(r.selector, Selector::match_all());
    }

    #[test]
    fn stale_ok_means_no_update_and_stable() {
        let r = parse(json!({"selector": {}, "stale": "ok"})).unwrap();
        assert!(!r.update && r.stable);
        assert_eq!(
            parse(json!({"selector": {}, "stale": 1}))
                .unwrap_err()
                .error(),
            "invalid_value"
        );
    }

    #[test]
    fn use_index_takes_every_documented_spelling() {
        let want = |ddoc: &str, name: Option<&str>| {
            Some(UseIndex {
                ddoc: ddoc.into(),
                name: name.map(Into::into),
            })
        };
        for (v, expected) in [
            (json!("by-year"), want("_design/by-year", None)),
            (json!("_design/by-year"), want("_design/by-year", None)),
            (
                json!("by-year/year-name"),
                want("_design/by-year", Some("year-name")),
            ),
            (
                json!("_design/by-year/year-name"),
                want("_design/by-year", Some("year-name")),
            ),
            (json!(["by-year"]), want("_design/by-year", None)),
            (
                json!(["_design/by-year", "year-name"]),
                want("_design/by-year", Some("year-name")),
            ),
            (json!([]), None),
            (json!(null), None),
        ] {
            let r = parse(json!({"selector": {}, "use_index": v})).unwrap();
            assert_eq!(r.use_index, expected, "{v}");
        }
        for bad in [json!(5), json!([1]), json!(["a", "b", "c"]), json!("")] {
            let err = parse(json!({"selector": {}, "use_index": bad})).unwrap_err();
            assert_eq!(err.error(), "invalid_index_name");
        }
    }

    #[test]
    fn the_selector_is_checked_before_anything_else() {
        let err = parse(json!({"limit": -1, "foo": 1})).unwrap_err();
        assert_eq!(err.error(), "missing_required_key");
        assert_eq!(err.reason(), "Missing required key: selector");
        let err = parse(json!({"selector": {}, "limit": -1, "foo": 1})).unwrap_err();
        assert_eq!(err.error(), "invalid_non_neg_integer");
        let err = parse(json!({"selector": {}, "foo": 1})).unwrap_err();
        assert_eq!(
            (err.error(), err.reason().as_str()),
            ("invalid_key", "Invalid key foo for this request.")
        );
    }

    #[test]
    fn wrong_types_get_couchdb_errors() {
        for (body, error) in [
            (json!([]), "bad_request"),
            (json!({"selector": []}), "invalid_selector_json"),
            (
                json!({"selector": {}, "limit": "10"}),
                "invalid_non_neg_integer",
            ),
            (
                json!({"selector": {}, "limit": 25.0}),
                "invalid_non_neg_integer",
            ),
            (
                json!({"selector": {}, "skip": -2}),
                "invalid_non_neg_integer",
            ),
            (json!({"selector": {}, "r": 0}), "invalid_pos_integer"),
            (
                json!({"selector": {}, "conflicts": "true"}),
                "invalid_boolean",
            ),
            (json!({"selector": {}, "update": null}), "invalid_boolean"),
            (json!({"selector": {}, "bookmark": 3}), "invalid_bookmark"),
            (
                json!({"selector": {}, "bookmark": "not-a-bookmark"}),
                "invalid_bookmark",
            ),
            (json!({"selector": {}, "partition": 3}), "invalid_string"),
            (
                json!({"selector": {}, "sort": {"a": "asc"}}),
                "invalid_sort_json",
            ),
            (json!({"selector": {}, "fields": "a"}), "invalid_fields"),
        ] {
            assert_eq!(parse(body.clone()).unwrap_err().error(), error, "{body}");
        }
    }
}
