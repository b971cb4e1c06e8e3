//! What one selector may cost, checked on its JSON before anything is
//! compiled: a selector is matched against every document a query
//! examines, so its size multiplies the work of the whole request, and
//! each `$regex` holds a compiled program and a lazy-DFA cache in memory.
//! CouchDB bounds neither; a 100 KB `$or` of 3,000 regexes cost a reader
//! 92 s and 3.6 GB here before these bounds.
//!
//! The same bounds hold wherever a selector is parsed: `_find`, `_explain`,
//! `_changes?filter=_selector` and an index's `partial_filter_selector`.

use serde_json::Value;

use crate::MangoError;

/// The most nodes (fields, operators and `$and`/`$or`/`$nor` branches)
/// of one selector.
pub const MAX_SELECTOR_NODES: usize = 1_000;
/// The most `$regex` operators in one selector.
pub const MAX_SELECTOR_REGEXES: usize = 16;
/// The compiled size of one `$regex` (`regex::RegexBuilder::size_limit`,
/// 10 MiB by default): Unicode `\w` alone takes about 64 KiB, `\w{20}`
/// a megabyte, `(?-u)\w{200}` 32 KiB.
pub const MAX_REGEX_BYTES: usize = 256 << 10;
/// The lazy DFA cache of one `$regex` (`dfa_size_limit`).
pub const MAX_REGEX_CACHE_BYTES: usize = 256 << 10;

/// Operators whose argument is a value, not a selector: what they hold is
/// data to compare with, not work to multiply.
const VALUE_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$in",
    "$nin",
    "$all",
    "$exists",
    "$type",
    "$size",
    "$mod",
    "$regex",
    "$beginsWith",
];

#[derive(Default)]
struct Budget {
    nodes: usize,
    regexes: usize,
}

/// Refuses a selector that is too big, before it is parsed.
pub(crate) fn check(selector: &Value) -> Result<(), MangoError> {
    walk(selector, &mut Budget::default())
}

fn walk(value: &Value, budget: &mut Budget) -> Result<(), MangoError> {
    let Value::Object(members) = value else {
        return Ok(());
    };
    for (key, value) in members {
        budget.nodes += 1;
        if budget.nodes > MAX_SELECTOR_NODES {
            return Err(MangoError::SelectorTooLarge(format!(
                "a selector may hold at most {MAX_SELECTOR_NODES} fields, operators and branches; \
                 split the query, or use $in for many values of one field"
            )));
        }
        if key == "$regex" {
            budget.regexes += 1;
            if budget.regexes > MAX_SELECTOR_REGEXES {
                return Err(MangoError::SelectorTooLarge(format!(
                    "a selector may hold at most {MAX_SELECTOR_REGEXES} $regex operators; \
                     combine patterns with | in one $regex"
                )));
            }
        }
        match (key.as_str(), value) {
            (k, _) if VALUE_OPERATORS.contains(&k) => {}
            ("$and" | "$or" | "$nor", Value::Array(branches)) => {
                for branch in branches {
                    walk(branch, budget)?;
                }
            }
            _ => walk(value, budget)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{MangoError, parse_selector};

    use super::*;

    fn or_of(n: usize, leaf: impl Fn(usize) -> Value) -> Value {
        json!({"$or": (0..n).map(leaf).collect::<Vec<_>>()})
    }

    #[test]
    fn a_selector_of_many_branches_is_refused_before_it_is_compiled() {
        let big = or_of(3000, |i| json!({format!("f{i}"): {"$regex": "\\w{20}"}}));
        let err = parse_selector(&big).unwrap_err();
        assert!(matches!(err, MangoError::SelectorTooLarge(_)), "{err:?}");
        assert_eq!(err.error(), "bad_request");
        assert_eq!(err.status(), 400);

        let branches = or_of(MAX_SELECTOR_NODES, |i| json!({format!("f{i}"): 1}));
        let err = parse_selector(&branches).unwrap_err();
        assert!(err.reason().contains("at most 1000 fields"), "{err}");
        assert!(parse_selector(&or_of(400, |i| json!({format!("f{i}"): 1}))).is_ok());
    }

    #[test]
    fn at_most_sixteen_regexes() {
        let regexes = |n| or_of(n, |i| json!({format!("f{i}"): {"$regex": "^a"}}));
        assert!(parse_selector(&regexes(MAX_SELECTOR_REGEXES)).is_ok());
        let err = parse_selector(&regexes(MAX_SELECTOR_REGEXES + 1)).unwrap_err();
        assert!(err.reason().contains("$regex"), "{err}");
    }

    #[test]
    fn values_compared_with_are_not_nodes() {
        let many: Vec<usize> = (0..5000).collect();
        assert!(parse_selector(&json!({"a": {"$in": many}})).is_ok());
    }

    #[test]
    fn a_huge_regex_says_how_to_make_it_smaller() {
        let err = parse_selector(&json!({"a": {"$regex": "\\w{20}"}})).unwrap_err();
        assert!(matches!(err, MangoError::RegexTooLarge(_)), "{err:?}");
        assert!(err.reason().contains("(?-u)"), "{err}");
        // Ordinary patterns still compile.
        for ok in [
            "^A",
            "(?i)lie",
            "\\w+",
            "(?-u)\\w{200}",
            "[a-z]+@[a-z]+\\.com",
        ] {
            assert!(
                parse_selector(&json!({"a": {"$regex": ok}})).is_ok(),
                "{ok}"
            );
        }
    }
}
