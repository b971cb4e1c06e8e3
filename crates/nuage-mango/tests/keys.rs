//! Index keys as bytes, checked against the definitions they stand for:
//! the encoding against `collate` (monotone, equal when collation says
//! equal) and the key ranges against `Selector::matches` (every matching
//! row is inside), over a few thousand seeded random cases, plus the
//! examples a reader would try first.

use std::cmp::Ordering;

use icu_collator::CollatorBorrowed;
use icu_collator::options::{CollatorOptions, Strength};
use nuage_mango::{
    IndexDefinition, KeyRange, collate, encode_key, encode_value, index_ranges, parse_selector,
};
use serde_json::{Map, Value, json};

/// xorshift64*: deterministic, and enough to spread cases around.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces of text chosen to meet the hard parts of UCA: case, accents
/// precomposed and combining (canonically equivalent pairs), combining
/// marks that reorder, punctuation, digits, expansions (`ß`, `ﬁ`), CJK,
/// emoji, Hangul syllables and jamo, Thai prevowels (contractions), Tibetan
/// vowel signs, ignorables and U+FFFF (whose sort key bytes are `FF`).
const TEXT: &[&str] = &[
    "a",
    "A",
    "b",
    "B",
    "z",
    "e",
    "E",
    "é",
    "e\u{301}",
    "É",
    "E\u{301}",
    "\u{301}",
    "\u{323}",
    "\u{302}",
    "ß",
    "ss",
    "ﬁ",
    "fi",
    "Å",
    "A\u{30A}",
    "\u{212B}",
    "ǅ",
    "-",
    " ",
    "_",
    ".",
    "'",
    "1",
    "9",
    "10",
    "中",
    "文",
    "😀",
    "👍🏽",
    "가",
    "\u{1100}\u{1161}",
    "\u{E40}",
    "\u{E01}",
    "\u{F40}",
    "\u{F71}",
    "\u{F72}",
    "\u{0}",
    "\u{AD}",
    "\u{FFFF}",
    "\u{FFFD}",
    "ı",
    "I",
    "İ",
    "ø",
    "o\u{338}",
    "Ω",
    "ω",
    "я",
    "Я",
    "й",
    "и\u{306}",
];

fn text(rng: &mut Rng, pieces: usize) -> String {
    let n = rng.below(pieces + 1);
    (0..n).map(|_| *rng.pick(TEXT)).collect()
}

/// A random JSON value. `big` allows integers of magnitude 2^53 and more,
/// which the encoding ties with their neighbours.
fn value(rng: &mut Rng, depth: u32, big: bool) -> Value {
    let kinds = if depth == 0 { 5 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 | 3 => number(rng, big),
        4 => Value::String(text(rng, 3)),
        5 => (0..rng.below(4))
            .map(|_| value(rng, depth - 1, big))
            .collect(),
        _ => {
            let mut members = Map::new();
            for _ in 0..rng.below(3) {
                members.insert(text(rng, 1), value(rng, depth - 1, big));
            }
            Value::Object(members)
        }
    }
}

fn number(rng: &mut Rng, big: bool) -> Value {
    const EXACT: i64 = (1 << 53) - 1;
    match rng.below(if big { 7 } else { 6 }) {
        0 => json!(rng.below(5) as i64 - 2),
        1 => json!(rng.below(5) as f64 - 2.0),
        2 => json!(*rng.pick(&[0.5, -0.5, -0.0, 1e300, -1e-300, 2.5, 9007199254740992.0])),
        3 => json!(*rng.pick(&[EXACT, -EXACT, i64::MIN + 1, 1])),
        4 => json!((rng.next() as i64) >> 12),
        5 => json!(f64::from_bits(rng.next() >> 2) * if rng.chance(50) { 1.0 } else { -1.0 }),
        _ => rng
            .pick(&[
                json!(9007199254740992_i64),
                json!(9007199254740993_i64),
                json!(9007199254740994_i64),
                json!(-9007199254740993_i64),
                json!(u64::MAX),
                json!(i64::MAX),
            ])
            .clone(),
    }
}

fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    out
}

fn law_holds(order: Ordering, a: &[u8], b: &[u8]) -> bool {
    match order {
        Ordering::Less => a <= b,
        Ordering::Equal => a == b,
        Ordering::Greater => a >= b,
    }
}

