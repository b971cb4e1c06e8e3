//! `/data/{doctype}/{id}`: reading and writing one document, shaped like
//! CouchDB (`{"_id","_rev",…}`, errors `{"error","reason"}`).

use crate::error::ApiError;
use crate::extract::Authed;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nuage_core::scope::valid_doctype;
use nuage_core::{Target, Verb};
use nuage_store::PutOutcome;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A CouchDB-shaped error (`{"error","reason"}`).
fn couch(status: StatusCode, error: &str, reason: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": error, "reason": reason.into()})),
    )
        .into_response()
}

fn couch_from(e: ApiError) -> Response {
    let (status, code) = e.status_and_code();
    let error = match code {
        "unauthenticated" => "unauthorized",
        "unknown_instance" => "not_found",
        other => other,
    };
    let mut resp = couch(status, error, e.public_message());
    e.extra_headers(&mut resp);
    resp
}

fn check_names(doctype: &str, id: &str) -> Result<(), Box<Response>> {
    if !valid_doctype(doctype) || doctype.ends_with(".*") {
        return Err(Box::new(couch(
            StatusCode::BAD_REQUEST,
            "illegal_database_name",
            format!(
                "`{doctype}` is not a doctype: use a reverse-domain name of lowercase letters, digits, `.`, `_` and `-`"
            ),
        )));
    }
    if id.is_empty() || id.starts_with('_') {
        return Err(Box::new(couch(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Only reserved document ids may start with underscore.",
        )));
    }
    Ok(())
}

pub async fn get_doc(
    State(state): State<AppState>,
    authed: Result<Authed, ApiError>,
    Path((doctype, id)): Path<(String, String)>,
) -> Response {
    let authed = match authed {
        Ok(a) => a,
        Err(e) => return couch_from(e),
    };
    if let Err(r) = check_names(&doctype, &id) {
        return *r;
    }
    let row = match state
        .store
        .document(&authed.instance.id, &doctype, &id)
        .await
    {
        Ok(r) => r,
        Err(e) => return couch_from(e.into()),
    };
    let body: Option<Value> = row
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.body).ok());
    let target = Target::Doc {
        id: &id,
        body: body.as_ref(),
    };
    if let Err(denied) = authed.access.check(&doctype, Verb::Get, target) {
        return couch(StatusCode::FORBIDDEN, "forbidden", denied.to_string());
    }
    match (row, body) {
        (Some(row), Some(Value::Object(mut obj))) => {
            obj.insert("_id".into(), json!(id));
            obj.insert("_rev".into(), json!(row.rev));
            Json(Value::Object(obj)).into_response()
        }
        _ => couch(StatusCode::NOT_FOUND, "not_found", "missing"),
    }
}

fn next_rev(prev: Option<&str>, body: &str) -> String {
    let generation = prev
        .and_then(|r| r.split_once('-'))
        .and_then(|(g, _)| g.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    let digest = Sha256::digest(format!("{}\n{body}", prev.unwrap_or("")).as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{generation}-{hex}")
}

pub async fn put_doc(
    State(state): State<AppState>,
    authed: Result<Authed, ApiError>,
    Path((doctype, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let authed = match authed {
        Ok(a) => a,
        Err(e) => return couch_from(e),
    };
    if let Err(r) = check_names(&doctype, &id) {
        return *r;
    }
    let mut obj: Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            return couch(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Document must be a JSON object",
            );
        }
        Err(e) => {
            return couch(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid UTF-8 JSON: {e}"),
            );
        }
    };
    let given_rev = obj
        .remove("_rev")
        .and_then(|v| v.as_str().map(str::to_owned));
    if obj
        .remove("_id")
        .is_some_and(|v| v.as_str() != Some(id.as_str()))
    {
        return couch(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the _id in the body differs from the one in the URL",
        );
    }
    let body_value = Value::Object(obj);
    let target = Target::Doc {
        id: &id,
        body: Some(&body_value),
    };
    if let Err(denied) = authed.access.check(&doctype, Verb::Put, target) {
        return couch(StatusCode::FORBIDDEN, "forbidden", denied.to_string());
    }
    let body = body_value.to_string();
    let rev = next_rev(given_rev.as_deref(), &body);
    match state
        .store
        .put_document(
            &authed.instance.id,
            &doctype,
            &id,
            given_rev.as_deref(),
            &rev,
            &body,
        )
        .await
    {
        Ok(PutOutcome::Written) => (
            StatusCode::CREATED,
            Json(json!({"ok": true, "id": id, "rev": rev})),
        )
            .into_response(),
        Ok(PutOutcome::Conflict) => couch(
            StatusCode::CONFLICT,
            "conflict",
            "Document update conflict.",
        ),
        Err(e) => couch_from(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn revisions_count_up() {
        let r1 = super::next_rev(None, "{}");
        assert!(r1.starts_with("1-") && r1.len() == 34, "{r1}");
        let r2 = super::next_rev(Some(&r1), "{\"a\":1}");
        assert!(r2.starts_with("2-"));
        assert_ne!(
            super::next_rev(Some(&r1), "{}"),
            super::next_rev(Some(&r1), "{\"a\":1}")
        );
    }
}
