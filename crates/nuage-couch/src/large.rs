//! Requests with large bodies take their instance's turn
//! ([`nuage_docs::Share`]) before their body is read, and are handled on
//! the share's low-priority threads, so that one instance's big batches,
//! or bodies sent only to be refused, never hold the runtime's workers
//! that every other instance's requests need.
//!
//! - A body announced (`Content-Length`) at most [`SMALL_BODY_BYTES`] goes
//!   on inline.
//! - Any other body (larger, or chunked with no length) is for an
//!   authenticated caller only: the caller is resolved first (an
//!   unauthenticated request is refused before its body is read, and what
//!   it still sends is dropped, within bounds and by a few such requests at
//!   a time server-wide, so that it reads its 401), then the request waits
//!   for its instance's turn.
//! - A body announced over [`DATA_BODY_LIMIT`] is refused with CouchDB's
//!   413 before the instance's turn (unless every place for dropping such
//!   bodies server-wide is taken); one found over it while it is read, at
//!   once. What the client still sends is dropped unread, within bounds,
//!   and the connection closed.
//! - Once the turn is granted the caller is resolved again: a credential
//!   revoked (or narrowed) while the request waited counts as it is now,
//!   and once more after the body is read, before the handler runs.
//! - The body's bytes come out of the server-wide budget of body memory
//!   ([`nuage_docs::Share`]) as they arrive, a step ahead: the first step
//!   is waited for before a byte is read, and a body that outgrows what
//!   the budget has free is refused with a 503.
//! - While it is read and another large request of its instance waits,
//!   the body must keep up the share's minimum rate
//!   ([`nuage_docs::MinBodyRate`]) after a grace and pause no longer than
//!   the grace, or is refused with a 408 and the turn freed at once; with
//!   nobody waiting, a slow upload (a phone on a poor network) goes on.
//! - Otherwise the body is read on the runtime (reading is mostly waiting
//!   on the client; past its first 8 MiB, at most 64 MiB/s), and the rest
//!   — parsing, the document service, the answer — runs on a share thread.
//!
//! Must stay true: every handler that reads a body sits behind this layer;
//! a turn is never held by a client that has stopped sending, nor for a
//! caller whose credential no longer holds.

use crate::gate::{Caller, CouchState};
use crate::wire::CouchError;
use crate::{DATA_BODY_LIMIT, refusal_response, too_large_error, wire_error};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use nuage_docs::share::SMALL_BODY_BYTES;
use nuage_docs::{MinBodyRate, SharePermit};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) async fn layer(State(state): State<CouchState>, req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    // RFC 9110 §10.1.1: a client that asked `100-continue` sends no body
    // until told to; a refusal then needs nothing dropped.
    let waits_for_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    match announced {
        Some(n) if n <= SMALL_BODY_BYTES && !chunked => return next.run(req).await,
        None if !chunked => return next.run(req).await,
        _ => {}
    }
    let (mut parts, body) = req.into_parts();
    let caller = match state.gate.caller(&parts).await {
        Ok(c) => c,
        Err(r) if waits_for_continue => return closing(refusal_response(&r)),
        Err(r) => return refused_unread(refusal_response(&r), body),
    };
    let oversized = announced.is_some_and(|n| n > DATA_BODY_LIMIT as u64);
    // A body announced too large is refused at once, without waiting for
    // its instance's turn behind the instance's other large requests: a
    // client waiting for `100 Continue` has nothing to drop, and another's
    // body is dropped in one of the few places kept for that.
    if oversized && waits_for_continue {
        return closing(wire_error(&too_large_error()));
    }
    if oversized && let Ok(slot) = TURNLESS.try_acquire() {
        tokio::spawn(linger(body, slot));
        return closing(wire_error(&too_large_error()));
    }
    let share = state.docs.share().clone();
    let mut permit = share.permit(&caller.instance).await;
    if oversized {
        // Every place to drop it at once was taken: it waited its turn.
        return refuse_unread(body, permit, wire_error(&too_large_error()));
    }
    // The credential may have been revoked while the request waited:
    // answered as a fresh request with it would be, the turn given back.
    if let Err(r) = state.gate.caller(&parts).await {
        drop(permit);
        if waits_for_continue {
            return closing(refusal_response(&r));
        }
        return refused_unread(refusal_response(&r), body);
    }
    // The first step of the body's memory, waited for in order while the
    // permit holds none; the rest is reserved as the bytes arrive.
    permit
        .reserve_body(announced.map_or(RESERVE_STEP, |n| n.min(RESERVE_STEP)))
        .await;
    let rate = share.min_body_rate();
    let bytes = match read_bounded(body, announced, &mut permit, rate).await {
        Read::Whole(b) => b,
        Read::Over(rest) => return refuse_unread(rest, permit, wire_error(&too_large_error())),
        Read::NoRoom(rest) => return refuse_unread(rest, permit, busy()),
        Read::TooSlow { rest, received } => {
            drop(permit);
            return refused_unread(too_slow(rate, received), rest);
        }
        Read::Failed(e) => return closing(unreadable(&e)),
    };
    // Reading took time too: the caller as it is now runs the handler.
    let caller = match state.gate.caller(&parts).await {
        Ok(c) => c,
        Err(r) => return refusal_response(&r),
    };
    parts.extensions.insert(caller);
    let req = Request::from_parts(parts, Body::from(bytes));
    match share.run(permit, next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => wire_error(&CouchError::new(
            500,
            "internal_server_error",
            e.to_string(),
        )),
    }
}

