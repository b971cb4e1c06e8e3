//! `_changes` in its four shapes. A producer task reads the feed page by
//! page and writes into a small bounded channel that is the response body:
//! a slow client slows the producer down, memory stays constant, and the
//! task ends when the client goes away.
//!
//! Live feeds subscribe to document events *before* reading, so a change
//! committed between the read and the wait is never missed.
//!
//! A feed whose rows may be left out (a limited caller, a filter) leaves
//! out at most [`MAX_CHANGES_LEFT_OUT`] changes per step: a longpoll feed,
//! or a normal one that found something, then answers what it found,
//! `last_seq` at the last change examined; a continuous one sends what it
//! found and goes on after yielding. A normal feed that found nothing goes
//! on too, after yielding, for at most `Docs::changes_search` (10 s unless
//! configured): a one-shot
//! replicator (PouchDB's, CouchDB's) takes an answer without results for
//! the end of the feed, so answering empty at the bound would end its
//! replication with documents still to come.

use super::query::Params;
use super::{DataBody, Scope, couch_error, couch_response, json_body};
use crate::Recheck;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nuage_core::{Access, InstanceId};
use nuage_docs::DocError;
use nuage_docs::{ChangesQuery, Docs, Feed, Filter, MAX_CHANGES_LEFT_OUT, Style};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Changes read per store query.
const PAGE: usize = 500;
/// CouchDB's default `timeout` for live feeds.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// The longest `timeout` honoured: a feed without heartbeats sends
/// nothing until then, so a client that has gone is not noticed before.
const MAX_TIMEOUT_MS: u64 = 300_000;
const DEFAULT_HEARTBEAT_MS: u64 = 60_000;
/// The shortest heartbeat period: CouchDB takes any positive number, but a
/// feed woken every millisecond costs a core for nothing (200 feeds with
/// `heartbeat=1` used 44 % of the CPU); shorter asks get this.
pub const MIN_HEARTBEAT_MS: u64 = 1_000;

// Only live feeds outlive their request, so only they keep the credential
// (to check it again); other handlers never copy it.
pub async fn get(s: Scope, headers: HeaderMap) -> Response {
    changes(s, &headers, None).await
}

pub async fn post(s: Scope, headers: HeaderMap, DataBody(bytes): DataBody) -> Response {
    let body = if bytes.is_empty() {
        None
    } else {
        match json_body(&bytes) {
            Ok(v) => Some(v),
            Err(e) => return couch_error(&e),
        }
    };
    changes(s, &headers, body).await
}

/// `since`: a number, `now`, or a CouchDB-style `N-opaque` string.
fn parse_since(raw: Option<&str>) -> Result<Option<i64>, DocError> {
    match raw {
        None => Ok(Some(0)),
        Some("now") => Ok(None),
        Some(s) => {
            let s = s.trim_matches('"');
            let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse::<i64>().map(Some).map_err(|_| {
                DocError::bad_request(format!(
                    "Malformed sequence supplied in 'since' parameter: {s}"
                ))
            })
        }
    }
}

