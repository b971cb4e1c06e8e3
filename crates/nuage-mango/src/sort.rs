//! The `sort` member of a `_find` body and the `fields` of an index
//! definition, which share a syntax (docs.couchdb.org, "Sort Syntax"), and
//! sorting documents by it.
//!
//! A sort is a list of `"field"` or `{"field": "asc" | "desc"}`; every field
//! must go the same way (`unsupported_mixed_sort`). CouchDB only sorts through
//! an index, so a document lacking a sort field is never returned by a sorted
//! `_find` (see [`crate::find_in_memory`]); [`sort_docs`] itself puts such
//! documents first. Ties break on `_id` in raw order, in the sort's
//! direction, as rows of a view read forwards or backwards do.

use std::cmp::Ordering;

use serde_json::Value;

use crate::MangoError;
use crate::collate::{collate, collate_raw};
use crate::error::json;
use crate::path::{FieldPath, Lookup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }

    /// Apply this direction to an ascending comparison.
    pub fn apply(self, ascending: Ordering) -> Ordering {
        match self {
            Direction::Asc => ascending,
            Direction::Desc => ascending.reverse(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortField {
    pub path: FieldPath,
    pub direction: Direction,
}

/// Parses a sort (or an index's `fields`). `[]` is no sort.
pub fn parse_sort(value: &Value) -> Result<Vec<SortField>, MangoError> {
    let Value::Array(specs) = value else {
        return Err(MangoError::SortNotArray(json(value)));
    };
    let fields = specs
        .iter()
        .map(sort_field)
        .collect::<Result<Vec<_>, _>>()?;
    if fields.windows(2).any(|w| w[0].direction != w[1].direction) {
        return Err(MangoError::MixedSort);
    }
    Ok(fields)
}

fn sort_field(spec: &Value) -> Result<SortField, MangoError> {
    let (name, direction) = match spec {
        Value::String(name) => (name, Direction::Asc),
        // An object must have exactly one member; CouchDB refuses others with
        // `invalid_sort_field` too.
        Value::Object(members) if members.len() == 1 => match members.iter().next() {
            Some((name, Value::String(dir))) if dir == "asc" => (name, Direction::Asc),
            Some((name, Value::String(dir))) if dir == "desc" => (name, Direction::Desc),
            _ => return Err(MangoError::InvalidSortField(json(spec))),
        },
        _ => return Err(MangoError::InvalidSortField(json(spec))),
    };
    if name.is_empty() {
        return Err(MangoError::InvalidSortField(json(spec)));
    }
    Ok(SortField {
        path: FieldPath::parse(name),
        direction,
    })
}

/// The direction a sort goes (`Asc` for no sort).
pub fn direction(sort: &[SortField]) -> Direction {
    sort.first().map(|f| f.direction).unwrap_or_default()
}

/// The sort in CouchDB's JSON form: `[{"field": "asc"}, …]`.
pub fn sort_to_json(sort: &[SortField]) -> Value {
    Value::Array(
        sort.iter()
            .map(|f| {
                let mut member = serde_json::Map::new();
                member.insert(f.path.to_string(), Value::from(f.direction.as_str()));
                Value::Object(member)
            })
            .collect(),
    )
}

/// Sorts documents by `sort` in view collation, missing fields first, then by
/// `_id` in raw order; every step in the sort's direction.
pub fn sort_docs(docs: &mut [Value], sort: &[SortField]) {
    let dir = direction(sort);
    docs.sort_by(|a, b| {
        sort.iter()
            .map(|f| {
                f.direction
                    .apply(compare_present(f.path.lookup(a), f.path.lookup(b)))
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or_else(|| dir.apply(compare_ids(a, b)))
    });
}

fn compare_present(a: Lookup<'_>, b: Lookup<'_>) -> Ordering {
    match (a, b) {
        (Lookup::Found(x), Lookup::Found(y)) => collate(x, y),
        (Lookup::Found(_), _) => Ordering::Greater,
        (_, Lookup::Found(_)) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

/// `_id`s in raw order, as `_all_docs` and view rows with equal keys are.
pub(crate) fn compare_ids(a: &Value, b: &Value) -> Ordering {
    let id = |d: &Value| d.get("_id").cloned().unwrap_or(Value::Null);
    collate_raw(&id(a), &id(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_single_member_objects_are_sort_fields() {
        let sort = parse_sort(&json!(["a", {"b.c": "asc"}])).unwrap();
        assert_eq!(sort.len(), 2);
        assert_eq!(sort[1].path.segments(), ["b", "c"]);
        assert_eq!(sort_to_json(&sort), json!([{"a": "asc"}, {"b.c": "asc"}]));
        assert_eq!(
            direction(&parse_sort(&json!([{"a": "desc"}])).unwrap()),
            Direction::Desc
        );
    }

    #[test]
    fn malformed_sorts_use_couchdb_errors() {
        for (bad, error) in [
            (json!("year"), "invalid_sort_json"),
            (json!({"year": "asc"}), "invalid_sort_json"),
            (json!([""]), "invalid_sort_field"),
            (json!([1]), "invalid_sort_field"),
            (json!([{"a": "up"}]), "invalid_sort_field"),
            (json!([{"a": "asc", "b": "asc"}]), "invalid_sort_field"),
            (
                json!([{"a": "asc"}, {"b": "desc"}]),
                "unsupported_mixed_sort",
            ),
        ] {
            assert_eq!(parse_sort(&bad).unwrap_err().error(), error, "{bad}");
        }
    }

    #[test]
    fn sorting_puts_missing_first_and_breaks_ties_on_id() {
        let mut docs = vec![
            json!({"_id": "c", "n": 1}),
            json!({"_id": "a", "n": 2}),
            json!({"_id": "b"}),
            json!({"_id": "d", "n": 1}),
        ];
        sort_docs(&mut docs, &parse_sort(&json!(["n"])).unwrap());
        let ids: Vec<&str> = docs.iter().map(|d| d["_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["b", "c", "d", "a"]);
        sort_docs(&mut docs, &parse_sort(&json!([{"n": "desc"}])).unwrap());
        let ids: Vec<&str> = docs.iter().map(|d| d["_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["a", "d", "c", "b"]);
    }
}
