//! Batch bodies read with their bound applied while they are parsed:
//! `_bulk_docs`, `_bulk_get`, `_revs_diff` and the `keys` of `_all_docs`
//! keep at most their limit of entries as JSON values and only count the
//! rest, so a body of millions of `{}` costs one pass over its bytes, not
//! millions of allocated values before a 413. Pure: bytes in, values or a
//! `DocError` out.

use std::fmt;

use nuage_docs::{Batch, DocError};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// An array of which the first `keep` elements are kept; `seen` counts all.
struct Bounded {
    keep: usize,
}

struct Kept {
    values: Vec<Value>,
    seen: usize,
}

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Kept;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kept, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Kept;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kept, A::Error> {
        let mut values = Vec::new();
        let mut seen = 0;
        loop {
            if seen < self.keep {
                match seq.next_element::<Value>()? {
                    Some(v) => values.push(v),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            seen += 1;
        }
        Ok(Kept { values, seen })
    }
}

/// The members of a batch body: `list` read through [`Bounded`], the
/// `others` as values, the rest skipped.
struct Body<'a> {
    list: &'a str,
    keep: usize,
    others: Others<'a>,
}

/// Which members besides the list a body keeps.
#[derive(Clone, Copy)]
enum Others<'a> {
    Named(&'a [&'a str]),
    /// Every one (`_all_docs` options, which the query string may carry
    /// as well).
    All,
}

impl Others<'_> {
    fn keeps(self, key: &str) -> bool {
        match self {
            Others::Named(names) => names.contains(&key),
            Others::All => true,
        }
    }
}

