//! Field paths: `"director.name"` in a selector, a sort, a `fields` list or an
//! index definition, and how they walk into a document.
//!
//! A path is split on dots; a backslash makes the next character literal, so
//! `"web\\.site"` (JSON for `web\.site`) names the single key `web.site` and
//! `"\\$price"` the key `$price` ("Selector Basics" and the warning at the top
//! of "Selectors" in docs.couchdb.org). Walking follows CouchDB's rules: object
//! members by key, array elements by a decimal index (`"cast.0.name"`), and
//! anything else is a bad path. The difference between *missing* (the last
//! object lacks the key) and a *bad path* matters: only a missing field
//! satisfies `{"$exists": false}`.

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldPath {
    segments: Vec<String>,
}

/// What walking a path into a value found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    Found(&'a Value),
    /// An object on the way lacks the next key.
    Missing,
    /// The walk hit a scalar, or an array with a non-index or out-of-range
    /// segment.
    BadPath,
}

impl FieldPath {
    /// Parses a dotted field name. Never fails: an empty string is the one
    /// field named `""`, which selectors refuse at the top level.
    pub fn parse(name: &str) -> FieldPath {
        let mut segments = Vec::new();
        let mut current = String::new();
        let mut chars = name.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                '.' => segments.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        segments.push(current);
        FieldPath { segments }
    }

    /// The empty path: the value itself (an array element inside
    /// `$elemMatch`, a key inside `$keyMapMatch`).
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    pub fn from_segments(segments: Vec<String>) -> FieldPath {
        FieldPath { segments }
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// `self` followed by `child`, as a nested selector object writes it.
    pub fn join(&self, child: &FieldPath) -> FieldPath {
        let mut segments = self.segments.clone();
        segments.extend(child.segments.iter().cloned());
        FieldPath { segments }
    }

    /// Is this exactly the top-level `_id`? Mango compares it in raw order.
    pub fn is_id(&self) -> bool {
        matches!(self.segments.as_slice(), [only] if only == "_id")
    }

    pub fn lookup<'a>(&self, value: &'a Value) -> Lookup<'a> {
        let mut here = value;
        for segment in &self.segments {
            here = match here {
                Value::Object(members) => match members.get(segment) {
                    Some(next) => next,
                    None => return Lookup::Missing,
                },
                Value::Array(items) => match array_index(segment, items.len()) {
                    Some(i) => &items[i],
                    None => return Lookup::BadPath,
                },
                _ => return Lookup::BadPath,
            };
        }
        Lookup::Found(here)
    }

    /// The value at this path, if there is one.
    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        match self.lookup(value) {
            Lookup::Found(v) => Some(v),
            _ => None,
        }
    }
}

/// An array index as CouchDB reads one: a decimal integer, optionally signed,
/// within bounds.
pub(crate) fn array_index(segment: &str, len: usize) -> Option<usize> {
    let i: i64 = segment.parse().ok()?;
    usize::try_from(i).ok().filter(|&i| i < len)
}

impl fmt::Display for FieldPath {
    /// The dotted form, escaping dots and backslashes inside segments, so
    /// that `FieldPath::parse(&p.to_string()) == p`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for c in segment.chars() {
                if c == '.' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dots_split_and_backslashes_escape() {
        assert_eq!(FieldPath::parse("a.b").segments(), ["a", "b"]);
        assert_eq!(FieldPath::parse("web\\.site").segments(), ["web.site"]);
        assert_eq!(FieldPath::parse("\\$price").segments(), ["$price"]);
        assert_eq!(FieldPath::parse("").segments(), [""]);
        for name in ["a.b", "web\\.site", "a\\\\b.c"] {
            assert_eq!(FieldPath::parse(name).to_string(), name);
        }
    }

    #[test]
    fn walking_tells_missing_from_bad_paths() {
        let doc = json!({"a": {"b": 1}, "list": [{"x": 1}, {"x": 2}], "s": "str"});
        assert_eq!(
            FieldPath::parse("a.b").lookup(&doc),
            Lookup::Found(&json!(1))
        );
        assert_eq!(
            FieldPath::parse("list.1.x").lookup(&doc),
            Lookup::Found(&json!(2))
        );
        assert_eq!(FieldPath::parse("a.c").lookup(&doc), Lookup::Missing);
        assert_eq!(FieldPath::parse("nope.c").lookup(&doc), Lookup::Missing);
        assert_eq!(FieldPath::parse("s.c").lookup(&doc), Lookup::BadPath);
        assert_eq!(FieldPath::parse("list.x").lookup(&doc), Lookup::BadPath);
        assert_eq!(FieldPath::parse("list.2").lookup(&doc), Lookup::BadPath);
        assert_eq!(FieldPath::root().lookup(&doc), Lookup::Found(&doc));
    }
}
