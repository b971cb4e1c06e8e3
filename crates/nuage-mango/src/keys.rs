//! Index keys as bytes: an encoding of CouchDB view collation that a
//! database compares with plain `memcmp` (SQLite BLOB, PostgreSQL BYTEA), so
//! that a json index can be rows of a shared SQL table ordered by key.
//!
//! The law is on [`encode_key`]: `memcmp` order never contradicts
//! collation, and values that collate equal encode equal. The encoding is
//! strict (`enc(a) == enc(b)` only if `a` and `b` collate equal) except for
//! integers of magnitude 2^53 or more: they are encoded as their `f64`,
//! because that is how [`collate`](crate::collate()) compares an integer with
//! a float, so distinct ones may share an encoding. A lone number still
//! keeps the law; inside an array, an object or a compound key a tie between
//! two such integers leaves the rest of the value to decide, which may then
//! disagree with `collate`. `ranges` bounds its key ranges so that this never
//! loses a row; a caller must still order and filter such rows exactly.
//!
//! Layout (every tag is in `0x01..=0xFE`, in view-collation type order):
//!
//! | value | bytes |
//! | --- | --- |
//! | `null` | `10` |
//! | `false` / `true` | `20` / `21` |
//! | number | `30`, then the `f64` (`-0.0` as `0.0`) big-endian with the sign bit flipped, or every bit when negative: 8 bytes |
//! | string | `40`, the ICU4X root sort key at tertiary strength, `00` |
//! | array | `50`, each element, `00` |
//! | object | `60`, per member in `serde_json`'s member order its key as a string then its value, `00` |
//!
//! What must stay true: the encoding is prefix-free (no value's bytes are a
//! proper prefix of another's): numbers have a fixed length, and `00` ends
//! strings, arrays and objects because it is below every tag and never
//! occurs inside a sort key (ICU4X writes none: its keys are meant to be
//! NUL-terminated by callers who want C strings). So "the key starts with
//! `enc(v)`" means "this column is `v`", a key prefix is a range, and a
//! shorter array, object or compound key sorts first.
//!
//! Sort keys belong to one ICU4X version and its CLDR and Unicode data: a
//! change of `icu_collator` can change them (the golden test in
//! `tests/keys.rs` fails when it does), and stored index entries must then be
//! rebuilt. Cost per index row: 9 bytes per number; a string costs its sort
//! key, about one byte per unaccented Latin letter plus two level separators
//! and a few bytes of case and accent weights, more for other scripts.

use std::ops::ControlFlow;

use serde_json::{Number, Value};

use crate::collate::{ROOT, integer};

pub(crate) const END: u8 = 0x00;
pub(crate) const TAG_NULL: u8 = 0x10;
pub(crate) const TAG_FALSE: u8 = 0x20;
pub(crate) const TAG_TRUE: u8 = 0x21;
pub(crate) const TAG_NUMBER: u8 = 0x30;
pub(crate) const TAG_STRING: u8 = 0x40;
pub(crate) const TAG_ARRAY: u8 = 0x50;
pub(crate) const TAG_OBJECT: u8 = 0x60;

/// ICU's separator between the primary, secondary and tertiary sections of
/// a sort key; no weight byte is below it.
const LEVEL_SEPARATOR: u8 = 0x01;

/// The smallest integer magnitude whose `f64` another integer shares
/// (`2^53 + 1` rounds to `2^53`).
const INEXACT_INTEGER: i128 = 1 << 53;

/// The key of one index row: the values of the index's fields, in order,
/// as bytes whose `memcmp` order is view collation. The law, for all values
/// `a`, `b`, and for compound keys compared column by column, a prefix first:
///
/// ```text
/// collate(a, b) == Less    ⇒ enc(a) <= enc(b)
/// collate(a, b) == Equal   ⇒ enc(a) == enc(b)
/// collate(a, b) == Greater ⇒ enc(a) >= enc(b)
/// ```
///
/// Not strict: distinct integers of magnitude 2^53 or more may share an
/// encoding, and inside an array, an object or a compound key the rest of
/// the value then decides, which may disagree with `collate`; such rows must
/// be ordered and filtered exactly in memory. Sort keys change with the
/// `icu_collator` version: stored keys must be rebuilt when it changes.
pub fn encode_key(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode_value(v, &mut out);
    }
    out
}

/// Appends the encoding of one value to `out`.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    let _whole = encode(v, out, false);
}

/// The bytes every value collating on one side of `v` is bounded by: the
/// encoding of `v`, cut right after its first integer of magnitude 2^53 or
/// more, where a tie in the encoding stops saying anything about the rest.
/// Every `x` with `collate(x, v) != Less` encodes at or above it, and every
/// `x` with `collate(x, v) != Greater` encodes below [`prefix_end`] of it.
pub(crate) fn encode_bound(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let _cut = encode(v, &mut out, true);
    out
}

