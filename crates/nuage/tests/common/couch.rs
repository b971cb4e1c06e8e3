//! A CouchDB client for `/data`, as a replicator or an app uses it: every
//! request carries `Authorization: Bearer TOKEN`; bodies are JSON. Plus what
//! the stories check again and again: a doctype's counters and a document's
//! whole revision tree ([`DocState`]), and a streamed feed read line by line
//! ([`Lines`]).

use super::{Reply, send};
use reqwest::header::{CONTENT_TYPE, HOST};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

pub struct Couch {
    http: reqwest::Client,
    /// `http://HOST:PORT`, where requests are sent.
    base: String,
    /// A `Host` header to send instead of the one `base` implies: a
    /// request to a sibling process for the first instance.
    host: Option<String>,
    pub token: String,
}

impl Couch {
    pub fn new(http: reqwest::Client, base: String, host: Option<String>, token: &str) -> Couch {
        Couch {
            http,
            base,
            host,
            token: token.to_owned(),
        }
    }

    /// A request to `path` (`/data/…`) with this client's token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        match &self.host {
            Some(host) => rb.header(HOST, host),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        send(self.request(Method::DELETE, path)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        send(self.request(Method::POST, path).json(body)).await
    }

    /// Sends `body` as it is, said to be JSON whatever it holds.
    pub async fn send_raw(&self, method: Method, path: &str, body: impl Into<String>) -> Reply {
        send(
            self.request(method, path)
                .header(CONTENT_TYPE, "application/json")
                .body(body.into()),
        )
        .await
    }

    /// A JSON answer that must have `status`.
    pub async fn get_json(&self, path: &str, status: StatusCode) -> Value {
        self.get(path).await.json_ok(status)
    }

    /// `GET /data/{doctype}/`: the database info.
    pub async fn info(&self, doctype: &str) -> Value {
        let info = self
            .get_json(&format!("/data/{doctype}/"), StatusCode::OK)
            .await;
        assert_eq!(info["db_name"], doctype, "{info}");
        info
    }

    /// The winning revision of a document, which must exist.
    pub async fn doc(&self, doctype: &str, id: &str) -> Value {
        self.get_json(&format!("/data/{doctype}/{id}"), StatusCode::OK)
            .await
    }

