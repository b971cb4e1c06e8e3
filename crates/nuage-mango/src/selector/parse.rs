//! From selector JSON to the normalised [`Selector`] in one pass.
//!
//! CouchDB validates operators, pushes field names down through `$and`, `$or`,
//! `$not` and `$nor`, then pushes negations to the leaves (`mango_selector`:
//! `norm_ops`, `norm_fields`, `norm_negations`). We do the three at once by
//! carrying the path so far and whether we are under an odd number of
//! negations. Arguments of `$elemMatch`, `$allMatch` and `$keyMapMatch` are
//! parsed in literal mode: CouchDB never normalises negations there, and the
//! difference shows on elements that lack a field (`{"$not": {"b": 1}}`
//! matches them literally but `{"b": {"$ne": 1}}` does not).

use serde_json::{Map, Value};

use super::{Condition, Pattern, Selector};
use crate::MangoError;
use crate::error::{bad_arg, json};
use crate::path::FieldPath;

/// Parses and normalises a selector (docs.couchdb.org, "Selector Syntax").
///
/// Errors carry CouchDB's tokens: `invalid_selector_json` for a non-object,
/// `invalid_operator` for an unknown `$word`, `not_supported` for `$where`
/// and friends, `bad_arg` for an argument of the wrong shape, and
/// `invalid_selector` when an operator stands at the top level with no field
/// (`{"$gt": 1}`).
pub fn parse_selector(value: &Value) -> Result<Selector, MangoError> {
    let Value::Object(members) = value else {
        return Err(MangoError::SelectorNotObject(json(value)));
    };
    if members.is_empty() {
        return Ok(Selector::match_all());
    }
    super::bounds::check(value)?;
    let top = Parser { literal: false }.object(members, &FieldPath::root(), false)?;
    // CouchDB checks the top-level node only: `{"$and": [{"$gt": 1}]}` is
    // accepted (and compares the whole document with 1).
    if let Selector::Field { path, .. } = &top
        && path.to_string().is_empty()
    {
        return Err(MangoError::MissingFieldName);
    }
    Ok(top)
}

#[derive(Clone, Copy)]
struct Parser {
    /// Inside `$elemMatch` and friends: keep `$not` and `$nor` as written.
    literal: bool,
}

impl Parser {
    /// Whatever JSON sits at `path`: an object of fields and operators, or a
    /// bare value meaning equality. An empty object is the value `{}`.
    fn node(self, value: &Value, path: &FieldPath, negated: bool) -> Result<Selector, MangoError> {
        match value {
            Value::Object(members) if !members.is_empty() => self.object(members, path, negated),
            _ => Ok(leaf(path, Condition::Eq(value.clone()), negated)),
        }
    }

    fn object(
        self,
        members: &Map<String, Value>,
        path: &FieldPath,
        negated: bool,
    ) -> Result<Selector, MangoError> {
        let mut parts = members
            .iter()
            .map(|(key, value)| self.member(key, value, path, negated))
            .collect::<Result<Vec<_>, _>>()?;
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        // Implicit `$and`, which a negation turns into `$or`.
        Ok(if negated {
            Selector::Or(parts)
        } else {
            Selector::And(parts)
        })
    }

    fn member(
        self,
        key: &str,
        value: &Value,
        path: &FieldPath,
        negated: bool,
    ) -> Result<Selector, MangoError> {
        if !key.starts_with('$') {
            return self.node(value, &path.join(&FieldPath::parse(key)), negated);
        }
        let condition = match key {
            "$and" | "$or" | "$nor" => return self.combination(key, value, path, negated),
            "$not" => {
                if !value.is_object() {
                    return Err(bad_arg(key, value, "expected a selector object"));
                }
                return if self.literal {
                    Ok(Selector::Not(Box::new(self.node(value, path, false)?)))
                } else {
                    self.node(value, path, !negated)
                };
            }
            "$eq" => Condition::Eq(value.clone()),
            "$ne" => Condition::Ne(value.clone()),
            "$lt" => Condition::Lt(value.clone()),
            "$lte" => Condition::Lte(value.clone()),
            "$gt" => Condition::Gt(value.clone()),
            "$gte" => Condition::Gte(value.clone()),
            "$in" => Condition::In(array(key, value)?.clone()),
            "$nin" => Condition::Nin(array(key, value)?.clone()),
            "$all" => Condition::All(array(key, value)?.clone()),
            "$exists" => match value {
                Value::Bool(b) => Condition::Exists(*b),
                _ => return Err(bad_arg(key, value, "expected true or false")),
            },
            "$type" => match value {
                Value::String(name) => Condition::Type(name.clone()),
                _ => {
                    return Err(bad_arg(
                        key,
                        value,
                        "expected one of \"null\", \"boolean\", \"number\", \"string\", \"array\", \"object\"",
                    ));
                }
            },
            "$size" => match value.as_u64() {
                Some(n) => Condition::Size(n),
                None => return Err(bad_arg(key, value, "expected a non-negative integer")),
            },
            "$mod" => modulo(value)?,
            "$regex" => match value.as_str().map(Pattern::new).transpose()?.flatten() {
                Some(pattern) => Condition::Regex(pattern),
                None => {
                    return Err(bad_arg(
                        key,
                        value,
                        "expected a valid regular expression string",
                    ));
                }
            },
            "$beginsWith" => match value {
                Value::String(prefix) => Condition::BeginsWith(prefix.clone()),
                _ => return Err(bad_arg(key, value, "expected a string")),
            },
            "$elemMatch" => Condition::ElemMatch(sub_selector(key, value)?),
            "$allMatch" => Condition::AllMatch(sub_selector(key, value)?),
            "$keyMapMatch" => Condition::KeyMapMatch(sub_selector(key, value)?),
            // `$text` needs a full-text index; the others CouchDB itself
            // refuses with `not_supported`.
            "$text" | "$where" | "$geoWithin" | "$geoIntersects" | "$near" | "$nearSphere" => {
                return Err(MangoError::UnsupportedOperator(key.to_owned()));
            }
            _ => return Err(MangoError::InvalidOperator(key.to_owned())),
        };
        Ok(leaf(path, condition, negated))
    }

