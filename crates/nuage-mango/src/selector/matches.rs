//! Matching a document against a parsed selector, with CouchDB's semantics
//! (docs.couchdb.org, "Condition Operators" and "Combination Operators",
//! cross-checked against the behaviour CouchDB's own Mango test suite pins).
//!
//! The rules that surprise people and must stay:
//! - A condition on a missing field fails, whatever the operator, except
//!   `{"$exists": false}`: `$ne`, `$nin` and negations never match documents
//!   that lack the field. A path that walks through a scalar or a bad array
//!   index fails even `{"$exists": false}`.
//! - Comparisons use view collation *across types*: `{"$lt": 1}` matches
//!   `null`, `{"$gt": 2000}` matches any string. `_id` compares in raw order.
//! - Equality is not array membership: `{"tags": "a"}` does not match
//!   `["a"]`; `$in`, `$nin`, `$all` and `$elemMatch` look inside arrays.
//! - `$elemMatch`, `$allMatch` and `$keyMapMatch` never match an empty array
//!   or object; `$all: []` and `$in: []` match nothing, `$nin: []` anything.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Condition, Selector, json_type};
use crate::collate::{collate, collate_raw, integer};
use crate::path::Lookup;

type Cmp = fn(&Value, &Value) -> Ordering;

impl Selector {
    /// Does `doc` match? A selector that is nothing but `{"$or": []}` matches
    /// nothing: CouchDB treats it as a no-op query (apache/couchdb#1783),
    /// while an empty `$or` beside other conditions is ignored.
    pub fn matches(&self, doc: &Value) -> bool {
        if matches!(self, Selector::Or(any) if any.is_empty()) {
            return false;
        }
        self.eval(doc)
    }

    fn eval(&self, value: &Value) -> bool {
        match self {
            Selector::And(all) => all.iter().all(|s| s.eval(value)),
            Selector::Or(any) => any.is_empty() || any.iter().any(|s| s.eval(value)),
            Selector::Not(inner) => !inner.eval(value),
            Selector::Field { path, condition } => match path.lookup(value) {
                Lookup::Found(found) => {
                    let cmp: Cmp = if path.is_id() { collate_raw } else { collate };
                    condition.eval(found, cmp)
                }
                Lookup::Missing => matches!(condition, Condition::Exists(false)),
                Lookup::BadPath => false,
            },
        }
    }
}

impl Condition {
    /// Does the (present) value satisfy this condition?
    fn eval(&self, value: &Value, cmp: Cmp) -> bool {
        use Condition::*;
        let equal = |a: &Value, b: &Value| cmp(a, b) == Ordering::Equal;
        match self {
            Eq(arg) => equal(value, arg),
            Ne(arg) => !equal(value, arg),
            Lt(arg) => cmp(value, arg) == Ordering::Less,
            Lte(arg) => cmp(value, arg) != Ordering::Greater,
            Gt(arg) => cmp(value, arg) == Ordering::Greater,
            Gte(arg) => cmp(value, arg) != Ordering::Less,
            In(args) => match value {
                Value::Array(items) => args.iter().any(|a| items.iter().any(|v| equal(v, a))),
                _ => args.iter().any(|a| equal(value, a)),
            },
            Nin(args) => match value {
                Value::Array(items) => args.iter().all(|a| items.iter().all(|v| !equal(v, a))),
                _ => args.iter().all(|a| !equal(value, a)),
            },
            Exists(should) => *should,
            Type(name) => json_type(value) == name,
            Size(n) => matches!(value, Value::Array(items) if items.len() as u64 == *n),
            Mod { divisor, remainder } => match value {
                // Integers only: `4.0` is a float, as in CouchDB.
                Value::Number(n) => {
                    integer(n).is_some_and(|v| v % i128::from(*divisor) == i128::from(*remainder))
                }
                _ => false,
            },
            Regex(pattern) => value.as_str().is_some_and(|s| pattern.is_match(s)),
            BeginsWith(prefix) => value
                .as_str()
                .is_some_and(|s| s.starts_with(prefix.as_str())),
            All(args) => all(args, value),
            ElemMatch(sub) => {
                matches!(value, Value::Array(items) if items.iter().any(|v| sub.eval(v)))
            }
            AllMatch(sub) => matches!(
                value,
                Value::Array(items) if !items.is_empty() && items.iter().all(|v| sub.eval(v))
            ),
            KeyMapMatch(sub) => matches!(
                value,
                Value::Object(members) if members.keys().any(|k| sub.eval(&Value::String(k.clone())))
            ),
            Not(inner) => !inner.eval(value, cmp),
        }
    }
}

