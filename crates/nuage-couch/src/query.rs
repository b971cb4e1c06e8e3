//! CouchDB's query parameters: booleans as `true`/`false`, keys and lists
//! JSON-encoded (`startkey="a"`, `open_revs=["1-x"]`).

use nuage_core::revs::Rev;
use nuage_docs::DocError;
use nuage_docs::Meta;
use serde_json::Value;
use std::collections::HashMap;

pub struct Params(pub HashMap<String, String>);

impl Params {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> Result<bool, DocError> {
        match self.str(name) {
            None => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(v) => Err(DocError::InvalidParameter(format!(
                "Invalid boolean parameter: \"{v}\" for {name}"
            ))),
        }
    }

    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, DocError> {
        if self.0.contains_key(name) {
            self.flag(name)
        } else {
            Ok(default)
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, DocError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                DocError::InvalidParameter(format!("Invalid value for integer: \"{v}\" for {name}"))
            }),
        }
    }

    /// A JSON-encoded value (`"abc"`, `["a"]`).
    pub fn json(&self, name: &str) -> Result<Option<Value>, DocError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => serde_json::from_str(v).map(Some).map_err(|_| {
                DocError::bad_request(format!("Invalid JSON for the {name} parameter: {v}"))
            }),
        }
    }

    /// A key given as JSON string, under either CouchDB spelling.
    pub fn key(&self, a: &str, b: &str) -> Result<Option<String>, DocError> {
        let v = match self.json(a)? {
            Some(v) => Some(v),
            None => self.json(b)?,
        };
        match v {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            // Non-string keys sort before or after every id; only strings
            // make sense for _all_docs.
            Some(other) => Err(DocError::bad_request(format!(
                "{a} must be a JSON string, got {other}"
            ))),
        }
    }

    pub fn rev(&self, name: &str) -> Result<Option<Rev>, DocError> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => Rev::parse(v)
                .map(Some)
                .ok_or_else(|| DocError::bad_request("Invalid rev format")),
        }
    }

    pub fn revs_list(&self, name: &str) -> Result<Vec<Rev>, DocError> {
        match self.json(name)? {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(Rev::parse)
                        .ok_or_else(|| DocError::bad_request("Invalid rev format"))
                })
                .collect(),
            Some(_) => Err(DocError::bad_request(format!(
                "{name} must be a JSON array of revisions"
            ))),
        }
    }

    pub fn meta(&self) -> Result<Meta, DocError> {
        Ok(Meta {
            conflicts: self.flag("conflicts")?,
            deleted_conflicts: self.flag("deleted_conflicts")?,
            revs: self.flag("revs")?,
            revs_info: self.flag("revs_info")?,
            attachments: self.flag("attachments")?,
            atts_since: self.revs_list("atts_since")?,
        })
    }
}