    fn combination(
        self,
        operator: &str,
        value: &Value,
        path: &FieldPath,
        negated: bool,
    ) -> Result<Selector, MangoError> {
        let args = array(operator, value)?;
        // `$nor` is `$and` of negated clauses; in literal mode it is `not $or`.
        let flip = operator == "$nor" && !self.literal;
        let parts = args
            .iter()
            .map(|arg| self.node(arg, path, negated != flip))
            .collect::<Result<Vec<_>, _>>()?;
        let conjunctive = match operator {
            "$and" => !negated,
            "$or" => negated,
            _ if self.literal => return Ok(Selector::Not(Box::new(Selector::Or(parts)))),
            _ => !negated,
        };
        Ok(if conjunctive {
            Selector::And(parts)
        } else {
            Selector::Or(parts)
        })
    }
}

fn leaf(path: &FieldPath, condition: Condition, negated: bool) -> Selector {
    Selector::Field {
        path: path.clone(),
        condition: if negated {
            negate(condition)
        } else {
            condition
        },
    }
}

/// The opposite condition, as CouchDB's `negate/1` computes it: comparisons
/// flip, `$in` and `$nin` swap, `$exists` inverts, the rest get wrapped.
fn negate(condition: Condition) -> Condition {
    use Condition::*;
    match condition {
        Lt(v) => Gte(v),
        Lte(v) => Gt(v),
        Eq(v) => Ne(v),
        Ne(v) => Eq(v),
        Gte(v) => Lt(v),
        Gt(v) => Lte(v),
        In(v) => Nin(v),
        Nin(v) => In(v),
        Exists(b) => Exists(!b),
        Not(inner) => *inner,
        other => Not(Box::new(other)),
    }
}

fn array<'a>(operator: &str, value: &'a Value) -> Result<&'a Vec<Value>, MangoError> {
    value
        .as_array()
        .ok_or_else(|| bad_arg(operator, value, "expected an array"))
}

fn sub_selector(operator: &str, value: &Value) -> Result<Box<Selector>, MangoError> {
    if !value.is_object() {
        return Err(bad_arg(operator, value, "expected a selector object"));
    }
    Ok(Box::new(Parser { literal: true }.node(
        value,
        &FieldPath::root(),
        false,
    )?))
}