    /// Writes a document (a creation, or an update when `doc` carries its
    /// `_rev`); checks CouchDB's answer, 201 `{"ok":true,"id","rev"}`, and
    /// returns the new revision.
    pub async fn save(&self, doctype: &str, id: &str, doc: &Value) -> String {
        let body = self
            .put(&format!("/data/{doctype}/{id}"), doc)
            .await
            .json_ok(StatusCode::CREATED);
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["id"], id, "{body}");
        let rev = body["rev"].as_str().unwrap_or_default();
        let prefix = doc["_rev"]
            .as_str()
            .map_or(1, |r| rev_pos(r) + 1)
            .to_string()
            + "-";
        assert!(
            rev.starts_with(&prefix) && rev.len() > prefix.len(),
            "a write answers the new revision, {prefix}…: {body}"
        );
        rev.to_owned()
    }

    /// Deletes a document at `rev`; returns the deletion's revision.
    pub async fn remove(&self, doctype: &str, id: &str, rev: &str) -> String {
        let body = self
            .delete(&format!("/data/{doctype}/{id}?rev={rev}"))
            .await
            .json_ok(StatusCode::OK);
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["id"], id, "{body}");
        body["rev"]
            .as_str()
            .unwrap_or_else(|| panic!("no rev in {body}"))
            .to_owned()
    }

    /// `_changes` (normal feed) with `query`; the whole answer.
    pub async fn changes(&self, doctype: &str, query: &str) -> Value {
        let changes = self
            .get_json(&format!("/data/{doctype}/_changes?{query}"), StatusCode::OK)
            .await;
        assert!(changes["results"].is_array(), "{changes}");
        assert!(changes["last_seq"].is_number(), "{changes}");
        changes
    }

    /// The ids a `_changes` answer lists, in its order.
    pub async fn changed_ids(&self, doctype: &str, query: &str) -> Vec<String> {
        ids_of(&self.changes(doctype, query).await["results"], "id")
    }

    /// The ids an `_all_docs` answer lists, in its order.
    pub async fn all_doc_ids(&self, doctype: &str, query: &str) -> Vec<String> {
        let all = self
            .get_json(
                &format!("/data/{doctype}/_all_docs?{query}"),
                StatusCode::OK,
            )
            .await;
        ids_of(&all["rows"], "id")
    }

    /// Everything a write could change: the doctype's counters, and each
    /// document's every leaf with its history, as the server answers them.
    /// Read it with a token that sees everything.
    pub async fn state(&self, doctype: &str, ids: &[&str]) -> DocState {
        let info = self.info(doctype).await;
        let mut docs = Vec::new();
        for id in ids {
            let reply = self
                .get(&format!("/data/{doctype}/{id}?open_revs=all&revs=true"))
                .await;
            let body = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
            docs.push((id.to_string(), reply.status.as_u16(), body));
        }
        DocState {
            update_seq: info["update_seq"].clone(),
            doc_count: info["doc_count"].clone(),
            doc_del_count: info["doc_del_count"].clone(),
            docs,
        }
    }

    /// Opens a streamed feed (`feed=continuous`, `feed=eventsource`): the
    /// headers are checked, the body is read as it comes.
    pub async fn stream(&self, path: &str) -> Lines {
        let url = format!("{}{path}", self.base);
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e:?}"));
        assert_eq!(response.status(), StatusCode::OK, "GET {url}");
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Lines {
            url,
            content_type,
            response,
            buf: Vec::new(),
        }
    }
}

/// The position of a revision, `N` in `N-id`.
pub fn rev_pos(rev: &str) -> u64 {
    rev.split_once('-')
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("not a revision: {rev:?}"))
}

/// `member` of every element of `rows`, as strings.
pub fn ids_of(rows: &Value, member: &str) -> Vec<String> {
    rows.as_array()
        .unwrap_or_else(|| panic!("expected an array of rows: {rows}"))
        .iter()
        .map(|r| {
            r[member]
                .as_str()
                .unwrap_or_else(|| panic!("a row without {member}: {r}"))
                .to_owned()
        })
        .collect()
}

/// What [`Couch::state`] saw; equal before and after a refused request
/// when that request changed nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct DocState {
    pub update_seq: Value,
    pub doc_count: Value,
    pub doc_del_count: Value,
    /// Each document's `open_revs=all&revs=true` answer: (id, status, body).
    pub docs: Vec<(String, u16, Value)>,
}

/// A streamed response body read line by line, each read bounded in time.
pub struct Lines {
    pub url: String,
    pub content_type: String,
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    /// The next line without its `\n`; `None` once the server ended the
    /// body. Fails the test if no line comes `within`.
    pub async fn next_line(&mut self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(n) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=n).collect();
                return Some(String::from_utf8_lossy(&line[..n]).into_owned());
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => panic!(
                    "no complete line from {} within {within:?}; so far: {:?}",
                    self.url,
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(Err(e)) => panic!("reading {} failed: {e:?}", self.url),
                Ok(Ok(Some(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(Ok(None)) if self.buf.is_empty() => return None,
                Ok(Ok(None)) => {
                    let rest = String::from_utf8_lossy(&self.buf).into_owned();
                    self.buf.clear();
                    return Some(rest);
                }
            }
        }
    }

    /// The next line, which must be a JSON value.
    pub async fn next_json(&mut self, within: Duration) -> Value {
        let line = self
            .next_line(within)
            .await
            .unwrap_or_else(|| panic!("{} ended where a JSON line was expected", self.url));
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON line from {} ({e}): {line:?}", self.url))
    }
}