/// `$all`: every argument is an element (exact JSON equality, so `1` is not
/// `1.0`), or the single argument is the whole array.
fn all(args: &[Value], value: &Value) -> bool {
    let Value::Array(items) = value else {
        return false;
    };
    if args.is_empty() {
        return false;
    }
    if let [whole @ Value::Array(_)] = args
        && whole == value
    {
        return true;
    }
    args.iter().all(|a| items.contains(a))
}

#[cfg(test)]
mod tests {
    use crate::parse_selector;
    use serde_json::{Value, json};

    fn matches(selector: Value, doc: Value) -> bool {
        parse_selector(&selector).unwrap().matches(&doc)
    }

    #[test]
    fn exists_false_matches_missing_but_not_a_path_through_a_scalar() {
        assert!(matches(json!({"a.b": {"$exists": false}}), json!({})));
        assert!(matches(
            json!({"a.b": {"$exists": false}}),
            json!({"a": {}})
        ));
        assert!(!matches(
            json!({"a.b": {"$exists": false}}),
            json!({"a": 5})
        ));
        assert!(!matches(
            json!({"a.b": {"$exists": false}}),
            json!({"a": {"b": null}})
        ));
    }

    #[test]
    fn ne_and_negations_never_match_a_missing_field() {
        assert!(!matches(json!({"a": {"$ne": 1}}), json!({})));
        assert!(matches(json!({"a": {"$ne": 1}}), json!({"a": null})));
        assert!(!matches(json!({"$not": {"a": 1}}), json!({})));
        assert!(!matches(json!({"a": {"$nin": [1]}}), json!({})));
        assert!(!matches(json!({"$nor": [{"a": 1}]}), json!({"b": 1})));
        assert!(matches(
            json!({"$not": {"a": {"$exists": true}}}),
            json!({})
        ));
    }

    #[test]
    fn comparisons_cross_types_in_collation_order() {
        assert!(matches(json!({"a": {"$lt": 1}}), json!({"a": null})));
        assert!(matches(json!({"a": {"$gt": 2000}}), json!({"a": "1999"})));
        assert!(matches(
            json!({"a": {"$gte": 0}}),
            json!({"a": {"forename": "Eddie"}})
        ));
        assert!(!matches(json!({"a": {"$gt": null}}), json!({"a": null})));
        assert!(!matches(json!({"a": {"$lte": "a"}}), json!({"a": "A"})));
        assert!(matches(json!({"a": 8}), json!({"a": 8.0})));
    }

    #[test]
    fn id_compares_in_raw_order() {
        // Raw: "B" (0x42) < "a" (0x61); view collation says the opposite.
        assert!(matches(json!({"_id": {"$lt": "a"}}), json!({"_id": "B"})));
        assert!(!matches(
            json!({"name": {"$lt": "a"}}),
            json!({"name": "B"})
        ));
        assert!(matches(json!({"_id": {"$gt": null}}), json!({"_id": "x"})));
    }

    #[test]
    fn equality_is_not_membership_but_in_is() {
        assert!(!matches(json!({"tags": "a"}), json!({"tags": ["a"]})));
        assert!(matches(json!({"tags": ["a"]}), json!({"tags": ["a"]})));
        assert!(matches(
            json!({"tags": {"$in": ["a", "z"]}}),
            json!({"tags": ["b", "a"]})
        ));
        assert!(!matches(
            json!({"tags": {"$in": [["a"]]}}),
            json!({"tags": ["a"]})
        ));
        assert!(matches(json!({"n": {"$in": [1, 2]}}), json!({"n": 2.0})));
        assert!(!matches(json!({"n": {"$in": []}}), json!({"n": 1})));
    }

