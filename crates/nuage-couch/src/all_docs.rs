//! `_all_docs`, streamed. The handler checks the request and reads what the
//! answer says before its rows, so every refusal still has its status; then
//! a producer task reads the rows page by page and writes them into a small
//! bounded channel that is the response body, as `_changes` does. A slow
//! client slows the producer down, memory holds about one page however many
//! documents the doctype has, and the task ends when the client goes away.
//!
//! Once the status is sent it cannot change: a failure after that is logged
//! and ends the body unfinished — an error on the stream, so the chunked
//! encoding is never terminated and the client sees a cut answer, not a
//! complete-looking one (CouchDB's `chttpd` aborts the response the same
//! way).

use super::query::Params;
use super::{DataBody, Scope, batch, couch_error, couch_response};
use crate::Recheck;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::future::BoxFuture;
use nuage_core::{Access, InstanceId};
use nuage_docs::{
    AllDocsCursor, AllDocsHead, AllDocsQuery, AllDocsRequest, DocError, DocResult, Docs,
};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Rows are sent in chunks of about this many bytes, not one by one.
const CHUNK: usize = 16 * 1024;
/// Chunks waiting in the channel at most: what a slow client can make the
/// server hold beyond the page being written.
const CHANNEL: usize = 8;

type Chunk = Result<Bytes, std::io::Error>;

pub async fn get(s: Scope, headers: HeaderMap) -> Response {
    let p = Params(s.query.0.clone());
    all_docs(s, &headers, &p, None).await
}

/// POST: options may come in the body as well as the query string.
pub async fn post(s: Scope, headers: HeaderMap, DataBody(bytes): DataBody) -> Response {
    let mut q = s.query.0.clone();
    // `keys` are counted while the body is parsed, and at most
    // MAX_ALL_DOCS_KEYS of them kept.
    let (keys, options) = match batch::all_docs(&bytes, nuage_docs::MAX_ALL_DOCS_KEYS) {
        Ok(read) => read,
        Err(e) => return couch_error(&e),
    };
    for (k, v) in options {
        // Query parameters are JSON-encoded: a value's JSON text is
        // exactly what the query string would carry.
        q.insert(k, v.to_string());
    }
    all_docs(s, &headers, &Params(q), keys.map(Value::Array)).await
}

