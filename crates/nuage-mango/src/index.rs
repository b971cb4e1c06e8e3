//! The `POST /{db}/_index` body and the index definitions it creates
//! (docs.couchdb.org, "/{db}/_index").
//!
//! Only `"type": "json"` indexes exist here. `"text"` and `"nouveau"` need a
//! full-text service and are refused with CouchDB's own answer when that
//! service is absent (503, `required index service unavailable`); any other
//! type is `invalid_index`. Defaults follow CouchDB: type `json`, and when
//! `ddoc` or `name` is missing a name derived from the definition, so that
//! posting the same definition twice names the same index. Ours is the hex
//! SHA-1 of the definition's JSON (CouchDB hashes an Erlang term, so the names
//! differ from CouchDB's, which no client can rely on anyway). A `ddoc`
//! without its `_design/` prefix gets one. `fields` must be non-empty: an
//! index on nothing would serve every query and help none.

use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use crate::MangoError;
use crate::error::json as to_json;
use crate::request::{pos_integer, string};
use crate::selector::{Selector, parse_selector};
use crate::sort::{SortField, parse_sort, sort_to_json};

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDefinition {
    /// The design document holding the index, with its `_design/` prefix.
    pub ddoc: String,
    pub name: String,
    /// Indexed fields in key order; all in one direction.
    pub fields: Vec<SortField>,
    /// Documents not matching this are left out of the index; such an index
    /// is only used when a query names it in `use_index`.
    pub partial_filter_selector: Option<Selector>,
    /// The partial filter as posted, for listing.
    pub partial_filter_json: Option<Value>,
    /// `None`: the database's default.
    pub partitioned: Option<bool>,
}

impl IndexDefinition {
    pub fn parse(body: &Value) -> Result<IndexDefinition, MangoError> {
        let Value::Object(members) = body else {
            return Err(MangoError::BodyNotObject);
        };
        let mut rest = members.clone();
        // CouchDB's order: index, type, name, ddoc, w, partitioned.
        let Some(def) = rest.remove("index") else {
            return Err(MangoError::MissingRequiredKey("index".into()));
        };
        let kind = rest.remove("type").map(|v| string(&v)).transpose()?;
        let name = rest.remove("name").map(|v| index_name(&v)).transpose()?;
        let ddoc = rest.remove("ddoc").map(|v| index_name(&v)).transpose()?;
        rest.remove("w").map(|v| pos_integer(&v)).transpose()?;
        let partitioned = rest
            .remove("partitioned")
            .map(|v| match v {
                Value::Bool(b) => Ok(b),
                other => Err(MangoError::InvalidValue {
                    name: "partitioned",
                    value: to_json(&other),
                }),
            })
            .transpose()?;
        if let Some(unknown) = rest.keys().next() {
            return Err(MangoError::InvalidKey(unknown.clone()));
        }
        match kind.as_deref().unwrap_or("json") {
            "json" => {}
            "text" | "nouveau" => {
                return Err(MangoError::IndexServiceUnavailable(
                    kind.unwrap_or_default(),
                ));
            }
            other => return Err(MangoError::InvalidIndexType(other.to_owned())),
        }

        let (fields, partial) = parse_def(&def)?;
        let partial_filter_selector = partial.as_ref().map(parse_selector).transpose()?;
        let mut index = IndexDefinition {
            ddoc: String::new(),
            name: String::new(),
            fields,
            partial_filter_selector,
            partial_filter_json: partial,
            partitioned,
        };
        let auto = index.auto_name();
        index.name = name.unwrap_or_else(|| auto.clone());
        let ddoc = ddoc.unwrap_or(auto);
        index.ddoc = if ddoc.starts_with("_design/") {
            ddoc
        } else {
            format!("_design/{ddoc}")
        };
        Ok(index)
    }

    pub fn is_partial(&self) -> bool {
        self.partial_filter_selector.is_some()
    }

    /// `def` as `GET /{db}/_index` shows it.
    pub fn def_json(&self) -> Value {
        let mut def = Map::new();
        def.insert("fields".into(), sort_to_json(&self.fields));
        if let Some(partial) = &self.partial_filter_json {
            def.insert("partial_filter_selector".into(), partial.clone());
        }
        Value::Object(def)
    }

