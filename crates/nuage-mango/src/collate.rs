//! CouchDB's two orders on JSON values: view collation, used by every Mango
//! comparison and every json index, and raw collation, used for `_id`.
//!
//! View collation (docs.couchdb.org, "Views Collation" → "Collation
//! Specification"): `null < false < true < numbers < strings < arrays <
//! objects`; numbers by value (`1 == 1.0`); arrays element by element, a
//! prefix first; objects member by member in member order, comparing keys
//! then values, a prefix first. Strings follow the Unicode Collation Algorithm
//! with the root locale at tertiary strength, as CouchDB's ICU does: letters
//! compare case-blind first and lowercase wins a tie (`"a" < "A" < "aa" <
//! "b"`), symbols sort before digits, digits before letters. We use ICU4X's
//! root collator, so this is UCA itself rather than an approximation; the
//! only expected differences with a given CouchDB are Unicode-version ones.
//!
//! Member order: `serde_json` keeps objects sorted by key unless its
//! `preserve_order` feature is on, so two objects whose members differ only
//! in order compare by sorted members here, where CouchDB would use the order
//! they were written in.
//!
//! Raw collation ("Raw collation" in the same page, and what Mango uses for
//! `_id` because `_all_docs` is in raw order): `numbers < false < null < true
//! < objects < arrays < strings`, strings by bytes.
//!
//! Both orders are total preorders: two distinct strings may collate equal
//! (canonically equivalent text), exactly as in CouchDB, and that is what
//! `$eq` uses.

use std::cmp::Ordering;
use std::sync::LazyLock;

use icu_collator::CollatorBorrowed;
use icu_collator::options::CollatorOptions;
use serde_json::{Map, Number, Value};

pub(crate) static ROOT: LazyLock<CollatorBorrowed<'static>> = LazyLock::new(|| {
    // Root locale, tertiary strength, non-ignorable punctuation: ICU's
    // defaults, which CouchDB keeps.
    CollatorBorrowed::try_new(Default::default(), CollatorOptions::default())
        .expect("the root collation is compiled into icu_collator")
});

/// CouchDB view collation of two JSON values.
pub fn collate(a: &Value, b: &Value) -> Ordering {
    let by_type = view_rank(a).cmp(&view_rank(b));
    if by_type != Ordering::Equal {
        return by_type;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => collate_strings(x, y),
        (Value::Array(x), Value::Array(y)) => compare_seq(x, y, collate),
        (Value::Object(x), Value::Object(y)) => compare_members(x, y, collate_strings, collate),
        _ => Ordering::Equal,
    }
}

/// Two strings in UCA root order (ICU's default, as in CouchDB).
pub fn collate_strings(a: &str, b: &str) -> Ordering {
    if a == b {
        Ordering::Equal
    } else {
        ROOT.compare(a, b)
    }
}

/// CouchDB raw collation (Erlang term order), used for `_id`.
pub fn collate_raw(a: &Value, b: &Value) -> Ordering {
    let by_type = raw_rank(a).cmp(&raw_rank(b));
    if by_type != Ordering::Equal {
        return by_type;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Array(x), Value::Array(y)) => compare_seq(x, y, collate_raw),
        (Value::Object(x), Value::Object(y)) => {
            compare_members(x, y, |a, b| a.as_bytes().cmp(b.as_bytes()), collate_raw)
        }
        _ => Ordering::Equal,
    }
}

fn view_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

fn raw_rank(v: &Value) -> u8 {
    // Erlang: number < atom (false < null < true, alphabetically) < tuple
    // (an EJSON object) < list < binary.
    match v {
        Value::Number(_) => 0,
        Value::Bool(false) => 1,
        Value::Null => 2,
        Value::Bool(true) => 3,
        Value::Object(_) => 4,
        Value::Array(_) => 5,
        Value::String(_) => 6,
    }
}

/// Numbers by value: integers exactly, anything involving a float as `f64`.
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            // serde_json numbers are never NaN.
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

/// The value of an integer JSON number (not `1.0`, which is a float, as in
/// CouchDB's JSON decoder).
pub(crate) fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn compare_seq(a: &[Value], b: &[Value], cmp: fn(&Value, &Value) -> Ordering) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = cmp(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn compare_members(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    keys: impl Fn(&str, &str) -> Ordering,
    values: fn(&Value, &Value) -> Ordering,
) -> Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        let o = keys(ka, kb).then_with(|| values(va, vb));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_ascending(values: &[Value], cmp: fn(&Value, &Value) -> Ordering) {
        for pair in values.windows(2) {
            assert_eq!(
                cmp(&pair[0], &pair[1]),
                Ordering::Less,
                "{} should sort before {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn the_documented_collation_sequence_holds() {
        // docs.couchdb.org, Views Collation → Collation Specification.
        let seq = json!([
            null, false, true,
            1, 2, 3.0, 4,
            "a", "A", "aa", "b", "B", "ba", "bb",
            ["a"], ["b"], ["b", "c"], ["b", "c", "a"], ["b", "d"], ["b", "d", "e"],
            {"a": 1}, {"a": 2}, {"b": 1}, {"b": 2}, {"b": 2, "c": 2}
        ]);
        assert_ascending(seq.as_array().unwrap(), collate);
    }

    #[test]
    fn letters_compare_case_blind_first_and_lowercase_wins_ties() {
        // "Key ranges": abc < Abc < ABC < abc1 < AbcZZZZZ.
        let seq = json!(["abc", "Abc", "ABC", "abc1", "AbcZZZZZ"]);
        assert_ascending(seq.as_array().unwrap(), collate);
        assert_eq!(collate(&json!("a"), &json!("AA")), Ordering::Less);
    }

    #[test]
    fn symbols_sort_before_digits_and_digits_before_letters() {
        let seq = json!([
            " ", "_", "-", ",", ";", ":", "!", "?", ".", "'", "\"", "(", ")", "[", "]", "{", "}",
            "@", "*", "/", "\\", "&", "#", "%", "+", "<", "=", ">", "|", "~", "$", "0", "1", "9",
            "a", "A", "z", "Z"
        ]);
        assert_ascending(seq.as_array().unwrap(), collate);
    }

    #[test]
    fn accented_letters_sort_beside_their_base_letter() {
        let seq = json!(["Amelie", "Amélie", "Ameliz", "Zoé"]);
        assert_ascending(seq.as_array().unwrap(), collate);
    }

    #[test]
    fn integers_and_floats_of_the_same_value_are_equal() {
        assert_eq!(collate(&json!(8), &json!(8.0)), Ordering::Equal);
        assert_eq!(collate(&json!(-1), &json!(u64::MAX)), Ordering::Less);
        assert_eq!(collate(&json!(2.5), &json!(3)), Ordering::Less);
    }

    #[test]
    fn raw_collation_orders_types_like_erlang_and_strings_by_bytes() {
        // docs.couchdb.org, Views Collation → Raw collation.
        let seq = json!([1, false, null, true, {"a": "a"}, ["a"], "B", "a"]);
        assert_ascending(seq.as_array().unwrap(), collate_raw);
    }
}