struct Read {
    list: Option<Kept>,
    others: Map<String, Value>,
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Read;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Read;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        let mut read = Read {
            list: None,
            others: Map::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            if key == self.list {
                read.list = Some(map.next_value_seed(Bounded { keep: self.keep })?);
            } else if self.others.keeps(&key) {
                read.others.insert(key, map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(read)
    }
}

fn parse<'de, S: DeserializeSeed<'de>>(bytes: &'de [u8], seed: S) -> Result<S::Value, DocError> {
    if bytes.is_empty() {
        return Err(DocError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let v = seed
        .deserialize(&mut d)
        .and_then(|v| d.end().map(|()| v))
        .map_err(|e| DocError::bad_request(format!("invalid UTF-8 JSON: {e}")))?;
    Ok(v)
}

/// The length of a body's list, if it has one, read without keeping
/// anything.
struct ListLen<'a> {
    list: &'a str,
}

impl<'de> DeserializeSeed<'de> for ListLen<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListLen<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<usize>, A::Error> {
        let mut len = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.list {
                len = Some(map.next_value::<Counted>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(len)
    }
}

/// A body's list, if it has one, and the other members it keeps.
pub type ListAndOthers = (Option<Vec<Value>>, Map<String, Value>);

/// The list `body.list` of a batch body (`None` when absent), at most
/// `limit` entries, and the `others` it keeps.
fn list_of(
    bytes: &[u8],
    body: Body<'_>,
    what: Batch,
    not_array: &str,
) -> Result<ListAndOthers, DocError> {
    let limit = body.keep;
    let array_error = |e| match e {
        DocError::Invalid(r) if r.contains("expected an array") => DocError::bad_request(not_array),
        e => e,
    };
    // A first pass only counts, allocating nothing: an over-long list is
    // refused for the price of scanning its bytes, not of building the
    // values it is allowed to keep.
    if let Some(got) = parse(bytes, ListLen { list: body.list }).map_err(array_error)?
        && got > limit
    {
        return Err(DocError::TooMany { what, limit, got });
    }
    let read = parse(bytes, body).map_err(array_error)?;
    if let Some(list) = &read.list
        && list.seen > limit
    {
        return Err(DocError::TooMany {
            what,
            limit,
            got: list.seen,
        });
    }
    Ok((read.list.map(|l| l.values), read.others))
}

/// The `docs` of a batch body, at most `limit` of them, and `others`.
fn docs_of(
    bytes: &[u8],
    limit: usize,
    what: Batch,
    others: &[&str],
    missing: &str,
) -> Result<(Vec<Value>, Map<String, Value>), DocError> {
    let body = Body {
        list: "docs",
        keep: limit,
        others: Others::Named(others),
    };
    // A `docs` that is not an array reads as a missing one.
    let (docs, others) = list_of(bytes, body, what, missing)?;
    Ok((docs.ok_or_else(|| DocError::bad_request(missing))?, others))
}

/// A `POST _all_docs` body: its `keys` (at most `limit`) if given, and its
/// other members, the options.
pub fn all_docs(bytes: &[u8], limit: usize) -> Result<ListAndOthers, DocError> {
    let body = Body {
        list: "keys",
        keep: limit,
        others: Others::All,
    };
    list_of(bytes, body, Batch::AllDocsKeys, "`keys` must be an array")
}

/// `_bulk_docs`: the documents (at most `limit`) and `new_edits`.
pub fn bulk_docs(bytes: &[u8], limit: usize) -> Result<(Vec<Value>, bool), DocError> {
    let (docs, others) = docs_of(
        bytes,
        limit,
        Batch::BulkDocs,
        &["new_edits"],
        "POST body must include `docs` parameter.",
    )?;
    let new_edits = others
        .get("new_edits")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok((docs, new_edits))
}

/// `_bulk_get`: the entries of `docs`, at most `limit`.
pub fn bulk_get(bytes: &[u8], limit: usize) -> Result<Vec<Value>, DocError> {
    docs_of(
        bytes,
        limit,
        Batch::BulkGet,
        &[],
        "Missing JSON list of 'docs'.",
    )
    .map(|(docs, _)| docs)
}

/// `_revs_diff`: `{id: [rev, …]}` with at most `limit` revisions in all
/// (an id with an empty list counts as one).
pub fn revs_diff(bytes: &[u8], limit: usize) -> Result<Map<String, Value>, DocError> {
    let (asked, seen) = parse(bytes, RevsDiff { limit })?;
    if seen > limit {
        return Err(DocError::TooMany {
            what: Batch::RevsDiff,
            limit,
            got: seen,
        });
    }
    Ok(asked)
}

struct RevsDiff {
    limit: usize,
}

impl<'de> DeserializeSeed<'de> for RevsDiff {
    type Value = (Map<String, Value>, usize);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RevsDiff {
    type Value = (Map<String, Value>, usize);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of document ids to revision lists")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut asked = Map::new();
        let mut seen = 0usize;
        while let Some(id) = map.next_key::<String>()? {
            let keep = self.limit.saturating_sub(seen);
            let revs = map.next_value_seed(Bounded { keep }).map_err(|_| {
                serde::de::Error::custom(format!("revisions of {id} must be an array"))
            })?;
            seen += revs.seen.max(1);
            if seen > self.limit {
                // Only count from here on.
                while let Some((_, n)) = map.next_entry::<IgnoredAny, Counted>()? {
                    seen += n.0.max(1);
                }
                break;
            }
            asked.insert(id, Value::Array(revs.values));
        }
        Ok((asked, seen))
    }
}

/// The length of an array, read without keeping it (1 for anything else).
struct Counted(usize);

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counted, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counted;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Counted, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Counted(n))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Counted, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Counted(1))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Counted, E> {
                Ok(Counted(1))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Counted, E> {
                Ok(Counted(1))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Counted, E> {
                Ok(Counted(1))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Counted, E> {
                Ok(Counted(1))
            }
            fn visit_str<E>(self, _: &str) -> Result<Counted, E> {
                Ok(Counted(1))
            }
            fn visit_unit<E>(self) -> Result<Counted, E> {
                Ok(Counted(1))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_bulk_docs_is_counted_not_kept() {
        let body = format!(
            "{{\"new_edits\":false,\"docs\":[{}]}}",
            vec!["{}"; 20_001].join(",")
        );
        match bulk_docs(body.as_bytes(), 10_000).unwrap_err() {
            DocError::TooMany { what, limit, got } => {
                assert_eq!((what, limit, got), (Batch::BulkDocs, 10_000, 20_001));
            }
            e => panic!("{e:?}"),
        }
        let (docs, new_edits) =
            bulk_docs(br#"{"docs":[{"a":1}],"new_edits":false,"x":[1]}"#, 2).unwrap();
        assert_eq!((docs.len(), new_edits), (1, false));
        assert!(
            matches!(bulk_docs(br#"{"docs":{}}"#, 2), Err(DocError::Invalid(r)) if r.contains("`docs`"))
        );
        assert!(
            matches!(bulk_docs(br#"{"docs":[1]"#, 2), Err(DocError::Invalid(r)) if r.contains("JSON"))
        );
        assert!(matches!(bulk_docs(b"[]", 2), Err(DocError::Invalid(_))));
    }

    #[test]
    fn all_docs_keeps_at_most_its_limit_of_keys() {
        let keys = |n: usize| {
            format!(
                "{{\"limit\":2,\"keys\":[{}],\"include_docs\":true}}",
                vec!["\"k\""; n].join(",")
            )
        };
        let (kept, others) = all_docs(keys(3).as_bytes(), 3).unwrap();
        assert_eq!(kept.map(|k| k.len()), Some(3));
        assert_eq!(others.len(), 2, "{others:?}");
        // Past the limit, the rest is only counted: at most `limit` values
        // exist at any time (`Bounded` stops keeping at `keep`).
        match all_docs(keys(1_000_000).as_bytes(), 3).unwrap_err() {
            DocError::TooMany { what, limit, got } => {
                assert_eq!((what, limit, got), (Batch::AllDocsKeys, 3, 1_000_000));
            }
            e => panic!("{e:?}"),
        }
        let kept = Bounded { keep: 3 }
            .deserialize(&mut serde_json::Deserializer::from_str(&format!(
                "[{}]",
                vec!["\"k\""; 1000].join(",")
            )))
            .unwrap();
        assert_eq!((kept.values.len(), kept.seen), (3, 1000));
        assert_eq!(all_docs(b"{}", 3).unwrap().0, None);
        assert!(
            matches!(all_docs(br#"{"keys":{}}"#, 3), Err(DocError::Invalid(r)) if r.contains("`keys` must be an array"))
        );
    }

    #[test]
    fn bulk_get_counts_its_entries() {
        let body = format!("{{\"docs\":[{}]}}", [r#"{"id":"a"}"#; 11].join(","));
        assert!(matches!(
            bulk_get(body.as_bytes(), 10),
            Err(DocError::TooMany { got: 11, .. })
        ));
        assert_eq!(bulk_get(body.as_bytes(), 11).unwrap().len(), 11);
    }

    #[test]
    fn revs_diff_counts_revisions_of_every_id() {
        let small = br#"{"a":["1-x","2-y"],"b":[]}"#;
        assert_eq!(revs_diff(small, 3).unwrap().len(), 2);
        match revs_diff(small, 2).unwrap_err() {
            DocError::TooMany { what, got, .. } => assert_eq!((what, got), (Batch::RevsDiff, 3)),
            e => panic!("{e:?}"),
        }
        let many = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"{i}\":[\"1-a\",\"2-b\"]"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(matches!(
            revs_diff(many.as_bytes(), 10),
            Err(DocError::TooMany { got: 200, .. })
        ));
    }
}
