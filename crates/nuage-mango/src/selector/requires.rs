//! What a selector promises about the documents it matches, for choosing an
//! index (docs.couchdb.org, "/{db}/_find" → "Index selection").
//!
//! A json index only holds documents that have all its fields, so it may serve
//! a selector only if every match is guaranteed to have them. The guarantee
//! reads through `$and` (any clause), `$or` (every branch) and field
//! conditions (all but `{"$exists": false}`); it never reads into
//! `$elemMatch` and friends. These functions expect a top-level selector as
//! [`crate::parse_selector`] returns it.

use super::{Condition, Selector};
use crate::path::FieldPath;

/// Fields guaranteed present in every match: `None` means "any field", the
/// neutral answer of an empty `$or` (CouchDB treats it as a no-op).
type Guaranteed = Option<Vec<FieldPath>>;

impl Selector {
    /// Is every one of `fields` guaranteed to exist in any document this
    /// selector matches?
    pub fn requires_fields(&self, fields: &[&FieldPath]) -> bool {
        match self.guaranteed() {
            None => true,
            Some(present) => fields.iter().all(|f| present.contains(f)),
        }
    }

    fn guaranteed(&self) -> Guaranteed {
        match self {
            Selector::And(all) => {
                let mut present = Vec::new();
                for clause in all {
                    match clause.guaranteed() {
                        None => return None,
                        Some(more) => present.extend(more),
                    }
                }
                Some(present)
            }
            Selector::Or(any) => {
                let mut branches = any.iter().filter_map(Selector::guaranteed);
                let first = branches.next()?;
                Some(branches.fold(first, |acc, b| {
                    acc.into_iter().filter(|f| b.contains(f)).collect()
                }))
            }
            Selector::Not(_) => Some(Vec::new()),
            Selector::Field {
                condition: Condition::Exists(false),
                ..
            } => Some(Vec::new()),
            Selector::Field { path, .. } => Some(vec![path.clone()]),
        }
    }

    /// Is `field` pinned to one value by an `$eq` reachable through `$and`?
    /// Such a column does not disturb the order of the columns after it.
    pub fn is_constant(&self, field: &FieldPath) -> bool {
        match self {
            Selector::And(all) => all.iter().any(|s| s.is_constant(field)),
            Selector::Field {
                path,
                condition: Condition::Eq(_),
            } => path == field,
            _ => false,
        }
    }

    /// Fields restricted to a contiguous key range (`$eq`, `$gt`, `$gte`,
    /// `$lt`, `$lte`, `$beginsWith`) through `$and`: what a json index can
    /// seek on. `$ne`, `$in`, `$regex`, `$or`… only filter.
    pub fn indexable_fields(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect_indexable(&mut out);
        out
    }

    fn collect_indexable(&self, out: &mut Vec<FieldPath>) {
        match self {
            Selector::And(all) => all.iter().for_each(|s| s.collect_indexable(out)),
            Selector::Field { path, condition } => {
                use Condition::*;
                if matches!(
                    condition,
                    Eq(_) | Gt(_) | Gte(_) | Lt(_) | Lte(_) | BeginsWith(_)
                ) && !out.contains(path)
                {
                    out.push(path.clone());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_selector;
    use crate::path::FieldPath;
    use serde_json::{Value, json};

    fn requires(selector: Value, fields: &[&str]) -> bool {
        let paths: Vec<FieldPath> = fields.iter().map(|f| FieldPath::parse(f)).collect();
        let refs: Vec<&FieldPath> = paths.iter().collect();
        parse_selector(&selector).unwrap().requires_fields(&refs)
    }

    #[test]
    fn and_clauses_each_contribute() {
        assert!(requires(json!({"A": "foo", "B": {"$gt": 1}}), &["A", "B"]));
        assert!(!requires(json!({"A": "foo"}), &["A", "C"]));
        assert!(requires(
            json!({"$and": [{"$and": [{"A": 1}]}, {"B": 1}]}),
            &["A", "B"]
        ));
    }

    #[test]
    fn or_requires_a_field_only_if_every_branch_does() {
        assert!(!requires(
            json!({"$or": [{"A": "foo"}, {"B": "foo"}]}),
            &["A"]
        ));
        assert!(requires(
            json!({"A": "foo", "$or": [{"B": "bar"}, {"B": "baz"}], "C": "qux"}),
            &["A", "B", "C"]
        ));
    }

    #[test]
    fn exists_false_requires_nothing_and_negations_still_require() {
        assert!(!requires(json!({"A": {"$exists": false}}), &["A"]));
        assert!(requires(json!({"$not": {"A": 1}}), &["A"]));
        assert!(!requires(json!({}), &["A"]));
        assert!(requires(json!({}), &[]));
    }

    #[test]
    fn constant_fields_are_equalities_reachable_through_and() {
        let s = parse_selector(&json!({"cars": "2", "age": {"$gt": 10}})).unwrap();
        assert!(s.is_constant(&FieldPath::parse("cars")));
        assert!(!s.is_constant(&FieldPath::parse("age")));
        let s = parse_selector(&json!({"$or": [{"A": 1}, {"B": 1}]})).unwrap();
        assert!(!s.is_constant(&FieldPath::parse("A")));
    }

    #[test]
    fn only_range_operators_are_indexable() {
        let s =
            parse_selector(&json!({"a": {"$gt": 1}, "b": {"$ne": 1}, "c": 3, "d": {"$in": [1]}}))
                .unwrap();
        let names: Vec<String> = s
            .indexable_fields()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["a", "c"]);
    }
}