/// `[divisor, remainder]`, both integers. CouchDB accepts a zero divisor and
/// then fails on the first integer it meets; we refuse it up front, as the
/// docs say the divisor is non-zero.
fn modulo(value: &Value) -> Result<Condition, MangoError> {
    let expected = "expected [divisor, remainder], integers with a non-zero divisor";
    match value.as_array().map(Vec::as_slice) {
        Some([d, r]) => match (d.as_i64(), r.as_i64()) {
            (Some(divisor), Some(remainder)) if divisor != 0 => {
                Ok(Condition::Mod { divisor, remainder })
            }
            _ => Err(bad_arg("$mod", value, expected)),
        },
        _ => Err(bad_arg("$mod", value, expected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(path: &str, condition: Condition) -> Selector {
        Selector::Field {
            path: FieldPath::parse(path),
            condition,
        }
    }

    fn parse(v: Value) -> Selector {
        parse_selector(&v).unwrap()
    }

    #[test]
    fn nested_objects_and_dotted_names_are_the_same_field() {
        let a = parse(json!({"imdb": {"rating": 8}}));
        assert_eq!(a, parse(json!({"imdb.rating": 8})));
        assert_eq!(a, field("imdb.rating", Condition::Eq(json!(8))));
    }

    #[test]
    fn several_members_are_an_implicit_and() {
        assert_eq!(
            parse(json!({"year": {"$gte": 1900, "$lte": 1903}})),
            Selector::And(vec![
                field("year", Condition::Gte(json!(1900))),
                field("year", Condition::Lte(json!(1903))),
            ])
        );
    }

    #[test]
    fn negations_are_pushed_to_the_leaves() {
        assert_eq!(
            parse(json!({"$not": {"year": {"$gt": 10}}})),
            field("year", Condition::Lte(json!(10)))
        );
        assert_eq!(
            parse(json!({"$nor": [{"a": 1}, {"b": {"$in": [2]}}]})),
            Selector::And(vec![
                field("a", Condition::Ne(json!(1))),
                field("b", Condition::Nin(vec![json!(2)])),
            ])
        );
        assert_eq!(
            parse(json!({"$not": {"$or": [{"a": 1}, {"$not": {"b": {"$exists": true}}}]}})),
            Selector::And(vec![
                field("a", Condition::Ne(json!(1))),
                field("b", Condition::Exists(true)),
            ])
        );
        let regex = parse(json!({"name": {"$not": {"$regex": "^A"}}}));
        let Selector::Field {
            condition: Condition::Not(inner),
            ..
        } = regex
        else {
            panic!("expected a wrapped negation, got {regex:?}");
        };
        assert!(matches!(*inner, Condition::Regex(_)));
    }

    #[test]
    fn negations_inside_elem_match_stay_literal() {
        let s = parse(json!({"cast": {"$elemMatch": {"$not": {"age": 3}}}}));
        assert_eq!(
            s,
            field(
                "cast",
                Condition::ElemMatch(Box::new(Selector::Not(Box::new(field(
                    "age",
                    Condition::Eq(json!(3))
                )))))
            )
        );
    }

    #[test]
    fn an_operator_without_a_field_at_the_top_is_refused() {
        let err = parse_selector(&json!({"$gt": 1})).unwrap_err();
        assert_eq!(err.error(), "invalid_selector");
        assert_eq!(
            err.reason(),
            "One or more conditions is missing a field name."
        );
        assert!(parse_selector(&json!({"$and": [{"$gt": 1}]})).is_ok());
    }

    #[test]
    fn malformed_arguments_are_bad_args() {
        for bad in [
            json!({"a": {"$in": 1}}),
            json!({"a": {"$nin": {}}}),
            json!({"a": {"$all": "x"}}),
            json!({"a": {"$exists": 1}}),
            json!({"a": {"$type": 5}}),
            json!({"a": {"$size": -1}}),
            json!({"a": {"$size": 1.5}}),
            json!({"a": {"$mod": [0, 1]}}),
            json!({"a": {"$mod": [2.5, 1]}}),
            json!({"a": {"$mod": [2]}}),
            json!({"a": {"$regex": "("}}),
            json!({"a": {"$regex": 3}}),
            json!({"a": {"$beginsWith": 3}}),
            json!({"a": {"$elemMatch": [1]}}),
            json!({"a": {"$allMatch": 1}}),
            json!({"a": {"$keyMapMatch": "k"}}),
            json!({"$and": {"a": 1}}),
            json!({"$or": 1}),
            json!({"$nor": null}),
            json!({"$not": [1]}),
        ] {
            let err = parse_selector(&bad).unwrap_err();
            assert_eq!(err.error(), "bad_arg", "{bad} gave {err:?}");
        }
    }

    #[test]
    fn unknown_operators_are_invalid_and_known_unsupported_ones_say_so() {
        let err = parse_selector(&json!({"a": {"$foo": 1}})).unwrap_err();
        assert_eq!(
            (err.error(), err.reason().as_str()),
            ("invalid_operator", "Invalid operator: $foo")
        );
        let err = parse_selector(&json!({"$where": "1"})).unwrap_err();
        assert_eq!(err.error(), "not_supported");
    }

    #[test]
    fn a_non_object_selector_is_refused() {
        let err = parse_selector(&json!([1])).unwrap_err();
        assert_eq!(err.error(), "invalid_selector_json");
    }

    #[test]
    fn an_escaped_dollar_names_a_field() {
        assert_eq!(
            parse(json!({"\\$price": 3})),
            field("\\$price", Condition::Eq(json!(3)))
        );
    }

    #[test]
    fn fields_lists_constrained_paths_once() {
        let s =
            parse(json!({"a": 1, "$or": [{"b.c": 2}, {"a": 3}], "d": {"$elemMatch": {"e": 1}}}));
        let names: Vec<String> = s.fields().iter().map(ToString::to_string).collect();
        // Members are visited in key order, and "$or" sorts before letters.
        assert_eq!(names, ["b.c", "a", "d"]);
    }
}
