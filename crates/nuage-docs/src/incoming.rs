//! A document as a client sends it: its special `_` members taken apart
//! from its body, with CouchDB's validation rules.

use crate::error::{DocError, DocResult};
use nuage_core::revs::{MAX_REVS_LIMIT, Rev, path_from_revisions};
use serde_json::{Map, Value};

/// A parsed incoming document.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub id: Option<String>,
    pub rev: Option<Rev>,
    pub deleted: bool,
    /// `_revisions` as a path, newest first.
    pub revisions: Option<Vec<Rev>>,
    pub attachments: Option<Map<String, Value>>,
    /// Attachments the server itself stored already (a standalone
    /// attachment's content, never base64), in their stored form; never
    /// taken from a client's body.
    pub stored_attachments: Map<String, Value>,
    /// Everything else: the user's fields.
    pub body: Map<String, Value>,
}

/// Special members CouchDB accepts on input; others are refused.
const ACCEPTED: &[&str] = &[
    "_id",
    "_rev",
    "_deleted",
    "_attachments",
    "_revisions",
    "_revs_info",
    "_conflicts",
    "_deleted_conflicts",
    "_local_seq",
];

/// Is `id` acceptable as a document id? Ids starting with `_` are reserved
/// except `_design/…` (and `_local/…`, handled by their own routes).
pub fn check_doc_id(id: &str) -> DocResult<()> {
    // CouchDB answers these with 400 `illegal_docid` (couch_doc:validate_docid).
    let illegal = |reason: &str| DocError::IllegalDocId(reason.to_owned());
    if id.is_empty() {
        return Err(illegal("Document id must not be empty"));
    }
    if id.len() > 2048 {
        return Err(illegal("Document id is longer than 2048 bytes"));
    }
    check_no_nul(id)?;
    if id.starts_with('_') && !id.starts_with("_design/") {
        return Err(illegal(
            "Only reserved document ids may start with underscore.",
        ));
    }
    Ok(())
}

/// PostgreSQL's text cannot hold U+0000; refusing it in ids on both
/// engines keeps the same input giving the same answer everywhere.
pub fn check_no_nul(id: &str) -> DocResult<()> {
    if id.contains('\0') {
        return Err(DocError::IllegalDocId(
            "Document id must not contain the NUL character (U+0000); choose another id".into(),
        ));
    }
    Ok(())
}

pub fn parse(value: Value) -> DocResult<Incoming> {
    let Value::Object(obj) = value else {
        return Err(DocError::bad_request("Document must be a JSON object"));
    };
    let mut inc = Incoming::default();
    for (k, v) in obj {
        if !k.starts_with('_') {
            inc.body.insert(k, v);
            continue;
        }
        if !ACCEPTED.contains(&k.as_str()) {
            return Err(DocError::doc_validation(format!(
                "Bad special document member: {k}"
            )));
        }
        match k.as_str() {
            "_id" => match v {
                Value::String(s) => inc.id = Some(s),
                _ => return Err(DocError::bad_request("Document id must be a string")),
            },
            "_rev" => match v {
                Value::String(s) => {
                    inc.rev = Some(
                        Rev::parse(&s)
                            .ok_or_else(|| DocError::bad_request("Invalid rev format"))?,
                    )
                }
                Value::Null => {}
                _ => return Err(DocError::bad_request("Invalid rev format")),
            },
            "_deleted" => inc.deleted = v.as_bool().unwrap_or(false),
            "_attachments" => match v {
                Value::Object(m) => inc.attachments = Some(m),
                Value::Null => {}
                _ => return Err(DocError::bad_request("_attachments must be an object")),
            },
            "_revisions" => inc.revisions = Some(parse_revisions(&v)?),
            // Output-only members a client may echo back: ignored.
            _ => {}
        }
    }
    if let Some(id) = &inc.id {
        check_doc_id(id)?;
    }
    Ok(inc)
}

fn parse_revisions(v: &Value) -> DocResult<Vec<Rev>> {
    let bad = || {
        DocError::bad_request(
            "_revisions must be {\"start\": N, \"ids\": [...]} with N ≥ the number of ids",
        )
    };
    let start = v.get("start").and_then(Value::as_u64).ok_or_else(bad)?;
    let all = v.get("ids").and_then(Value::as_array).ok_or_else(bad)?;
    if (start as usize) < all.len() {
        return Err(bad());
    }
    // Stemmed on parse: no doctype keeps more than MAX_REVS_LIMIT
    // revisions of a branch, so older ids would be forgotten right after
    // the merge, and a path of 100,000 ids would cost that many rows.
    let ids: Vec<String> = all
        .iter()
        .take(MAX_REVS_LIMIT)
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<DocResult<_>>()?;
    path_from_revisions(start, &ids).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn special_members_are_taken_apart() {
        let inc = parse(
            json!({"_id": "a", "_rev": "2-x", "_deleted": true, "name": "n",
            "_revisions": {"start": 2, "ids": ["x", "w"]}}),
        )
        .unwrap();
        assert_eq!(inc.id.as_deref(), Some("a"));
        assert_eq!(inc.rev, Rev::parse("2-x"));
        assert!(inc.deleted);
        assert_eq!(
            inc.revisions.unwrap(),
            vec![Rev::new(2, "x"), Rev::new(1, "w")]
        );
        assert_eq!(inc.body, json!({"name": "n"}).as_object().unwrap().clone());
    }

    #[test]
    fn a_long_revisions_path_is_stemmed_on_parse() {
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("{i:032x}")).collect();
        let inc = parse(json!({"_revisions": {"start": n, "ids": ids}})).unwrap();
        let path = inc.revisions.unwrap();
        assert_eq!(path.len(), MAX_REVS_LIMIT);
        assert_eq!(path[0], Rev::new(n as u64, format!("{:032x}", 0)));
        assert_eq!(
            path.last().unwrap().pos,
            (n - MAX_REVS_LIMIT + 1) as u64,
            "the newest ids are kept"
        );
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        assert_eq!(
            parse(json!({"_foo": 1})).unwrap_err(),
            DocError::Validation("Bad special document member: _foo".into())
        );
        assert!(matches!(
            parse(json!([1])).unwrap_err(),
            DocError::Invalid(_)
        ));
        assert_eq!(
            parse(json!({"_id": "_x"})).unwrap_err(),
            DocError::IllegalDocId("Only reserved document ids may start with underscore.".into())
        );
        assert!(parse(json!({"_id": "_design/x"})).is_ok());
        assert_eq!(
            parse(json!({"_rev": "nope"})).unwrap_err(),
            DocError::Invalid("Invalid rev format".into())
        );
    }
}