fn parse_query(p: &Params, body: Option<&Value>) -> Result<(ChangesQuery, Option<i64>), DocError> {
    let feed = match p.str("feed").unwrap_or("normal") {
        "normal" => Feed::Normal,
        "longpoll" => Feed::Longpoll,
        "continuous" => Feed::Continuous,
        "eventsource" => Feed::EventSource,
        other => {
            return Err(DocError::bad_request(format!(
                "Supported `feed` types: normal, continuous, longpoll, eventsource (got {other})"
            )));
        }
    };
    let style = match p.str("style").unwrap_or("main_only") {
        "main_only" => Style::MainOnly,
        "all_docs" => Style::AllDocs,
        other => {
            return Err(DocError::bad_request(format!(
                "Supported `style` values: main_only, all_docs (got {other})"
            )));
        }
    };
    let filter = match p.str("filter") {
        None | Some("") => Filter::None,
        Some("_doc_ids") => {
            let ids = match body.and_then(|b| b.get("doc_ids")).cloned() {
                Some(v) => Some(v),
                None => p.json("doc_ids")?,
            };
            let Some(Value::Array(ids)) = ids else {
                return Err(DocError::bad_request(
                    "filter=_doc_ids needs doc_ids, a JSON array of ids",
                ));
            };
            Filter::DocIds(
                ids.into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<HashSet<_>>(),
            )
        }
        Some("_selector") => {
            let Some(sel) = body.and_then(|b| b.get("selector")) else {
                return Err(DocError::bad_request(
                    "filter=_selector needs a POST body with a selector",
                ));
            };
            let selector =
                nuage_mango::parse_selector(sel).map_err(|e| DocError::bad_request(e.reason()))?;
            // CouchDB rewraps Mango's error as bad_request here
            // (couch_changes:check_selector), unlike _find.
            Filter::Selector(std::sync::Arc::new(move |doc: &Value| {
                selector.matches(doc)
            }))
        }
        Some(other) => {
            return Err(DocError::bad_request(format!(
                "filter `{other}` is not supported: nuage never runs design-document code; use _doc_ids or _selector"
            )));
        }
    };
    let heartbeat_ms = match p.str("heartbeat") {
        None => None,
        Some("true") => Some(DEFAULT_HEARTBEAT_MS),
        Some(_) => p
            .int("heartbeat")?
            .map(|h| (h.max(0) as u64).max(MIN_HEARTBEAT_MS)),
    };
    let q = ChangesQuery {
        since: 0,
        limit: p.int("limit")?.map(|l| l.max(0) as u64),
        include_docs: p.flag("include_docs")?,
        style,
        filter,
        feed,
        heartbeat_ms,
        timeout_ms: p.int("timeout")?.map(|t| t.max(0) as u64),
        descending: p.flag("descending")?,
        meta: p.meta()?,
    };
    Ok((q, parse_since(p.str("since"))?))
}

async fn changes(s: Scope, headers: &HeaderMap, body: Option<Value>) -> Response {
    let p = &s.query;
    let (mut q, since) = match parse_query(p, body.as_ref()) {
        Ok(x) => x,
        Err(e) => return couch_error(&e),
    };
    // Check access and resolve `since=now` before answering 200.
    let start = {
        let db = match s.db() {
            Ok(db) => db,
            Err(e) => return couch_error(&e),
        };
        let current = match db.update_seq().await {
            Ok(s) => s,
            Err(e) => return couch_error(&e),
        };
        match since {
            // A backwards feed without `since` starts at the newest change
            // (couch_changes: the start is the current update sequence).
            _ if q.descending && p.str("since").is_none() => current + 1,
            Some(s) => s,
            None => current,
        }
    };
    q.since = start;
    let content_type = if q.feed == Feed::EventSource {
        "text/event-stream"
    } else {
        "application/json"
    };
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let producer = Producer {
        docs: s.state().docs.clone(),
        inst: s.caller.instance.clone(),
        access: s.caller.access.clone(),
        doctype: s.doctype.clone(),
        q,
        tx,
        stopping: s.state().gate.stopping(),
        held: s.state().gate.hold(headers, &s.caller.instance),
        pending_text: Default::default(),
    };
    tokio::spawn(async move {
        if let Err(e) = producer.run().await {
            tracing::debug!(error = %e, "changes feed ended early");
        }
    });
    let mut rx = rx;
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<_, std::io::Error>))
    });
    couch_response(StatusCode::OK, Body::from_stream(stream), content_type)
}

struct Producer {
    docs: Docs,
    inst: InstanceId,
    access: Access,
    doctype: String,
    q: ChangesQuery,
    tx: mpsc::Sender<Bytes>,
    /// Server shutdown: a live feed ends (with its last_seq) instead of
    /// holding the graceful shutdown for as long as its timeout.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The credential, checked again on its own clock while the feed
    /// waits: a revoked or expired one ends the feed.
    held: Option<Arc<dyn Recheck>>,
    /// Text not sent yet: rows go out in chunks of about [`CHUNK`] bytes,
    /// not one write (and one chunk for the client to parse) per row; a
    /// live feed sends what it holds before it waits.
    pending_text: std::sync::Mutex<String>,
}