fn parse(p: &Params, body_keys: Option<Value>) -> Result<AllDocsRequest, DocError> {
    let keys = match body_keys {
        Some(k) => Some(k),
        None => p.json("keys")?,
    };
    let keys = match keys {
        None => None,
        Some(Value::Array(a)) => Some(
            a.into_iter()
                .map(|k| match k {
                    Value::String(s) => Ok(s),
                    _ => Err(DocError::bad_request("`keys` must be an array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(DocError::bad_request("`keys` must be an array")),
    };
    // `key` is the range of that one id.
    let (start, end) = match p.key("key", "key")? {
        Some(k) => (Some(k.clone()), Some(k)),
        None => (p.key("startkey", "start_key")?, p.key("endkey", "end_key")?),
    };
    let range = AllDocsQuery {
        start,
        end,
        inclusive_end: p.flag_or("inclusive_end", true)?,
        descending: p.flag("descending")?,
        limit: p.int("limit")?,
        skip: p.int("skip")?.unwrap_or(0),
        ..AllDocsQuery::default()
    };
    Ok(AllDocsRequest {
        range,
        keys,
        include_docs: p.flag("include_docs")?,
        meta: p.meta()?,
    })
}

async fn all_docs(s: Scope, headers: &HeaderMap, p: &Params, body_keys: Option<Value>) -> Response {
    let checked = async {
        let req = parse(p, body_keys)?;
        let head = s.db()?.all_docs_head(&req).await?;
        Ok::<_, DocError>((req, head))
    }
    .await;
    let (req, head) = match checked {
        Ok(x) => x,
        Err(e) => return couch_error(&e),
    };
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL);
    let pages = StorePages {
        docs: s.state().docs.clone(),
        inst: s.caller.instance.clone(),
        access: s.caller.access.clone(),
        doctype: s.doctype.clone(),
        cursor: AllDocsCursor::new(&req),
        req,
        // A long answer outlives the credential's check at its start: it
        // is checked again on its own clock, page by page.
        held: s.state().gate.hold(headers, &s.caller.instance),
        checked: Instant::now(),
    };
    tokio::spawn(produce(head, pages, tx));
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    couch_response(
        StatusCode::OK,
        Body::from_stream(stream),
        "application/json",
    )
}

/// Where the rows come from: the store, or a script in the tests.
trait Pages: Send {
    /// The next rows (perhaps none); `None` once the answer is complete.
    fn next(&mut self) -> BoxFuture<'_, DocResult<Option<Vec<Value>>>>;
}

struct StorePages {
    docs: Docs,
    inst: InstanceId,
    access: Access,
    doctype: String,
    req: AllDocsRequest,
    cursor: AllDocsCursor,
    held: Option<Arc<dyn Recheck>>,
    checked: Instant,
}

impl Pages for StorePages {
    fn next(&mut self) -> BoxFuture<'_, DocResult<Option<Vec<Value>>>> {
        Box::pin(async move {
            if self.cursor.finished() {
                return Ok(None);
            }
            if let Some(held) = &self.held
                && self.checked.elapsed() >= held.every()
            {
                if !held.still_valid().await {
                    return Err(DocError::Refused(
                        "the credential of this answer was revoked or expired while it was sent; it is cut short".into(),
                    ));
                }
                self.checked = Instant::now();
            }
            let db = self.docs.db(&self.inst, &self.access, &self.doctype)?;
            db.all_docs_page(&self.req, &mut self.cursor)
                .await
                .map(Some)
        })
    }
}

/// Writes the whole answer into `tx`; returns when it is written, when the
/// client has gone away, or after a failure (logged, the body cut short).
async fn produce(head: AllDocsHead, mut pages: impl Pages, tx: mpsc::Sender<Chunk>) {
    let mut envelope = Envelope::new(head);
    let mut buf = Vec::with_capacity(2 * CHUNK);
    envelope.open(&mut buf);
    loop {
        // Pages a limited caller cannot read send nothing: look for a
        // client gone away before each read, not only at each send.
        if tx.is_closed() {
            return;
        }
        match pages.next().await {
            Ok(Some(rows)) => {
                for row in &rows {
                    envelope.row(row, &mut buf);
                    if buf.len() >= CHUNK && tx.send(Ok(take(&mut buf))).await.is_err() {
                        return;
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                if matches!(e, DocError::Refused(_)) {
                    tracing::debug!(error = %e, rows_sent = envelope.rows, "_all_docs cut short");
                } else {
                    tracing::error!(error = %e, rows_sent = envelope.rows, "_all_docs failed after its answer began; the body is cut short");
                }
                if tx.send(Ok(take(&mut buf))).await.is_ok() {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                }
                return;
            }
        }
    }
    envelope.close(&mut buf);
    let _ = tx.send(Ok(take(&mut buf))).await;
}

fn take(buf: &mut Vec<u8>) -> Bytes {
    Bytes::from(std::mem::replace(buf, Vec::with_capacity(2 * CHUNK)))
}

/// The text of an answer around its rows: CouchDB's
/// `{"total_rows":N,"offset":O,"rows":[…]}\n`, rows as compact JSON
/// separated by commas. A limited caller's count is of the rows it was
/// sent, known only at the end: it comes last, `{"offset":O,"rows":[…],
/// "total_rows":N}` (the same object to every JSON parser).
struct Envelope {
    head: AllDocsHead,
    rows: u64,
}

impl Envelope {
    fn new(head: AllDocsHead) -> Envelope {
        Envelope { head, rows: 0 }
    }

    fn open(&self, out: &mut Vec<u8>) {
        let offset = self.head.offset;
        let text = match self.head.total_rows {
            Some(total) => format!("{{\"total_rows\":{total},\"offset\":{offset},\"rows\":["),
            None => format!("{{\"offset\":{offset},\"rows\":["),
        };
        out.extend_from_slice(text.as_bytes());
    }

    fn row(&mut self, row: &Value, out: &mut Vec<u8>) {
        if self.rows > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, row).expect("a JSON value always serialises into memory");
        self.rows += 1;
    }

    fn close(&self, out: &mut Vec<u8>) {
        match self.head.total_rows {
            Some(_) => out.extend_from_slice(b"]}\n"),
            None => out.extend_from_slice(format!("],\"total_rows\":{}}}\n", self.rows).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::VecDeque;

    struct Scripted(VecDeque<DocResult<Option<Vec<Value>>>>);

    impl Pages for Scripted {
        fn next(&mut self) -> BoxFuture<'_, DocResult<Option<Vec<Value>>>> {
            let next = self.0.pop_front().unwrap_or(Ok(None));
            Box::pin(async move { next })
        }
    }

    fn head(total_rows: Option<i64>, offset: i64) -> AllDocsHead {
        AllDocsHead { total_rows, offset }
    }

    fn row(id: &str) -> Value {
        json!({"id": id, "key": id, "value": {"rev": "1-x"}})
    }

    /// The chunks `produce` sends for these pages: the text, and whether
    /// the stream ended in an error.
    async fn run(head: AllDocsHead, pages: Vec<DocResult<Option<Vec<Value>>>>) -> (String, bool) {
        let (tx, mut rx) = mpsc::channel(CHANNEL);
        let task = tokio::spawn(produce(head, Scripted(pages.into()), tx));
        let (mut text, mut failed) = (Vec::new(), false);
        while let Some(chunk) = rx.recv().await {
            match chunk {
                Ok(b) => text.extend_from_slice(&b),
                Err(_) => failed = true,
            }
        }
        task.await.expect("the producer ends");
        (String::from_utf8(text).expect("UTF-8"), failed)
    }

    #[tokio::test]
    async fn rows_of_every_page_make_one_couchdb_answer() {
        let head = head(Some(3), 1);
        let pages = vec![
            Ok(Some(vec![row("a"), row("b")])),
            Ok(Some(vec![])),
            Ok(Some(vec![row("c")])),
        ];
        let (text, failed) = run(head, pages).await;
        assert!(!failed);
        assert_eq!(
            text,
            concat!(
                r#"{"total_rows":3,"offset":1,"rows":["#,
                r#"{"id":"a","key":"a","value":{"rev":"1-x"}},"#,
                r#"{"id":"b","key":"b","value":{"rev":"1-x"}},"#,
                r#"{"id":"c","key":"c","value":{"rev":"1-x"}}"#,
                "]}\n"
            )
        );
    }

    #[tokio::test]
    async fn a_limited_caller_is_told_the_rows_it_was_sent_at_the_end() {
        let head = head(None, 0);
        let (text, _) = run(head, vec![Ok(Some(vec![row("a"), row("b")]))]).await;
        assert_eq!(
            text,
            concat!(
                r#"{"offset":0,"rows":["#,
                r#"{"id":"a","key":"a","value":{"rev":"1-x"}},"#,
                r#"{"id":"b","key":"b","value":{"rev":"1-x"}}"#,
                "],\"total_rows\":2}\n"
            )
        );
        let (empty, _) = run(head, vec![]).await;
        assert_eq!(
            serde_json::from_str::<Value>(&empty).expect("JSON"),
            json!({"offset": 0, "rows": [], "total_rows": 0})
        );
    }

    #[tokio::test]
    async fn a_failure_after_the_first_rows_cuts_the_body_short() {
        let head = head(Some(9), 0);
        let pages = vec![
            Ok(Some(vec![row("a")])),
            Err(DocError::internal("the store failed")),
            Ok(Some(vec![row("never")])),
        ];
        let (text, failed) = run(head, pages).await;
        assert!(failed, "the stream ends in an error, not a clean end");
        assert_eq!(
            text,
            r#"{"total_rows":9,"offset":0,"rows":[{"id":"a","key":"a","value":{"rev":"1-x"}}"#
        );
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }

    #[tokio::test]
    async fn big_answers_go_out_in_chunks_of_bounded_size() {
        let head = head(Some(2000), 0);
        let page = || Ok(Some((0..500).map(|i| row(&format!("doc{i:05}"))).collect()));
        let pages = vec![page(), page(), page(), page()];
        let (tx, mut rx) = mpsc::channel(CHANNEL);
        tokio::spawn(produce(head, Scripted(pages.into()), tx));
        let mut sizes = Vec::new();
        while let Some(Ok(chunk)) = rx.recv().await {
            sizes.push(chunk.len());
        }
        assert!(sizes.len() > 4, "{sizes:?}");
        let row_len = row("doc00000").to_string().len() + 1;
        assert!(sizes.iter().all(|&s| s < CHUNK + row_len + 64), "{sizes:?}");
    }
}
