//! The ranges of encoded index keys (see [`crate::encode_key`]) that a
//! query must read: what a store turns into `key >= ? AND key < ?`.
//!
//! The law: every document that has all of the index's fields, passes its
//! partial filter and matches the selector has its key in one of the ranges.
//! Ranges are a superset, never an answer: the caller still runs
//! [`Selector::matches`] on every row it reads, because bounds are inclusive
//! (numbers may share an encoding, see [`crate::keys`]) and most operators do
//! not narrow at all.
//!
//! Narrowing reads only the top-level conjunction (the selector's, and the
//! partial filter's, which every row of the index also passes), field by
//! field along the index's fields, as a key prefix: equalities and `$in`
//! fix a column and go on to the next one; a comparison, `$beginsWith` or a
//! type-implying operator bounds a column and ends there; anything else, or
//! `_id`/`_rev` (compared in raw collation by selectors, while keys are in
//! view collation), ends before the column. At most [`MAX_RANGES`] ranges
//! come out, so a query costs a bounded number of index seeks.

use serde_json::Value;

use crate::index::IndexDefinition;
use crate::keys::{
    TAG_ARRAY, TAG_FALSE, TAG_NULL, TAG_NUMBER, TAG_OBJECT, TAG_STRING, TAG_TRUE, encode_bound,
    encode_key, prefix_end, string_prefix,
};
use crate::path::FieldPath;
use crate::selector::{Condition, Selector};

/// Past this many ranges, narrowing stops at the current column.
pub(crate) const MAX_RANGES: usize = 64;

/// One range of encoded keys: `start` inclusive, `end` exclusive (`None`: to
/// the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Vec<u8>,
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key: no narrowing.
    pub fn full() -> KeyRange {
        KeyRange {
            start: Vec::new(),
            end: None,
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && below(key, &self.end)
    }

    /// Every key that starts with `prefix`.
    fn prefixed(prefix: Vec<u8>) -> KeyRange {
        KeyRange {
            end: prefix_end(&prefix),
            start: prefix,
        }
    }
}

/// The ranges of `index` that hold every row `selector` can match: sorted
/// ascending, disjoint (overlapping and touching ranges merged), so reading
/// them in order (or all reversed, for a descending index) yields index
/// order. Empty means nothing can match (`$in: []`); `[KeyRange::full()]`
/// means no narrowing.
pub fn index_ranges(selector: &Selector, index: &IndexDefinition) -> Vec<KeyRange> {
    let filters = std::iter::once(selector).chain(&index.partial_filter_selector);
    let mut conjuncts = Vec::new();
    for filter in filters {
        // A selector that is only `{"$or": []}` matches nothing.
        if matches!(filter, Selector::Or(any) if any.is_empty()) {
            return Vec::new();
        }
        flatten(filter, &mut conjuncts);
    }
    let columns: Vec<Column> = index
        .fields
        .iter()
        .take_while(|f| !is_raw(&f.path))
        .map(|f| column(&conjuncts, &f.path))
        .collect();
    if columns.iter().any(Vec::is_empty) {
        return Vec::new();
    }

    // Key prefixes still fixed column by column, and ranges already bounded.
    let mut open = vec![Vec::new()];
    let mut closed = Vec::new();
    for mut set in columns {
        if is_everything(&set) {
            break;
        }
        if closed.len() + open.len() * set.len() > MAX_RANGES {
            set = hull(set);
        }
        let mut next = Vec::new();
        for prefix in &open {
            for piece in &set {
                match &piece.point {
                    Some(value) => next.push([prefix.as_slice(), value].concat()),
                    None => closed.push(KeyRange {
                        start: [prefix.as_slice(), &piece.lo].concat(),
                        end: match &piece.hi {
                            // No encoding is a proper prefix of `hi`, so a
                            // later column cannot push a key past it.
                            Some(hi) => Some([prefix.as_slice(), hi].concat()),
                            None => prefix_end(prefix),
                        },
                    }),
                }
            }
        }
        open = next;
        if open.is_empty() {
            break;
        }
    }
    closed.extend(open.into_iter().map(KeyRange::prefixed));
    merge(closed)
}