    #[test]
    fn nin_on_an_array_excludes_it_if_any_element_is_listed() {
        assert!(!matches(
            json!({"t": {"$nin": ["a"]}}),
            json!({"t": ["b", "a"]})
        ));
        assert!(matches(json!({"t": {"$nin": ["a"]}}), json!({"t": ["b"]})));
        assert!(matches(json!({"t": {"$nin": ["a"]}}), json!({"t": []})));
        assert!(matches(json!({"t": {"$nin": []}}), json!({"t": "a"})));
    }

    #[test]
    fn exists_and_type() {
        assert!(matches(json!({"a": {"$exists": true}}), json!({"a": null})));
        assert!(!matches(json!({"a": {"$exists": true}}), json!({})));
        for (v, t) in [
            (json!(null), "null"),
            (json!(false), "boolean"),
            (json!(1.5), "number"),
            (json!("s"), "string"),
            (json!([]), "array"),
            (json!({}), "object"),
        ] {
            assert!(matches(json!({"a": {"$type": t}}), json!({ "a": v })));
        }
        assert!(!matches(
            json!({"a": {"$type": "integer"}}),
            json!({"a": 1})
        ));
    }

    #[test]
    fn size_counts_array_elements_only() {
        assert!(matches(
            json!({"a": {"$size": 2}}),
            json!({"a": [1, [2, 3]]})
        ));
        assert!(matches(json!({"a": {"$size": 0}}), json!({"a": []})));
        assert!(!matches(json!({"a": {"$size": 2}}), json!({"a": "ab"})));
    }

    #[test]
    fn mod_takes_integers_and_keeps_the_sign_of_the_value() {
        assert!(matches(json!({"a": {"$mod": [10, 8]}}), json!({"a": 98})));
        assert!(matches(json!({"a": {"$mod": [3, -2]}}), json!({"a": -5})));
        assert!(matches(json!({"a": {"$mod": [-3, 2]}}), json!({"a": 5})));
        assert!(!matches(json!({"a": {"$mod": [2, 0]}}), json!({"a": 4.0})));
        assert!(!matches(json!({"a": {"$mod": [2, 0]}}), json!({"a": "4"})));
    }

    #[test]
    fn regex_searches_strings_only() {
        assert!(matches(
            json!({"a": {"$regex": "lie"}}),
            json!({"a": "alien"})
        ));
        assert!(matches(
            json!({"a": {"$regex": "(?i)^AL"}}),
            json!({"a": "alien"})
        ));
        assert!(!matches(
            json!({"a": {"$regex": "^AL"}}),
            json!({"a": "alien"})
        ));
        assert!(!matches(json!({"a": {"$regex": "1"}}), json!({"a": 1})));
    }

    #[test]
    fn begins_with_is_a_case_sensitive_string_prefix() {
        assert!(matches(
            json!({"a": {"$beginsWith": "The "}}),
            json!({"a": "The Thing"})
        ));
        assert!(!matches(
            json!({"a": {"$beginsWith": "the "}}),
            json!({"a": "The Thing"})
        ));
        assert!(!matches(
            json!({"a": {"$beginsWith": "1"}}),
            json!({"a": 12})
        ));
    }

    #[test]
    fn all_needs_every_argument_in_the_array() {
        assert!(matches(
            json!({"a": {"$all": ["x", "y"]}}),
            json!({"a": ["y", "z", "x"]})
        ));
        assert!(!matches(
            json!({"a": {"$all": ["x", "y"]}}),
            json!({"a": ["x"]})
        ));
        assert!(!matches(json!({"a": {"$all": ["x"]}}), json!({"a": "x"})));
        assert!(!matches(json!({"a": {"$all": []}}), json!({"a": ["x"]})));
        assert!(matches(
            json!({"a": {"$all": [["x", "y"]]}}),
            json!({"a": ["x", "y"]})
        ));
        assert!(!matches(json!({"a": {"$all": [1]}}), json!({"a": [1.0]})));
    }