/// `bookmark::compare_keys`: column by column, a prefix first.
fn compare_keys(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| collate(x, y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

fn assert_ascending(values: &[Value]) {
    for pair in values.windows(2) {
        assert_eq!(collate(&pair[0], &pair[1]), Ordering::Less);
        assert!(
            enc(&pair[0]) < enc(&pair[1]),
            "{} should encode below {}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn named_examples_keep_their_order() {
    assert_ascending(&[json!("a"), json!("A"), json!("aa"), json!("b")]);
    assert_ascending(&[
        json!(null),
        json!(false),
        json!(true),
        json!(0),
        json!(""),
        json!([]),
        json!({}),
    ]);
    assert_ascending(&[json!([1]), json!([1, 2]), json!([2])]);
    assert_ascending(&[json!({"a": 1}), json!({"a": 1, "b": 0}), json!({"b": 0})]);
    assert_ascending(&[json!(-1e300), json!(-1), json!(-0.5), json!(0), json!(0.5)]);
    assert_eq!(enc(&json!(1)), enc(&json!(1.0)));
    assert_eq!(enc(&json!(0)), enc(&json!(-0.0)));
    assert_eq!(enc(&json!("é")), enc(&json!("e\u{301}")));
    assert_eq!(
        encode_key(&[json!(1), json!("x")]),
        [enc(&json!(1)), enc(&json!("x"))].concat()
    );
    assert!(encode_key(&[json!(1)]) < encode_key(&[json!(1), json!(null)]));
}

#[test]
fn the_golden_keys_of_this_icu_version_are_unchanged() {
    // When this fails after an icu_collator upgrade, sort keys changed:
    // every stored index entry must be rebuilt before the new build serves.
    let golden: &[(Value, &[u8])] = &[
        (json!("a"), &[0x40, 43, 1, 5, 1, 5, 0]),
        (json!("A"), &[0x40, 43, 1, 5, 1, 220, 0]),
        (json!("é"), &[0x40, 51, 1, 69, 136, 1, 6, 0]),
        (json!(""), &[0x40, 1, 1, 0]),
        (json!([null, true]), &[0x50, 0x10, 0x21, 0]),
    ];
    for (value, bytes) in golden {
        assert_eq!(enc(value), *bytes, "{value}");
    }
}

#[test]
fn encoding_is_monotone_in_view_collation() {
    let mut rng = Rng(0x5EED_0001);
    // A small pool, so that equal values turn up often.
    let pool: Vec<Value> = (0..240).map(|_| value(&mut rng, 2, false)).collect();
    let encoded: Vec<Vec<u8>> = pool.iter().map(enc).collect();
    let mut equal = 0;
    for (i, a) in pool.iter().enumerate() {
        for (j, b) in pool.iter().enumerate().skip(i + 1) {
            let order = collate(a, b);
            equal += usize::from(order == Ordering::Equal && a != b);
            assert!(
                law_holds(order, &encoded[i], &encoded[j]),
                "{a} vs {b}: {order:?}"
            );
        }
    }
    assert!(equal > 0, "no distinct but equal pair was drawn");
}

#[test]
fn lone_numbers_are_monotone_even_past_2_pow_53() {
    let mut rng = Rng(0x5EED_0002);
    let pool: Vec<Value> = (0..300).map(|_| number(&mut rng, true)).collect();
    for a in &pool {
        for b in &pool {
            assert!(law_holds(collate(a, b), &enc(a), &enc(b)), "{a} vs {b}");
        }
    }
}

#[test]
fn compound_keys_are_monotone_column_by_column() {
    let mut rng = Rng(0x5EED_0003);
    let columns: Vec<Value> = (0..12).map(|_| value(&mut rng, 1, false)).collect();
    for _ in 0..3000 {
        let a: Vec<Value> = (0..rng.below(4))
            .map(|_| rng.pick(&columns).clone())
            .collect();
        let b: Vec<Value> = (0..rng.below(4))
            .map(|_| rng.pick(&columns).clone())
            .collect();
        let order = compare_keys(&a, &b);
        assert!(
            law_holds(order, &encode_key(&a), &encode_key(&b)),
            "{a:?} vs {b:?}: {order:?}"
        );
    }
}

#[test]
fn string_keys_agree_with_icu_and_hold_no_zero_byte() {
    let mut rng = Rng(0x5EED_0004);
    let mut primary = CollatorOptions::default();
    primary.strength = Some(Strength::Primary);
    let primary = CollatorBorrowed::try_new(Default::default(), primary).expect("root collation");
    let strings: Vec<String> = (0..600).map(|_| text(&mut rng, 6)).collect();
    for pair in strings.windows(2) {
        let (a, b) = (json!(pair[0]), json!(pair[1]));
        let (ka, kb) = (enc(&a), enc(&b));
        assert!(law_holds(collate(&a, &b), &ka, &kb), "{a} vs {b}");
        let inner = &ka[1..ka.len() - 1];
        assert!(!inner.contains(&0), "{a}: {ka:?}");
        // The primary section, which $beginsWith relies on, is what a
        // primary-strength collator writes.
        let mut expected = Vec::new();
        let Ok(()) = primary.write_sort_key_to(&pair[0], &mut expected);
        let cut = inner.iter().position(|&b| b == 1).unwrap_or(inner.len());
        assert_eq!(&inner[..cut], expected.as_slice(), "{a}");
    }
}

fn index(fields: &[&str], partial: Option<Value>) -> IndexDefinition {
    let mut def = json!({"fields": fields});
    if let Some(partial) = partial {
        def["partial_filter_selector"] = partial;
    }
    IndexDefinition::parse(&json!({ "index": def })).expect("a valid index")
}

/// The key of `doc` in `index`, if the document is in it.
fn row_key(index: &IndexDefinition, doc: &Value) -> Option<Vec<u8>> {
    if let Some(partial) = &index.partial_filter_selector
        && !partial.matches(doc)
    {
        return None;
    }
    let values = index
        .fields
        .iter()
        .map(|f| f.path.get(doc).cloned())
        .collect::<Option<Vec<_>>>()?;
    Some(encode_key(&values))
}

fn found(ranges: &[KeyRange], key: &[u8]) -> bool {
    ranges.iter().any(|r| r.contains(key))
}

fn assert_sorted_and_disjoint(ranges: &[KeyRange]) {
    for r in ranges {
        assert!(r.end.as_ref().is_none_or(|end| r.start < *end), "{r:?}");
    }
    for pair in ranges.windows(2) {
        let end = pair[0].end.as_ref().expect("only the last range is open");
        assert!(*end < pair[1].start, "{ranges:?}");
    }
}

#[test]
fn in_finds_a_field_holding_an_array() {
    let tags = index(&["tags"], None);
    let selector = parse_selector(&json!({"tags": {"$in": ["x", 3]}})).unwrap();
    let ranges = index_ranges(&selector, &tags);
    for doc in [
        json!({"tags": ["y", "x"]}),
        json!({"tags": "x"}),
        json!({"tags": 3.0}),
    ] {
        assert!(selector.matches(&doc));
        assert!(found(&ranges, &row_key(&tags, &doc).unwrap()), "{doc}");
    }
    assert!(!found(&ranges, &encode_key(&[json!("y")])));
}

#[test]
fn begins_with_reads_the_strings_with_that_start() {
    let names = index(&["name"], None);
    let selector = parse_selector(&json!({"name": {"$beginsWith": "Am"}})).unwrap();
    let ranges = index_ranges(&selector, &names);
    assert_eq!(ranges.len(), 1);
    for name in ["Am", "Amélie", "Am\u{301}élie", "Amy", "Am😀"] {
        assert!(found(&ranges, &encode_key(&[json!(name)])), "{name}");
    }
    for outside in ["Al", "Bob", "", "A", 1.to_string().as_str()] {
        assert!(!found(&ranges, &encode_key(&[json!(outside)])), "{outside}");
    }
    assert!(!found(&ranges, &encode_key(&[json!(["Am"])])));
}

#[test]
fn comparisons_on_arrays_with_huge_integers_lose_no_row() {
    // 2^53 and 2^53 + 1 share an f64, so the first elements tie in the
    // encoding while collation already decides on them.
    let a = index(&["a"], None);
    let selector = parse_selector(&json!({"a": {"$lt": [9007199254740993_i64, "a"]}})).unwrap();
    let doc = json!({"a": [9007199254740992_i64, "b"]});
    assert!(selector.matches(&doc));
    assert!(found(
        &index_ranges(&selector, &a),
        &row_key(&a, &doc).unwrap()
    ));
}

/// A random condition on one field, as selector JSON.
fn condition(rng: &mut Rng, pool: &[Value]) -> Value {
    let v = rng.pick(pool).clone();
    let w = rng.pick(pool).clone();
    match rng.below(16) {
        0 | 1 => v,
        2 => json!({"$eq": v}),
        3 => {
            let n = rng.below(4);
            json!({"$in": (0..n).map(|_| rng.pick(pool).clone()).collect::<Vec<_>>()})
        }
        4 => json!({"$gt": v}),
        5 => json!({"$gte": v}),
        6 => json!({"$lt": v}),
        7 => json!({"$lte": v}),
        8 => json!({"$gte": v, "$lt": w}),
        9 => {
            let s = match &v {
                Value::String(s) => s.chars().take(rng.below(4)).collect(),
                _ => text(rng, 2),
            };
            json!({"$beginsWith": s})
        }
        10 => json!({"$ne": v}),
        11 => json!({"$exists": rng.chance(70)}),
        12 => {
            json!({"$type": rng.pick(&["null", "boolean", "number", "string", "array", "object", "x"])})
        }
        13 => json!({"$size": rng.below(3)}),
        14 => json!({"$elemMatch": {"$eq": v}}),
        _ => json!({"$regex": "^a"}),
    }
}

fn selector(rng: &mut Rng, pool: &[Value], fields: &[&str]) -> Value {
    let mut members = Map::new();
    for _ in 0..rng.below(4) {
        let field = *rng.pick(fields);
        match rng.below(10) {
            0 => {
                let or: Vec<Value> = (0..rng.below(3))
                    .map(|_| json!({ field: condition(rng, pool) }))
                    .collect();
                members.insert("$or".into(), json!(or));
            }
            1 => {
                let and = [condition(rng, pool), condition(rng, pool)].map(|c| json!({ field: c }));
                members.insert("$and".into(), json!(and));
            }
            _ => {
                members.insert(field.into(), condition(rng, pool));
            }
        }
    }
    Value::Object(members)
}

#[test]
fn ranges_hold_every_matching_row() {
    let mut rng = Rng(0x5EED_0005);
    let fields = ["a", "b", "c", "_id"];
    // Values from one pool, so that selectors meet documents that match.
    let mut pool: Vec<Value> = (0..20).map(|_| value(&mut rng, 1, true)).collect();
    // Arrays of pool values: `$in` finds them by element, and comparisons
    // with arrays meet numbers that tie in the encoding.
    for _ in 0..8 {
        let items: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| rng.pick(&pool).clone())
            .collect();
        pool.push(Value::Array(items));
    }
    let docs: Vec<Value> = (0..60)
        .map(|i| {
            let mut doc = json!({"_id": format!("d{i}")});
            for f in &fields[..3] {
                if rng.chance(85) {
                    doc[f] = rng.pick(&pool).clone();
                }
            }
            doc
        })
        .collect();
    let (mut checked, mut narrowed) = (0, 0);
    for case in 0..2500 {
        // `_id` now and then: ranges never narrow on it.
        let mut unique: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| {
                let from = if rng.chance(10) {
                    &fields[..]
                } else {
                    &fields[..3]
                };
                *rng.pick(from)
            })
            .collect();
        unique.dedup();
        let partial = rng
            .chance(15)
            .then(|| selector(&mut rng, &pool, &fields[..3]));
        let index = index(&unique, partial);
        // Conditions on the index's fields more often than not.
        let mut likely = unique.clone();
        likely.extend(unique.iter().chain(&fields));
        let body = selector(&mut rng, &pool, &likely);
        let Ok(sel) = parse_selector(&body) else {
            continue;
        };
        let ranges = index_ranges(&sel, &index);
        assert!(ranges.len() <= 64, "case {case}: {} ranges", ranges.len());
        assert_sorted_and_disjoint(&ranges);
        let narrow = ranges != [KeyRange::full()];
        narrowed += usize::from(narrow);
        for doc in &docs {
            if let Some(key) = row_key(&index, doc)
                && sel.matches(doc)
            {
                checked += usize::from(narrow);
                assert!(
                    found(&ranges, &key),
                    "case {case}: {doc} matches {body} but its key is outside {ranges:?} of {:?}",
                    index.fields
                );
            }
        }
    }
    eprintln!("{checked} matching rows checked in {narrowed} narrowed queries");
    assert!(checked > 2000, "only {checked} matching rows were checked");
    assert!(narrowed > 400, "only {narrowed} queries narrowed");
}

#[test]
fn begins_with_ranges_hold_every_continuation() {
    let mut rng = Rng(0x5EED_0006);
    let names = index(&["n"], None);
    for _ in 0..2000 {
        let prefix = text(&mut rng, 3);
        let selector = parse_selector(&json!({"n": {"$beginsWith": prefix}})).unwrap();
        let ranges = index_ranges(&selector, &names);
        for _ in 0..3 {
            let name = format!("{prefix}{}", text(&mut rng, 3));
            assert!(
                found(&ranges, &encode_key(&[json!(name)])),
                "{name:?} begins with {prefix:?}"
            );
        }
    }
}

#[test]
#[ignore = "exhaustive, about a minute in release: cargo test --release -- --ignored"]
fn an_ascii_prefix_is_weighed_the_same_whatever_follows() {
    // The premise of $beginsWith narrowing: no root contraction starts with
    // an ASCII character.
    let names = index(&["n"], None);
    for a in (0..0x80_u8).map(char::from) {
        let selector = parse_selector(&json!({"n": {"$beginsWith": a.to_string()}})).unwrap();
        let ranges = index_ranges(&selector, &names);
        for x in (0..=0x10FFFF).filter_map(char::from_u32) {
            let name = String::from_iter([a, x]);
            assert!(found(&ranges, &encode_key(&[json!(name)])), "{name:?}");
        }
    }
}