    /// This index as an entry of `GET /{db}/_index`.
    pub fn to_json(&self) -> Value {
        json!({
            "ddoc": self.ddoc,
            "name": self.name,
            "type": "json",
            "partitioned": self.partitioned.unwrap_or(false),
            "def": self.def_json(),
        })
    }

    fn auto_name(&self) -> String {
        let digest = Sha1::digest(self.def_json().to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The special `_all_docs` index as `GET /{db}/_index` lists it first.
pub fn all_docs_index_json() -> Value {
    json!({
        "ddoc": null,
        "name": "_all_docs",
        "type": "special",
        "def": {"fields": [{"_id": "asc"}]},
    })
}

/// The most fields of one index: every write of the doctype computes a
/// key of this many values per document, and every query compares them.
pub const MAX_INDEX_FIELDS: usize = 64;
/// The most segments of one indexed field path (`a.b.c` has three).
pub const MAX_FIELD_SEGMENTS: usize = 32;
/// The longest index or design document name, in bytes.
pub const MAX_INDEX_NAME_BYTES: usize = 256;

fn index_name(v: &Value) -> Result<String, MangoError> {
    let name = string(v)?;
    if name.is_empty() || name == "_design/" {
        return Err(MangoError::InvalidIndexName(to_json(v)));
    }
    if name.len() > MAX_INDEX_NAME_BYTES {
        return Err(MangoError::IndexTooLarge(format!(
            "index and design document names have at most {MAX_INDEX_NAME_BYTES} bytes"
        )));
    }
    Ok(name)
}

/// The `index` member of a json index: `fields` and an optional
/// `partial_filter_selector` (an empty one is none).
fn parse_def(def: &Value) -> Result<(Vec<SortField>, Option<Value>), MangoError> {
    let Value::Object(members) = def else {
        return Err(MangoError::IndexNotObject(to_json(def)));
    };
    let mut rest = members.clone();
    let Some(fields) = rest.remove("fields") else {
        return Err(MangoError::MissingRequiredKey("fields".into()));
    };
    // Counted before each field is parsed into a path.
    if fields
        .as_array()
        .is_some_and(|f| f.len() > MAX_INDEX_FIELDS)
    {
        return Err(MangoError::IndexTooLarge(format!(
            "an index has at most {MAX_INDEX_FIELDS} fields"
        )));
    }
    let fields = parse_sort(&fields)?;
    if fields.is_empty() {
        return Err(MangoError::EmptyIndexFields);
    }
    if fields
        .iter()
        .any(|f| f.path.segments().len() > MAX_FIELD_SEGMENTS)
    {
        return Err(MangoError::IndexTooLarge(format!(
            "an indexed field path has at most {MAX_FIELD_SEGMENTS} segments"
        )));
    }
    let partial = rest
        .remove("partial_filter_selector")
        .filter(|p| p.as_object().is_none_or(|m| !m.is_empty()));
    if let Some(unknown) = rest.keys().next() {
        return Err(MangoError::InvalidKey(unknown.clone()));
    }
    Ok((fields, partial))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<IndexDefinition, MangoError> {
        IndexDefinition::parse(&v)
    }

    #[test]
    fn indexes_are_bounded_in_fields_depth_and_name() {
        let fields: Vec<String> = (0..=MAX_INDEX_FIELDS).map(|i| format!("f{i}")).collect();
        let err = parse(json!({"index": {"fields": fields}})).unwrap_err();
        assert!(err.reason().contains("at most 64 fields"), "{err}");
        assert_eq!((err.error(), err.status()), ("invalid_index", 400));
        let fields: Vec<String> = (0..MAX_INDEX_FIELDS).map(|i| format!("f{i}")).collect();
        assert!(parse(json!({"index": {"fields": fields}})).is_ok());

        let deep = vec!["a"; MAX_FIELD_SEGMENTS + 1].join(".");
        let err = parse(json!({"index": {"fields": [deep]}})).unwrap_err();
        assert!(err.reason().contains("32 segments"), "{err}");
        assert!(parse(json!({"index": {"fields": [vec!["a"; 32].join(".")]}})).is_ok());

        let long = "n".repeat(MAX_INDEX_NAME_BYTES + 1);
        for body in [
            json!({"index": {"fields": ["a"]}, "name": long}),
            json!({"index": {"fields": ["a"]}, "ddoc": long}),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.reason().contains("256 bytes"), "{err}");
        }
    }

    #[test]
    fn defaults_give_a_stable_derived_name_and_ddoc() {
        let a = parse(json!({"index": {"fields": ["foo"]}})).unwrap();
        let b = parse(json!({"index": {"fields": [{"foo": "asc"}]}, "type": "json"})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.name.len(), 40);
        assert_eq!(a.ddoc, format!("_design/{}", a.name));
        assert_eq!(a.partitioned, None);
        assert_eq!(a.to_json()["def"], json!({"fields": [{"foo": "asc"}]}));
    }

    #[test]
    fn given_names_are_kept_and_ddoc_gets_its_prefix() {
        let i = parse(json!({"index": {"fields": ["foo", "bar"]}, "ddoc": "example-ddoc", "name": "example-index", "partitioned": false})).unwrap();
        assert_eq!(
            (i.ddoc.as_str(), i.name.as_str()),
            ("_design/example-ddoc", "example-index")
        );
        assert_eq!(i.partitioned, Some(false));
        let i = parse(json!({"index": {"fields": ["foo"]}, "ddoc": "_design/d"})).unwrap();
        assert_eq!(i.ddoc, "_design/d");
    }

    #[test]
    fn a_partial_filter_is_a_selector() {
        let i = parse(json!({"index": {"fields": ["type"], "partial_filter_selector": {"status": {"$ne": "archived"}}}})).unwrap();
        assert!(i.is_partial());
        assert!(
            i.partial_filter_selector
                .unwrap()
                .matches(&json!({"status": "live"}))
        );
        let err = parse(
            json!({"index": {"fields": ["t"], "partial_filter_selector": {"a": {"$bad": 1}}}}),
        )
        .unwrap_err();
        assert_eq!(err.error(), "invalid_operator");
    }

    #[test]
    fn text_indexes_are_refused_plainly() {
        let err =
            parse(json!({"index": {"fields": [{"name": "a", "type": "string"}]}, "type": "text"}))
                .unwrap_err();
        assert_eq!(err.status(), 503);
        assert_eq!(err.error(), "required index service unavailable");
        assert!(err.reason().contains("json"), "{}", err.reason());
    }

    #[test]
    fn bad_definitions_get_couchdb_errors() {
        // The bad fields, types, names and ddocs of CouchDB's own index tests.
        for fields in [
            json!(null),
            json!(true),
            json!("bing"),
            json!(2.0),
            json!({"foo": "bar"}),
            json!([{"foo": 2}]),
            json!([{"foo": "asc", "bar": "desc"}]),
            json!([{"foo": "asc"}, {"bar": "desc"}]),
            json!([""]),
            json!([]),
        ] {
            let err = parse(json!({"index": {"fields": fields}})).unwrap_err();
            assert_eq!(err.status(), 400, "{fields}");
        }
        for kind in [
            json!(null),
            json!(true),
            json!(1.5),
            json!("foo"),
            json!("geo"),
            json!({}),
            json!(["baz"]),
        ] {
            let err = parse(json!({"index": {"fields": ["foo"]}, "type": kind})).unwrap_err();
            assert_eq!(err.status(), 400, "{kind}");
        }
        for name in [
            json!(""),
            json!(true),
            json!(1.5),
            json!({"foo": "bar"}),
            json!([null, false]),
        ] {
            assert_eq!(
                parse(json!({"index": {"fields": ["foo"]}, "name": name}))
                    .unwrap_err()
                    .status(),
                400
            );
            assert_eq!(
                parse(json!({"index": {"fields": ["foo"]}, "ddoc": name}))
                    .unwrap_err()
                    .status(),
                400
            );
        }
        assert_eq!(
            parse(json!({"name": "x"})).unwrap_err().error(),
            "missing_required_key"
        );
        assert_eq!(
            parse(json!({"index": "foo"})).unwrap_err().error(),
            "invalid_index"
        );
        assert_eq!(
            parse(json!({"index": {}})).unwrap_err().error(),
            "missing_required_key"
        );
        assert_eq!(
            parse(json!({"index": {"fields": ["a"], "x": 1}}))
                .unwrap_err()
                .error(),
            "invalid_key"
        );
        assert_eq!(
            parse(json!({"index": {"fields": ["a"]}, "x": 1}))
                .unwrap_err()
                .error(),
            "invalid_key"
        );
    }
}