enum Read {
    Whole(Bytes),
    /// Over [`DATA_BODY_LIMIT`]; what the client has not sent yet.
    Over(Body),
    /// The body grew past what the server-wide body budget had free; what
    /// the client has not sent yet.
    NoRoom(Body),
    /// The client fell below the minimum rate after `received` bytes; what
    /// it has not sent yet.
    TooSlow {
        rest: Body,
        received: u64,
    },
    Failed(axum::Error),
}

/// A body reserves the body budget in steps of this many bytes, ahead of
/// what it has sent.
const RESERVE_STEP: u64 = 1024 * 1024;

/// The first bytes of a body are read as fast as they come; past them, at
/// most this rate (512 Mbit/s, more than most uplinks carry): reading costs
/// CPU on the workers every instance shares, and an instance sending
/// bodies over loopback or a fast link as fast as it can (only to have
/// them refused at 64 MiB) would otherwise take that CPU from the others.
const UNPACED_BYTES: usize = 8 * 1024 * 1024;
const READ_BYTES_PER_SEC: f64 = 64.0 * 1024.0 * 1024.0;
/// How often a body behind the minimum rate is looked at again while no
/// other request of its instance waits for the turn (it is cut only then).
const RATE_RECHECK: Duration = Duration::from_secs(1);

/// Reads a body of at most [`DATA_BODY_LIMIT`] bytes; past that, stops and
/// hands back the rest unread. A body of announced length is copied once
/// into a buffer of that size (address space, not memory, until its bytes
/// come); a chunked one is kept as its chunks arrive and joined at the end,
/// so that one refused is never copied. The budget is reserved a step
/// ahead of the bytes received (no further than the announced length: one
/// that sends more than it announced fails in hyper), and the client must
/// keep up `rate`.
async fn read_bounded(
    mut body: Body,
    announced: Option<u64>,
    permit: &mut SharePermit,
    rate: MinBodyRate,
) -> Read {
    let mut into = announced.map(|n| Vec::with_capacity(n as usize));
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0;
    let started = Instant::now();
    let mut last = started;
    // While nobody waits for the turn, a slow body is looked at again
    // this often, not cut.
    let mut unenforced_until = started;
    loop {
        let next = match rate.due(started, last, len as u64) {
            Some(due) => {
                match tokio::time::timeout_at(due.max(unenforced_until), body.frame()).await {
                    Ok(next) => next,
                    Err(_) if !permit.others_waiting() => {
                        unenforced_until = Instant::now() + RATE_RECHECK;
                        continue;
                    }
                    Err(_) => {
                        return Read::TooSlow {
                            rest: body,
                            received: len as u64,
                        };
                    }
                }
            }
            None => body.frame().await,
        };
        last = Instant::now();
        let Some(frame) = next else { break };
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len();
                    if len > DATA_BODY_LIMIT {
                        return Read::Over(body);
                    }
                    let n = data.len();
                    let ahead = (len as u64).next_multiple_of(RESERVE_STEP);
                    if !permit.try_reserve_body(announced.map_or(ahead, |a| ahead.min(a))) {
                        return Read::NoRoom(body);
                    }
                    match &mut into {
                        Some(buf) => buf.extend_from_slice(&data),
                        None => chunks.push(data),
                    }
                    if len > UNPACED_BYTES {
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / READ_BYTES_PER_SEC))
                            .await;
                    }
                }
            }
            Err(e) => return Read::Failed(e),
        }
    }
    if let Some(buf) = into {
        return Read::Whole(Bytes::from(buf));
    }
    if chunks.len() == 1 {
        return Read::Whole(chunks.pop().unwrap_or_default());
    }
    let mut whole = Vec::with_capacity(len);
    for c in chunks {
        whole.extend_from_slice(&c);
    }
    Read::Whole(Bytes::from(whole))
}

