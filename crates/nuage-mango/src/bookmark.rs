//! Bookmarks: where the next page of a `_find` resumes (docs.couchdb.org,
//! "/{db}/_find" → "Pagination").
//!
//! Our format, opaque to clients: base64url without padding of the JSON
//! `{"v": 1, "key": [...], "id": "..."}`, where `key` is the index key of the
//! last row returned (the values of the chosen index's fields, `[]` for
//! `_all_docs`) and `id` its `_id`. The next page starts strictly after that
//! `(key, id)` in the query's scan order, so documents inserted or deleted
//! meanwhile neither repeat nor shift the page, as with CouchDB's own
//! bookmarks. A bookmark is only meaningful for the query that produced it;
//! the docs call anything else undefined and so do we. A page that returns
//! nothing hands back the bookmark it was given, or `"nil"` as CouchDB does.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::MangoError;
use crate::collate::collate;

/// The bookmark CouchDB returns when there is no position yet.
pub const NIL: &str = "nil";

const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Bookmark {
    pub key: Vec<Value>,
    pub id: String,
}

impl Bookmark {
    pub fn encode(&self) -> String {
        let body = json!({"v": VERSION, "key": self.key, "id": self.id});
        URL_SAFE_NO_PAD.encode(body.to_string())
    }

    /// Decodes a bookmark string; `"nil"` and `""` are no bookmark.
    pub fn decode(text: &str) -> Result<Option<Bookmark>, MangoError> {
        if text.is_empty() || text == NIL {
            return Ok(None);
        }
        let invalid = || MangoError::InvalidBookmark(Value::from(text).to_string());
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        match (
            body.get("v").and_then(Value::as_u64),
            body.get("key"),
            body.get("id"),
        ) {
            (Some(VERSION), Some(Value::Array(key)), Some(Value::String(id))) => {
                Ok(Some(Bookmark {
                    key: key.clone(),
                    id: id.clone(),
                }))
            }
            _ => Err(invalid()),
        }
    }

    /// Where a row `(key, id)` stands against this bookmark in ascending
    /// scan order: keys in view collation, then ids in raw (byte) order.
    pub fn compare_row(&self, key: &[Value], id: &str) -> Ordering {
        compare_keys(key, &self.key).then_with(|| id.as_bytes().cmp(self.id.as_bytes()))
    }
}

/// Index keys in view collation, column by column.
pub(crate) fn compare_keys(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| collate(x, y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bookmark_survives_the_round_trip() {
        let b = Bookmark {
            key: vec![json!(1995), json!("La Haine")],
            id: "d17".into(),
        };
        let text = b.encode();
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(Bookmark::decode(&text).unwrap(), Some(b));
    }

    #[test]
    fn nil_and_empty_are_no_bookmark_and_garbage_is_refused() {
        assert_eq!(Bookmark::decode("nil").unwrap(), None);
        assert_eq!(Bookmark::decode("").unwrap(), None);
        for bad in ["%%%", "e30", "bm9wZQ"] {
            let err = Bookmark::decode(bad).unwrap_err();
            assert_eq!(err.error(), "invalid_bookmark", "{bad}");
        }
    }

    #[test]
    fn rows_compare_by_key_then_raw_id() {
        let b = Bookmark {
            key: vec![json!("b")],
            id: "m".into(),
        };
        assert_eq!(b.compare_row(&[json!("B")], "a"), Ordering::Greater);
        assert_eq!(b.compare_row(&[json!("b")], "n"), Ordering::Greater);
        assert_eq!(b.compare_row(&[json!("b")], "m"), Ordering::Equal);
        assert_eq!(b.compare_row(&[json!("a")], "z"), Ordering::Less);
    }
}