/// `_id` compares in raw collation (and `_rev` is kept out with it): a key in
/// view collation cannot be narrowed by their conditions.
fn is_raw(path: &FieldPath) -> bool {
    matches!(path.segments(), [only] if only == "_id" || only == "_rev")
}

/// The members of the top-level conjunction. A nested empty `$or` is a no-op
/// and a one-member `$or` is its member; other `$or`s narrow nothing here.
fn flatten<'a>(selector: &'a Selector, out: &mut Vec<&'a Selector>) {
    match selector {
        Selector::And(all) => all.iter().for_each(|s| flatten(s, out)),
        Selector::Or(any) if any.len() == 1 => flatten(&any[0], out),
        Selector::Field { .. } => out.push(selector),
        Selector::Or(_) | Selector::Not(_) => {}
    }
}

/// A set of values of one column, as pieces of the space of their encodings.
type Column = Vec<Piece>;

/// The values whose encoding is in `lo..hi` (`None`: unbounded). Invariant:
/// no value's encoding is a proper prefix of `hi`, so that `prefix ++ hi`
/// still bounds every key whose column after `prefix` is in the piece.
#[derive(Debug, Clone, PartialEq)]
struct Piece {
    lo: Vec<u8>,
    hi: Option<Vec<u8>>,
    /// `Some(enc(v))` when the piece is exactly the values that encode as
    /// `enc(v)` (`lo == enc(v)`, `hi == prefix_end(enc(v))`): the column is
    /// then fixed and the next one can narrow.
    point: Option<Vec<u8>>,
}

impl Piece {
    fn point(value: &Value) -> Piece {
        let bytes = encode_key(std::slice::from_ref(value));
        Piece {
            hi: prefix_end(&bytes),
            lo: bytes.clone(),
            point: Some(bytes),
        }
    }

    fn interval(lo: Vec<u8>, hi: Option<Vec<u8>>) -> Piece {
        Piece {
            lo,
            hi,
            point: None,
        }
    }

    fn everything() -> Piece {
        Piece::interval(Vec::new(), None)
    }

    /// Every value of the JSON types whose tags run from `first` to `last`.
    fn types(first: u8, last: u8) -> Piece {
        Piece::interval(vec![first], Some(vec![last + 1]))
    }

    fn intersect(&self, other: &Piece) -> Option<Piece> {
        let lo = self.lo.clone().max(other.lo.clone());
        let hi = match (&self.hi, &other.hi) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        if !below(&lo, &hi) {
            return None;
        }
        let same = |p: &Piece| p.lo == lo && p.hi == hi;
        let point = [self, other]
            .into_iter()
            .find(|p| p.point.is_some() && same(p))
            .and_then(|p| p.point.clone());
        Some(Piece { lo, hi, point })
    }
}

/// Is `key` below the exclusive bound `hi` (`None`: no bound)?
fn below(key: &[u8], hi: &Option<Vec<u8>>) -> bool {
    hi.as_ref().is_none_or(|hi| key < hi.as_slice())
}

/// Raises the exclusive bound `hi` to `other` if that is higher.
fn raise(hi: &mut Option<Vec<u8>>, other: Option<Vec<u8>>) {
    if let Some(current) = hi
        && other.as_ref().is_none_or(|o| o > current)
    {
        *hi = other;
    }
}

/// The values of the column at `path` that every conjunct on it allows.
fn column(conjuncts: &[&Selector], path: &FieldPath) -> Column {
    let mut set = vec![Piece::everything()];
    for conjunct in conjuncts {
        if let Selector::Field { path: p, condition } = conjunct
            && p == path
        {
            set = intersect(&set, &allowed(condition));
        }
    }
    set
}

