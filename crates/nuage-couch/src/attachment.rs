//! `GET/PUT/DELETE /data/{doctype}/{id}/{name}`: one attachment.

use super::{DataBody, Scope, couch_error, couch_result};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn get(s: Scope) -> Response {
    let r = async {
        s.db()?
            .get_attachment(
                s.capture("id"),
                s.capture("name"),
                s.query.rev("rev")?.as_ref(),
            )
            .await
    }
    .await;
    match r {
        Ok(a) => {
            let mut resp = (StatusCode::OK, a.data).into_response();
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&a.content_type) {
                h.insert(header::CONTENT_TYPE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", a.digest)) {
                h.insert(header::ETAG, v);
            }
            // Attachments are whatever an app uploaded: never let one run
            // as a page of the instance's origin, where the owner's session
            // cookie lives. No sniffing, a sandbox without scripts, and a
            // download unless it is a plain image or text.
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
                ),
            );
            if !inline_safe(&a.content_type) {
                h.insert(
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment"),
                );
            }
            resp
        }
        Err(e) => couch_error(&e),
    }
}

pub async fn put(s: Scope, headers: HeaderMap, DataBody(bytes): DataBody) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let r = async {
        let rev = match s.query.rev("rev")? {
            Some(r) => Some(r),
            None => headers
                .get(header::IF_MATCH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| nuage_core::revs::Rev::parse(v.trim_matches('"'))),
        };
        s.db()?
            .put_attachment(
                s.capture("id"),
                s.capture("name"),
                rev,
                &content_type,
                bytes,
            )
            .await
    }
    .await;
    couch_result(
        StatusCode::CREATED,
        r.map(|(id, rev)| json!({"ok": true, "id": id, "rev": rev.to_string()})),
    )
}

pub async fn delete(s: Scope) -> Response {
    let r = async {
        s.db()?
            .delete_attachment(s.capture("id"), s.capture("name"), s.query.rev("rev")?)
            .await
    }
    .await;
    couch_result(
        StatusCode::OK,
        r.map(|(id, rev)| json!({"ok": true, "id": id, "rev": rev.to_string()})),
    )
}

/// Types a browser may show inline without running anything.
fn inline_safe(content_type: &str) -> bool {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        t.as_str(),
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "text/plain"
            | "application/pdf"
            | "audio/mpeg"
            | "audio/ogg"
            | "video/mp4"
            | "video/webm"
    )
}
