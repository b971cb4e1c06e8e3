//! A deadline on request bodies: a client that sends its body a byte now
//! and then holds a connection and a handler for as long as it likes; here
//! the whole body must have arrived within `Limits::body_deadline` of the
//! server's first read of it, else reading it fails (every face answers
//! that in its own error format, as any unreadable body).
//!
//! From the first read, not the request's start: a large request waits for
//! its instance's turn (nuage-couch `large.rs`) before its body is read,
//! and a client cannot send what the server does not read; counting the
//! wait made a large request queued behind a slow one fail through no
//! fault of its own.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::Frame;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

struct DeadlineBody {
    inner: Body,
    /// Set at the first read.
    deadline: Option<Pin<Box<Sleep>>>,
    limit: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(this.limit)));
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(format!(
                "the request body did not arrive within {} s; send it faster, or in smaller parts",
                this.limit.as_secs()
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Does the request carry a body at all? (Most GETs do not: they pay
/// nothing for the deadline.)
fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Middleware: puts the body deadline on every request with a body.
pub async fn body_deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let req = req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: None,
            limit,
        })
    });
    next.run(req).await
}