/// The values of a present field that `condition` can match, as sorted,
/// disjoint pieces.
fn allowed(condition: &Condition) -> Column {
    use Condition::*;
    match condition {
        Eq(v) => vec![Piece::point(v)],
        // `$in` also matches an array holding one of the values.
        In(values) if values.is_empty() => Vec::new(),
        In(values) => {
            let mut pieces: Vec<Piece> = values.iter().map(Piece::point).collect();
            pieces.push(Piece::types(TAG_ARRAY, TAG_ARRAY));
            normalize(pieces)
        }
        // Inclusive bounds: a value above `v` may share its encoding.
        Gt(v) | Gte(v) => vec![Piece::interval(encode_bound(v), None)],
        Lt(v) | Lte(v) => vec![Piece::interval(Vec::new(), prefix_end(&encode_bound(v)))],
        BeginsWith(prefix) => {
            let lo = string_prefix(prefix);
            vec![Piece::interval(lo.clone(), prefix_end(&lo))]
        }
        Type(name) => match name.as_str() {
            "null" => vec![Piece::types(TAG_NULL, TAG_NULL)],
            "boolean" => vec![Piece::types(TAG_FALSE, TAG_TRUE)],
            "number" => vec![Piece::types(TAG_NUMBER, TAG_NUMBER)],
            "string" => vec![Piece::types(TAG_STRING, TAG_STRING)],
            "array" => vec![Piece::types(TAG_ARRAY, TAG_ARRAY)],
            "object" => vec![Piece::types(TAG_OBJECT, TAG_OBJECT)],
            _ => Vec::new(),
        },
        // A row of the index has the field.
        Exists(false) => Vec::new(),
        All(values) if values.is_empty() => Vec::new(),
        Size(_) | All(_) | ElemMatch(_) | AllMatch(_) => vec![Piece::types(TAG_ARRAY, TAG_ARRAY)],
        KeyMapMatch(_) => vec![Piece::types(TAG_OBJECT, TAG_OBJECT)],
        Regex(_) => vec![Piece::types(TAG_STRING, TAG_STRING)],
        Mod { .. } => vec![Piece::types(TAG_NUMBER, TAG_NUMBER)],
        Ne(_) | Nin(_) | Exists(true) | Not(_) => vec![Piece::everything()],
    }
}

fn is_everything(set: &Column) -> bool {
    matches!(set.as_slice(), [only] if *only == Piece::everything())
}

