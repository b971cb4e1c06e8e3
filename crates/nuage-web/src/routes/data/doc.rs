//! One document: GET (winner, `rev`, `open_revs`), PUT, DELETE, POST;
//! design documents (stored, never executed) and `_local` documents.

use super::query::Params;
use super::{Caller, couch_error, couch_result, json_body, json_response};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use nuage_core::revs::Rev;
use nuage_couch::{CouchError, GetAnswer, GetOptions, OpenRevs};
use serde_json::{Value, json};
use std::collections::HashMap;

fn written(r: Result<(String, Rev), CouchError>) -> Response {
    couch_result(
        StatusCode::CREATED,
        r.map(|(id, rev)| json!({"ok": true, "id": id, "rev": rev.to_string()})),
    )
}

fn get_options(p: &Params) -> Result<GetOptions, CouchError> {
    let open_revs = match p.str("open_revs") {
        None => None,
        Some("all") => Some(OpenRevs::All),
        Some(_) => Some(OpenRevs::List(p.revs_list("open_revs")?)),
    };
    Ok(GetOptions {
        rev: p.rev("rev")?,
        open_revs,
        latest: p.flag("latest")?,
        meta: p.meta()?,
    })
}

async fn get_doc(state: AppState, c: Caller, doctype: String, id: String, p: Params) -> Response {
    let c = c.0;
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        let opts = get_options(&p)?;
        db.get(&id, &opts).await
    }
    .await;
    match r {
        Ok(GetAnswer::Doc(d)) => json_response(StatusCode::OK, &d),
        Ok(GetAnswer::OpenRevs(list)) => json_response(StatusCode::OK, &Value::Array(list)),
        Err(e) => couch_error(&e),
    }
}

async fn put_doc(
    state: AppState,
    c: Caller,
    doctype: String,
    id: String,
    p: Params,
    bytes: Bytes,
) -> Response {
    let c = c.0;
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        let doc = json_body(&bytes)?;
        let new_edits = p.flag_or("new_edits", true)?;
        db.put(&id, doc, p.rev("rev")?, new_edits).await
    }
    .await;
    written(r)
}

async fn delete_doc(
    state: AppState,
    c: Caller,
    doctype: String,
    id: String,
    p: Params,
) -> Response {
    let c = c.0;
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.delete_doc(&id, p.rev("rev")?).await
    }
    .await;
    couch_result(
        StatusCode::OK,
        r.map(|(id, rev)| json!({"ok": true, "id": id, "rev": rev.to_string()})),
    )
}

pub async fn get(
    State(s): State<AppState>,
    c: Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    get_doc(s, c, doctype, id, Params(q)).await
}

pub async fn put(
    State(s): State<AppState>,
    c: Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> Response {
    put_doc(s, c, doctype, id, Params(q), bytes).await
}

pub async fn delete(
    State(s): State<AppState>,
    c: Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    delete_doc(s, c, doctype, id, Params(q)).await
}

pub async fn get_design(
    State(s): State<AppState>,
    c: Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    get_doc(s, c, doctype, format!("_design/{id}"), Params(q)).await
}

pub async fn put_design(
    State(s): State<AppState>,
    c: Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> Response {
    put_doc(s, c, doctype, format!("_design/{id}"), Params(q), bytes).await
}

pub async fn delete_design(
    State(s): State<AppState>,
    c: Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    delete_doc(s, c, doctype, format!("_design/{id}"), Params(q)).await
}

pub async fn post(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path(doctype): Path<String>,
    bytes: Bytes,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.post(json_body(&bytes)?).await
    }
    .await;
    written(r)
}

pub async fn get_local(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((doctype, id)): Path<(String, String)>,
) -> Response {
    let r = async {
        state
            .couch
            .db(&c.instance.id, &c.access, &doctype)?
            .get_local(&id)
            .await
    }
    .await;
    couch_result(StatusCode::OK, r)
}

pub async fn put_local(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    bytes: Bytes,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.put_local(&id, json_body(&bytes)?, q.get("rev").cloned())
            .await
    }
    .await;
    couch_result(
        StatusCode::CREATED,
        r.map(|rev| json!({"ok": true, "id": format!("_local/{id}"), "rev": rev})),
    )
}

pub async fn delete_local(
    State(state): State<AppState>,
    Caller(c): Caller,
    Path((doctype, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let r = async {
        let db = state.couch.db(&c.instance.id, &c.access, &doctype)?;
        db.delete_local(&id, q.get("rev").cloned()).await
    }
    .await;
    couch_result(
        StatusCode::OK,
        r.map(|()| json!({"ok": true, "id": format!("_local/{id}"), "rev": "0-0"})),
    )
}
