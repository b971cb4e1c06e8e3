//! Mango selectors: the AST a `_find` selector parses into, normalised the
//! way CouchDB normalises it, so that matching here, compiling to SQL later
//! and choosing an index all see the same tree.
//!
//! What stays true of a parsed [`Selector`]:
//! - Implicit operators are explicit: several members are an [`Selector::And`],
//!   a bare value is [`Condition::Eq`], nested field objects are joined into
//!   one [`FieldPath`] (`{"a": {"b": 1}}` is `a.b == 1`).
//! - At the top level, negations are pushed to the leaves (CouchDB's
//!   `norm_negations`): `$not`/`$nor` never appear above a field, De Morgan
//!   turns `$not $and` into `$or` of negations, and `$not` of a comparison is
//!   the opposite comparison. So `{"$not": {"a": 1}}` is `a $ne 1`, which —
//!   like every condition but `{"$exists": false}` — requires `a` to exist.
//!   Only operators with no opposite stay wrapped in [`Condition::Not`].
//! - Inside `$elemMatch`, `$allMatch` and `$keyMapMatch`, CouchDB does not
//!   normalise negations, so a literal [`Selector::Not`] may appear there and
//!   only there.
//! - Field paths are never empty at the top level; inside the three operators
//!   above, the empty path means the element (or key) itself.

mod bounds;
mod matches;
mod parse;
mod requires;

pub use bounds::{
    MAX_REGEX_BYTES, MAX_REGEX_CACHE_BYTES, MAX_SELECTOR_NODES, MAX_SELECTOR_REGEXES,
};
pub use parse::parse_selector;

use serde_json::Value;

use crate::path::FieldPath;

#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// All must match; `And(vec![])` matches everything (it is what `{}`
    /// parses to).
    And(Vec<Selector>),
    /// One must match. An empty `$or` is a no-op when nested (matches); a
    /// selector that is nothing but `{"$or": []}` matches nothing, as CouchDB
    /// answers (see [`Selector::matches`]).
    Or(Vec<Selector>),
    /// Literal negation; only inside `$elemMatch`, `$allMatch` and
    /// `$keyMapMatch` arguments (see the module documentation).
    Not(Box<Selector>),
    /// The value at `path` must exist and satisfy `condition`; the one
    /// exception is [`Condition::Exists`]`(false)`, which a missing field
    /// satisfies.
    Field {
        path: FieldPath,
        condition: Condition,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    // Comparisons use view collation across types (`{"$gt": null}` matches
    // any string or number), raw collation for `_id`.
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    /// The value, or for an array any element, equals one of these.
    In(Vec<Value>),
    /// The value, or for an array every element, equals none of these.
    Nin(Vec<Value>),
    Exists(bool),
    /// One of `null`, `boolean`, `number`, `string`, `array`, `object`;
    /// CouchDB accepts any string, and an unknown one matches nothing.
    Type(String),
    Size(u64),
    /// `value % divisor == remainder` for integer values, with the sign of
    /// the value (Erlang `rem`).
    Mod {
        divisor: i64,
        remainder: i64,
    },
    Regex(Pattern),
    /// CouchDB 3.4+: a case-sensitive string prefix.
    BeginsWith(String),
    /// An array containing every one of these (exact JSON equality).
    All(Vec<Value>),
    /// A non-empty array with at least one element matching.
    ElemMatch(Box<Selector>),
    /// A non-empty array with every element matching.
    AllMatch(Box<Selector>),
    /// A non-empty object with at least one key matching.
    KeyMapMatch(Box<Selector>),
    /// Negation of an operator that has no opposite (`$regex`, `$size`…).
    Not(Box<Condition>),
}

/// A compiled `$regex`; equal when the source is.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl Pattern {
    /// Compiles `source` within [`MAX_REGEX_BYTES`] (and a lazy DFA cache of
    /// [`MAX_REGEX_CACHE_BYTES`]): `None` if it is not a regular
    /// expression, `Err` if it is too big.
    pub(crate) fn new(source: &str) -> Result<Option<Pattern>, crate::MangoError> {
        match regex::RegexBuilder::new(source)
            .size_limit(MAX_REGEX_BYTES)
            .dfa_size_limit(MAX_REGEX_CACHE_BYTES)
            .build()
        {
            Ok(regex) => Ok(Some(Pattern {
                source: source.to_owned(),
                regex,
            })),
            Err(regex::Error::CompiledTooBig(_)) => {
                Err(crate::MangoError::RegexTooLarge(source.to_owned()))
            }
            Err(_) => Ok(None),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Unanchored search, as Erlang's `re:run` does.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Selector {
    /// Parses a selector; see [`parse_selector`].
    pub fn parse(value: &Value) -> Result<Selector, crate::MangoError> {
        parse_selector(value)
    }

    /// The selector that matches every document (`{}`).
    pub fn match_all() -> Selector {
        Selector::And(Vec::new())
    }

    /// The field paths this selector constrains, in first-seen order,
    /// through `$and`, `$or` and negations but not into `$elemMatch`,
    /// `$allMatch` or `$keyMapMatch` (whose paths are relative).
    pub fn fields(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields(&self, out: &mut Vec<FieldPath>) {
        match self {
            Selector::And(all) | Selector::Or(all) => {
                for s in all {
                    s.collect_fields(out);
                }
            }
            Selector::Not(inner) => inner.collect_fields(out),
            Selector::Field { path, .. } => {
                if !path.is_root() && !out.contains(path) {
                    out.push(path.clone());
                }
            }
        }
    }
}

/// The `$type` name of a JSON value.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