/// Both columns are sorted and disjoint, so one merge-like pass suffices:
/// two `$in` of thousands of values on one field stay linear.
fn intersect(a: &Column, b: &Column) -> Column {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        out.extend(x.intersect(y));
        // The piece that ends first can meet nothing further in the other.
        let x_first = match (&x.hi, &y.hi) {
            (Some(x), Some(y)) => x <= y,
            (x, _) => x.is_some(),
        };
        if x_first {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Sorts pieces and merges overlapping ones; a point survives only alone
/// (or merged with the same point).
fn normalize(mut pieces: Vec<Piece>) -> Column {
    pieces.sort_by(|a, b| a.lo.cmp(&b.lo));
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match out.last_mut() {
            Some(last) if below(&piece.lo, &last.hi) => {
                if *last != piece {
                    last.point = None;
                    raise(&mut last.hi, piece.hi);
                }
            }
            _ => out.push(piece),
        }
    }
    out
}

/// One piece covering the whole (sorted, non-empty) set.
fn hull(set: Column) -> Column {
    match (set.first(), set.last()) {
        (Some(first), Some(last)) if set.len() > 1 => {
            vec![Piece::interval(first.lo.clone(), last.hi.clone())]
        }
        _ => set,
    }
}

/// Sorts ranges and merges those that overlap or touch.
fn merge(mut ranges: Vec<KeyRange>) -> Vec<KeyRange> {
    ranges.retain(|r| below(&r.start, &r.end));
    ranges.sort_by(|a, b| a.start.cmp(&b.start));
    let mut out: Vec<KeyRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match out.last_mut() {
            Some(last) if last.end.as_ref().is_none_or(|end| range.start <= *end) => {
                raise(&mut last.end, range.end);
            }
            _ => out.push(range),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_selector;
    use serde_json::json;

    fn ranges(selector: Value, fields: Value) -> Vec<KeyRange> {
        let index = IndexDefinition::parse(&json!({"index": {"fields": fields}})).unwrap();
        index_ranges(&parse_selector(&selector).unwrap(), &index)
    }

    fn key(values: Value) -> Vec<u8> {
        encode_key(values.as_array().unwrap())
    }

    #[test]
    fn no_condition_is_the_full_range() {
        assert_eq!(ranges(json!({}), json!(["a"])), [KeyRange::full()]);
        assert_eq!(
            ranges(json!({"a": {"$ne": 1}}), json!(["a"])),
            [KeyRange::full()]
        );
        assert_eq!(
            ranges(json!({"b": 1}), json!(["a", "b"])),
            [KeyRange::full()]
        );
    }

    #[test]
    fn equalities_fix_columns_and_the_next_one_narrows() {
        let r = ranges(
            json!({"a": 1, "b": "x", "c": {"$gt": 2}}),
            json!(["a", "b", "c", "d"]),
        );
        assert_eq!(r.len(), 1);
        let prefix = key(json!([1, "x"]));
        assert_eq!(r[0].start, [prefix.clone(), key(json!([2]))].concat());
        assert_eq!(r[0].end, prefix_end(&prefix));
    }

    #[test]
    fn nothing_can_match_an_empty_in_or_a_missing_field() {
        assert!(ranges(json!({"a": {"$in": []}}), json!(["a"])).is_empty());
        assert!(ranges(json!({"b": {"$exists": false}}), json!(["a", "b"])).is_empty());
        assert!(ranges(json!({"a": {"$gt": 5, "$lt": 1}}), json!(["a"])).is_empty());
        assert!(ranges(json!({"$or": []}), json!(["a"])).is_empty());
    }

    #[test]
    fn id_and_rev_never_narrow() {
        assert_eq!(
            ranges(json!({"_id": "x"}), json!(["_id"])),
            [KeyRange::full()]
        );
        let r = ranges(json!({"a": 1, "_rev": "1-x"}), json!(["a", "_rev"]));
        assert_eq!(r, [KeyRange::prefixed(key(json!([1])))]);
    }

    #[test]
    fn too_many_points_fall_back_to_their_hull() {
        let many: Vec<i64> = (0..100).collect();
        let r = ranges(json!({"a": {"$in": many}, "b": 1}), json!(["a", "b"]));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].start, key(json!([0])));
        assert_eq!(r[0].end, Some(vec![TAG_ARRAY + 1]));
        let eight: Vec<i64> = (0..8).collect();
        let r = ranges(
            json!({"a": {"$in": eight}, "b": {"$in": eight}}),
            json!(["a", "b"]),
        );
        // 8 points on `a` (plus its array range) × 8 points on `b` is past
        // the cap, so `b` narrows as one interval per `a`.
        assert!(r.len() <= MAX_RANGES, "{}", r.len());
        assert!(r.len() > 8, "{}", r.len());
    }

    #[test]
    fn a_point_overlapped_by_another_piece_is_no_longer_a_point() {
        let one = Piece::point(&json!(1));
        let from_one = Piece::interval(one.lo.clone(), None);
        let merged = normalize(vec![from_one.clone(), one.clone()]);
        assert_eq!(merged, [from_one]);
        let twice = normalize(vec![one.clone(), one.clone()]);
        assert_eq!(twice, vec![one.clone()]);
        let inside = Piece::interval(one.lo.clone(), one.hi.clone());
        assert_eq!(one.intersect(&inside), Some(one.clone()));
        assert_eq!(normalize(vec![one, inside.clone()]), [inside]);
    }

    #[test]
    fn a_partial_filter_narrows_too() {
        let index = IndexDefinition::parse(
            &json!({"index": {"fields": ["a"], "partial_filter_selector": {"a": {"$gte": 3}}}}),
        )
        .unwrap();
        let r = index_ranges(&Selector::match_all(), &index);
        let start = key(json!([3]));
        assert_eq!(r, [KeyRange { start, end: None }]);
    }
}