/// `Break` once it has written an inexact integer, when asked to stop there.
fn encode(v: &Value, out: &mut Vec<u8>, stop_at_inexact: bool) -> ControlFlow<()> {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(n) => {
            encode_number(n, out);
            if stop_at_inexact && integer(n).is_some_and(|i| i.abs() >= INEXACT_INTEGER) {
                return ControlFlow::Break(());
            }
        }
        Value::String(s) => encode_string(s, out),
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            for item in items {
                encode(item, out, stop_at_inexact)?;
            }
            out.push(END);
        }
        Value::Object(members) => {
            // The same member order as collate's compare_members.
            out.push(TAG_OBJECT);
            for (key, value) in members {
                encode_string(key, out);
                encode(value, out, stop_at_inexact)?;
            }
            out.push(END);
        }
    }
    ControlFlow::Continue(())
}

fn encode_number(n: &Number, out: &mut Vec<u8>) {
    // The very conversion compare_numbers makes, so that equal means equal.
    let f = n.as_f64().unwrap_or(0.0);
    let bits = if f == 0.0 { 0 } else { f.to_bits() };
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    out.push(TAG_NUMBER);
    out.extend_from_slice(&ordered.to_be_bytes());
}

fn encode_string(s: &str, out: &mut Vec<u8>) {
    out.push(TAG_STRING);
    let start = out.len();
    let Ok(()) = ROOT.write_sort_key_to(s, out);
    debug_assert!(
        !out[start..].contains(&END),
        "an ICU sort key holds no zero byte"
    );
    out.push(END);
}

/// A prefix of the encoding of every string that starts with `prefix`: the
/// string tag and the primary weights of `prefix`'s longest ASCII prefix.
///
/// Why not all of `prefix`: the primary weights of `prefix + rest` start with
/// those of `prefix` only if nothing in `rest` can change how `prefix` is
/// weighed, and that fails for contractions (Thai `"เ"` then a consonant is
/// weighed consonant first), canonical reordering of combining marks and
/// discontiguous contractions. No root contraction starts with an ASCII
/// character and an ASCII character never reorders, so an ASCII prefix is
/// weighed the same whatever follows (checked against every code point by
/// the exhaustive test in `tests/keys.rs`). ICU writes all primary weights
/// first and each one's bytes depend only on the weights before it, so the
/// prefix's primary section is a byte prefix of the longer string's key.
pub(crate) fn string_prefix(prefix: &str) -> Vec<u8> {
    let ascii = prefix.find(|c: char| !c.is_ascii()).unwrap_or(prefix.len());
    let mut key = Vec::new();
    let Ok(()) = ROOT.write_sort_key_to(&prefix[..ascii], &mut key);
    let primary = key
        .iter()
        .position(|&b| b == LEVEL_SEPARATOR)
        .unwrap_or(key.len());
    let mut out = Vec::with_capacity(1 + primary);
    out.push(TAG_STRING);
    out.extend_from_slice(&key[..primary]);
    out
}

/// The smallest byte string above every string that starts with `prefix`,
/// or `None` when there is none (`prefix` empty or all `0xFF`). Sort keys
/// may hold `0xFF` (ICU's primary compression byte), so this does not assume
/// `prefix ++ [0xFF]` is such a bound.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_have_the_documented_bytes() {
        assert_eq!(encode_key(&[json!(null)]), [TAG_NULL]);
        assert_eq!(encode_key(&[json!(true)]), [TAG_TRUE]);
        let one = encode_key(&[json!(1)]);
        assert_eq!(one, [0x30, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode_key(&[json!(-0.0)]), encode_key(&[json!(0)]));
        assert_eq!(encode_key(&[json!([])]), [TAG_ARRAY, END]);
        assert_eq!(encode_key(&[json!({})]), [TAG_OBJECT, END]);
    }

    #[test]
    fn a_bound_stops_after_the_first_inexact_integer() {
        let v = json!([1, 9007199254740993_i64, "z"]);
        let bound = encode_bound(&v);
        let whole = encode_key(&[v]);
        assert!(whole.starts_with(&bound));
        assert_eq!(bound.len(), 1 + 9 + 9);
        let small = json!([1, 9007199254740991_i64, "z"]);
        assert_eq!(encode_bound(&small), encode_key(&[small]));
    }

    #[test]
    fn prefix_end_skips_trailing_ff() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
        assert_eq!(prefix_end(&[]), None);
    }

    #[test]
    fn a_string_prefix_uses_only_its_ascii_start() {
        assert_eq!(string_prefix("ab"), string_prefix("abé"));
        assert_eq!(string_prefix(""), [TAG_STRING]);
        assert_eq!(string_prefix("é"), [TAG_STRING]);
        let key = encode_key(&[json!("abc")]);
        assert!(key.starts_with(&string_prefix("ab")));
        assert!(key.starts_with(&string_prefix("abc")));
    }
}