    #[test]
    fn elem_match_needs_one_element_matching_every_criterion() {
        let sel = json!({"bang": {"$elemMatch": {"foo": {"$gte": 1}, "bam": true}}});
        assert!(!matches(
            sel.clone(),
            json!({"bang": [{"foo": 1, "bar": 2}]})
        ));
        assert!(matches(
            sel.clone(),
            json!({"bang": [{"foo": 2, "bam": true}]})
        ));
        assert!(matches(
            json!({"g": {"$elemMatch": {"$eq": "Horror"}}}),
            json!({"g": ["Horror"]})
        ));
        assert!(!matches(
            json!({"g": {"$elemMatch": {"$eq": "Horror"}}}),
            json!({"g": "Horror"})
        ));
        assert!(!matches(
            json!({"g": {"$elemMatch": {"$exists": true}}}),
            json!({"g": []})
        ));
    }

    #[test]
    fn negation_inside_elem_match_is_literal() {
        let sel = json!({"cast": {"$elemMatch": {"$not": {"age": 3}}}});
        assert!(matches(sel.clone(), json!({"cast": [{"name": "no age"}]})));
        assert!(!matches(sel, json!({"cast": [{"age": 3}]})));
    }

    #[test]
    fn all_match_needs_every_element_and_at_least_one() {
        let sel =
            json!({"bang": {"$allMatch": {"foo": {"$mod": [2, 1]}, "bar": {"$mod": [2, 0]}}}});
        assert!(matches(
            sel.clone(),
            json!({"bang": [{"foo": 1, "bar": 2}, {"foo": 3, "bar": 4}]})
        ));
        assert!(!matches(
            sel.clone(),
            json!({"bang": [{"foo": 1, "bar": 2}, {"foo": 4, "bar": 4}]})
        ));
        assert!(!matches(
            json!({"e": {"$allMatch": {"foo": {"$eq": 2}}}}),
            json!({"e": []})
        ));
    }

    #[test]
    fn key_map_match_looks_at_keys() {
        let sel = json!({"cameras": {"$keyMapMatch": {"$eq": "secondary"}}});
        assert!(matches(
            sel.clone(),
            json!({"cameras": {"primary": 1, "secondary": 2}})
        ));
        assert!(!matches(
            sel.clone(),
            json!({"cameras": {"primary": "secondary"}})
        ));
        assert!(!matches(sel.clone(), json!({"cameras": {}})));
        assert!(!matches(sel, json!({"cameras": ["secondary"]})));
    }

    #[test]
    fn and_or_nor_not_combine() {
        let doc = json!({"year": 1977, "director": "George Lucas"});
        assert!(matches(
            json!({"year": 1977, "$or": [{"director": "George Lucas"}, {"director": "Steven Spielberg"}]}),
            doc.clone()
        ));
        assert!(matches(
            json!({"$and": [{"year": {"$gte": 1970}}, {"year": {"$lt": 1980}}]}),
            doc.clone()
        ));
        assert!(!matches(
            json!({"$nor": [{"year": 1977}, {"year": 1978}]}),
            doc.clone()
        ));
        assert!(matches(
            json!({"year": {"$not": {"$eq": 1978}}}),
            doc.clone()
        ));
        assert!(matches(
            json!({"$not": {"$and": [{"year": {"$gt": 1980}}, {"year": {"$lt": 1990}}]}}),
            doc
        ));
    }

    #[test]
    fn empty_combinations_follow_couchdb() {
        assert!(matches(json!({}), json!({"a": 1})));
        assert!(!matches(json!({"$or": []}), json!({"a": 1})));
        assert!(matches(json!({"a": 1, "$or": []}), json!({"a": 1})));
        assert!(matches(json!({"a": 1, "$and": []}), json!({"a": 1})));
    }
}