/// Bytes gathered before they are sent.
const CHUNK: usize = 16 * 1024;

/// Why production stopped early: the client left, or the store failed.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("the client went away")]
    Gone,
    #[error("{0}")]
    Docs(#[from] DocError),
}

impl Producer {
    /// Adds `s` to the answer; sends when a chunk is full.
    async fn send(&self, s: String) -> Result<(), Stop> {
        let full = {
            let mut buf = self.pending_text.lock().unwrap_or_else(|p| p.into_inner());
            buf.push_str(&s);
            (buf.len() >= CHUNK).then(|| std::mem::take(&mut *buf))
        };
        match full {
            Some(chunk) => self.write(chunk).await,
            None => Ok(()),
        }
    }

    /// Sends what is gathered.
    async fn flush(&self) -> Result<(), Stop> {
        let chunk =
            std::mem::take(&mut *self.pending_text.lock().unwrap_or_else(|p| p.into_inner()));
        if chunk.is_empty() {
            return Ok(());
        }
        self.write(chunk).await
    }

    async fn write(&self, chunk: String) -> Result<(), Stop> {
        self.tx
            .send(Bytes::from(chunk))
            .await
            .map_err(|_| Stop::Gone)
    }

    fn row_text(&self, row: &Value) -> String {
        match self.q.feed {
            Feed::EventSource => {
                let seq = row.get("seq").cloned().unwrap_or(Value::Null);
                format!("data: {row}\nid: {seq}\n\n")
            }
            _ => format!("{row}\n"),
        }
    }

    /// False once the held credential is revoked or expired; checks it
    /// when its interval has passed since `checked`.
    async fn still_valid(&self, checked: &mut Instant) -> bool {
        let Some(held) = &self.held else {
            return true;
        };
        if checked.elapsed() < held.every() {
            return true;
        }
        *checked = Instant::now();
        held.still_valid().await
    }