/// A refusal (CouchDB's 413 for a body over the limit, or a 503 when the
/// body budget is spent) answered before the rest of the body is read.
/// The connection closes once the answer is out; until then what the
/// client still sends is read and dropped ([`linger`]), so that closing
/// with unread bytes does not reset the connection and lose the answer
/// before the client reads it. What was read is dropped now, so its bytes
/// go back to the budget.
fn refuse_unread(rest: Body, mut permit: SharePermit, answer: Response) -> Response {
    permit.release_body();
    tokio::spawn(linger(rest, permit));
    closing(answer)
}

/// How long a client refused for want of body memory is asked to wait.
const BUSY_RETRY_SECS: u32 = 5;

fn busy() -> Response {
    let mut r = wire_error(&CouchError::new(
        503,
        "service_unavailable",
        format!(
            "the server is holding as many large request bodies as it may; send this one again in {BUSY_RETRY_SECS} s"
        ),
    ));
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_SECS));
    r
}

/// A body that fell below the minimum rate. CouchDB answers a request
/// that took too long with 408 `request_timeout` (chttpd).
fn too_slow(rate: MinBodyRate, received: u64) -> Response {
    wire_error(&CouchError::new(
        408,
        "request_timeout",
        format!(
            "the request body came too slowly ({received} bytes received): a body over {} KiB must arrive at {} KiB/s or more after its first {} s; send it again over a faster connection, or in smaller requests",
            SMALL_BODY_BYTES / 1024,
            rate.bytes_per_sec.div_ceil(1024),
            rate.grace.as_secs()
        ),
    ))
}

/// Refused bodies that may be dropped at once without any instance's
/// turn, server-wide: those of callers who could not be identified (they
/// hold no turn), and those announced over the limit (refused before their
/// instance's turn comes). This bounds what such refusals make the server
/// read (at most this many times [`LINGER_BYTES_PER_SEC`]). Past it, an
/// unidentified caller's connection is closed at once (the client may lose
/// its answer), and a body too large waits for its instance's turn.
const TURNLESS_LINGERS: usize = 16;
static TURNLESS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(TURNLESS_LINGERS);

/// A refusal made before the body was read (no or a dead credential). The
/// client is most likely still sending: closing with its body unread
/// would reset the connection and lose the answer — a replicator whose
/// token expired would never read the 401 that tells it to refresh it. So
/// what it sends is dropped for a while, as for a body too large.
fn refused_unread(r: Response, rest: Body) -> Response {
    if let Ok(slot) = TURNLESS.try_acquire() {
        tokio::spawn(linger(rest, slot));
    }
    closing(r)
}

/// Bytes and time a refused body may still take to arrive and be dropped,
/// at most, holding its instance's turn (nginx's `lingering_close` does the
/// same for the same reason), and the rate it is read at: a client that
/// reads its answer stops sending at once; one that does not costs the
/// server this rate of reading, not what the network can carry.
const LINGER_BYTES: usize = 2 * DATA_BODY_LIMIT;
const LINGER_TIME: Duration = Duration::from_secs(10);
const LINGER_BYTES_PER_SEC: f64 = 16.0 * 1024.0 * 1024.0;

/// Drops what is left of a refused body, within bounds, holding `turn`
/// (the instance's, or a place among [`TURNLESS_LINGERS`]) until done.
async fn linger<T: Send>(mut rest: Body, turn: T) {
    let mut dropped = 0;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while let Some(Ok(frame)) = rest.frame().await {
            let n = frame.data_ref().map_or(0, Bytes::len);
            dropped += n;
            if dropped > LINGER_BYTES {
                return;
            }
            tokio::time::sleep(Duration::from_secs_f64(n as f64 / LINGER_BYTES_PER_SEC)).await;
        }
    })
    .await;
    drop(turn);
}

fn closing(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn unreadable(e: &axum::Error) -> Response {
    wire_error(&CouchError::new(
        400,
        "bad_request",
        format!("the request body could not be read: {e}; send it again"),
    ))
}

/// The caller this layer already resolved, if it did.
pub(crate) fn resolved(parts: &axum::http::request::Parts) -> Option<Caller> {
    parts.extensions.get::<Caller>().cloned()
}
