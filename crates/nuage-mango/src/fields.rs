//! The `fields` member of a `_find` body and projecting documents through it
//! (docs.couchdb.org, "/{db}/_find" → "Filtering Fields").
//!
//! Only the listed fields come back: there is no automatic `_id` or `_rev`.
//! Each listed path that resolves in the document is copied to the same path
//! in a fresh object, creating objects on the way, so `"director.name"` gives
//! `{"director": {"name": …}}` and `"cast.0.name"` gives
//! `{"cast": {"0": {"name": …}}}` (CouchDB builds objects, not arrays). Paths
//! that do not resolve are left out. An empty list means the whole document.

use serde_json::{Map, Value};

use crate::MangoError;
use crate::error::json;
use crate::path::{FieldPath, array_index};

/// Parses `fields`: `None` for the whole document (`[]`).
pub fn parse_fields(value: &Value) -> Result<Option<Vec<FieldPath>>, MangoError> {
    let Value::Array(items) = value else {
        return Err(MangoError::FieldsNotArray(json(value)));
    };
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(name) => Ok(FieldPath::parse(name)),
            _ => Err(MangoError::InvalidField(json(item))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The document reduced to `fields`, in CouchDB's way.
pub fn project(doc: &Value, fields: &[FieldPath]) -> Value {
    let mut out = Value::Object(Map::new());
    for path in fields {
        if let Some(value) = path.get(doc) {
            set(&mut out, path.segments(), value.clone());
        }
    }
    out
}

fn set(target: &mut Value, segments: &[String], value: Value) {
    let Some((first, rest)) = segments.split_first() else {
        *target = value;
        return;
    };
    match target {
        Value::Object(members) => match members.get_mut(first) {
            Some(existing) if !rest.is_empty() => set(existing, rest, value),
            _ => {
                members.insert(first.clone(), nested(rest, value));
            }
        },
        Value::Array(items) => {
            if let Some(i) = array_index(first, items.len()) {
                set(&mut items[i], rest, value);
            }
        }
        // A scalar already projected at a shorter path stays as it is.
        _ => {}
    }
}

fn nested(segments: &[String], value: Value) -> Value {
    segments.iter().rev().fold(value, |inner, key| {
        let mut members = Map::new();
        members.insert(key.clone(), inner);
        Value::Object(members)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(names: &[&str]) -> Vec<FieldPath> {
        names.iter().map(|n| FieldPath::parse(n)).collect()
    }

    #[test]
    fn only_listed_fields_come_back_without_automatic_id() {
        let doc = json!({"_id": "x", "_rev": "1-a", "title": "Drive", "year": 2011});
        assert_eq!(
            project(&doc, &paths(&["title", "nope"])),
            json!({"title": "Drive"})
        );
    }

    #[test]
    fn nested_paths_build_nested_objects() {
        let doc = json!({"director": {"name": "Lang", "country": "DE"}, "cast": [{"name": "A"}]});
        assert_eq!(
            project(&doc, &paths(&["director.name", "cast.0.name"])),
            json!({"director": {"name": "Lang"}, "cast": {"0": {"name": "A"}}})
        );
        assert_eq!(
            project(&doc, &paths(&["director.name", "director.country"])),
            json!({"director": {"name": "Lang", "country": "DE"}})
        );
        assert_eq!(
            project(&json!({"web.site": "w"}), &paths(&["web\\.site"])),
            json!({"web.site": "w"})
        );
    }

    #[test]
    fn fields_must_be_an_array_of_strings() {
        assert_eq!(parse_fields(&json!([])).unwrap(), None);
        assert_eq!(
            parse_fields(&json!("a")).unwrap_err().error(),
            "invalid_fields"
        );
        assert_eq!(
            parse_fields(&json!(["a", 1])).unwrap_err().error(),
            "invalid_field"
        );
    }
}