    async fn run(mut self) -> Result<(), Stop> {
        let mut events = self.docs.store().events().subscribe();
        let db = self.docs.db(&self.inst, &self.access, &self.doctype)?;
        let live = matches!(
            self.q.feed,
            Feed::Continuous | Feed::EventSource | Feed::Longpoll
        );
        // CouchDB: a heartbeat "overrides any timeout to keep the feed alive
        // indefinitely"; the task still ends when the client goes away (its
        // next heartbeat fails to send).
        let timeout = match (self.q.heartbeat_ms, self.q.timeout_ms) {
            (Some(_), _) => Duration::from_secs(24 * 3600),
            (None, t) => Duration::from_millis(t.unwrap_or(DEFAULT_TIMEOUT_MS).min(MAX_TIMEOUT_MS)),
        };
        let deadline = Instant::now() + timeout;
        let heartbeat = self.q.heartbeat_ms.map(Duration::from_millis);
        let mut remaining = self.q.limit.unwrap_or(u64::MAX);
        let mut since = self.q.since;
        let streaming = matches!(self.q.feed, Feed::Continuous | Feed::EventSource);
        if !streaming {
            self.send("{\"results\":[\n".into()).await?;
        }
        let begun = Instant::now();
        let mut first = true;
        let mut sent_any = false;
        // One clock for the feed's whole life: a feed kept busy by a stream
        // of changes is re-checked as often as an idle one.
        let mut checked = Instant::now();
        let mut revoked = false;
        // Changes left out in this answer (this step, for a streaming
        // feed), and whether that bound ended the answer.
        let mut left_out = 0;
        let mut bounded = false;
        let unfiltered = matches!(self.q.filter, Filter::None) && db.reads_everything();
        'feed: loop {
            // Drain what is there now. `since` ends as the sequence of the
            // last row sent when the limit cuts a page (the client resumes
            // there), else as the last change examined.
            loop {
                if remaining == 0 {
                    break;
                }
                if !self.still_valid(&mut checked).await {
                    revoked = true;
                    break 'feed;
                }
                if left_out >= MAX_CHANGES_LEFT_OUT {
                    let searching = self.q.feed == Feed::Normal
                        && !sent_any
                        && begun.elapsed() < self.docs.changes_search;
                    if !streaming && !searching {
                        bounded = true;
                        break;
                    }
                    // The next step, once what was found is out and the
                    // runtime has served others.
                    self.flush().await?;
                    tokio::task::yield_now().await;
                    if *self.stopping.borrow() {
                        break 'feed;
                    }
                    left_out = 0;
                }
                // Read no more than the limit still allows, unless a filter
                // may drop rows (then a full page keeps round trips few, as
                // far as the bound on changes left out allows).
                let size = if unfiltered {
                    PAGE.min(usize::try_from(remaining).unwrap_or(PAGE))
                } else {
                    PAGE.min(MAX_CHANGES_LEFT_OUT - left_out)
                };
                let page = db.changes_page(&self.q, since, size).await?;
                left_out += page.left_out;
                let mut cut = false;
                for (row, seq) in page.rows.into_iter().zip(page.seqs) {
                    if remaining == 0 {
                        cut = true;
                        break;
                    }
                    remaining -= 1;
                    sent_any = true;
                    since = seq;
                    let text = if streaming {
                        self.row_text(&row)
                    } else if first {
                        row.to_string()
                    } else {
                        format!(",\n{row}")
                    };
                    first = false;
                    self.send(text).await?;
                }
                if !cut {
                    since = page.last_seq;
                }
                if cut || page.exhausted {
                    break;
                }
            }
            let done = !live
                || bounded
                || remaining == 0
                || (self.q.feed == Feed::Longpoll && sent_any)
                || self.q.descending;
            if done {
                break;
            }
            // Wait for a change of this doctype, sending heartbeats; what
            // was read so far goes out first.
            self.flush().await?;
            let mut changed = false;
            while !changed {
                if !self.still_valid(&mut checked).await {
                    revoked = true;
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let beat = heartbeat.map(|h| now + h);
                // Wake for the heartbeat, the deadline, or the credential's
                // next check, whichever comes first: a quiet feed is
                // re-checked as often as a busy one.
                // (At least 10 ms apart, whatever the gate asks.)
                let recheck = self
                    .held
                    .as_ref()
                    .map(|h| checked + h.every().max(Duration::from_millis(10)));
                let wake = [beat, recheck]
                    .into_iter()
                    .flatten()
                    .fold(deadline, Instant::min);
                if *self.stopping.borrow() {
                    break;
                }
                let stopping = self.stopping.changed();
                let received = tokio::select! {
                    r = tokio::time::timeout_at(wake, events.recv()) => r,
                    _ = stopping => break,
                };
                match received {
                    Ok(Ok(e)) => {
                        changed = e.instance == self.inst.as_str()
                            && e.doctype == self.doctype
                            && e.seq > since;
                    }
                    // Fell behind the event stream: read the feed again.
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => changed = true,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return Ok(()),
                    Err(_)
                        if beat.is_some_and(|b| Instant::now() >= b)
                            && Instant::now() < deadline =>
                    {
                        self.write("\n".into()).await?
                    }
                    Err(_) => {}
                }
            }
            if !changed || revoked {
                break;
            }
        }
        if revoked {
            // A revoked credential learns nothing more, not even a count.
            return Ok(());
        }
        // Pending counts every change, so a limited permission is not told.
        let pending = if self.q.descending || !db.reads_everything() {
            0
        } else {
            db.pending_after(since).await?
        };
        let tail = match self.q.feed {
            Feed::Continuous => format!("{}\n", json!({"last_seq": since, "pending": pending})),
            Feed::EventSource => String::new(),
            _ => format!("\n],\n\"last_seq\":{since},\"pending\":{pending}}}\n"),
        };
        self.send(tail).await?;
        self.flush().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_takes_numbers_now_and_couchdb_sequences() {
        assert_eq!(super::parse_since(None).unwrap(), Some(0));
        assert_eq!(super::parse_since(Some("now")).unwrap(), None);
        assert_eq!(super::parse_since(Some("42")).unwrap(), Some(42));
        assert_eq!(super::parse_since(Some("\"7-g1AAAA\"")).unwrap(), Some(7));
        assert!(super::parse_since(Some("x")).is_err());
    }
}
