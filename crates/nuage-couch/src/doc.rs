//! One document: GET (winner, `rev`, `open_revs`), PUT, DELETE, POST;
//! design documents (stored, never executed) and `_local` documents.

use super::query::Params;
use super::{DataBody, Scope, couch_error, couch_result, json_body, json_response};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use nuage_core::revs::Rev;
use nuage_docs::DocError;
use nuage_docs::{GetAnswer, GetOptions, OpenRevs};
use serde_json::{Value, json};

fn written(status: StatusCode, r: Result<(String, Rev), DocError>) -> Response {
    couch_result(
        status,
        r.map(|(id, rev)| json!({"ok": true, "id": id, "rev": rev.to_string()})),
    )
}

fn get_options(p: &Params) -> Result<GetOptions, DocError> {
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

/// The document's id: the `{id}` capture, under `_design/` for design
/// document routes.
fn doc_id(s: &Scope, design: bool) -> String {
    let id = s.capture("id");
    if design {
        format!("_design/{id}")
    } else {
        id.to_owned()
    }
}

async fn get_doc(s: Scope, design: bool) -> Response {
    let r = async {
        s.db()?
            .get(&doc_id(&s, design), &get_options(&s.query)?)
            .await
    }
    .await;
    match r {
        Ok(GetAnswer::Doc(d)) => json_response(StatusCode::OK, &d),
        Ok(GetAnswer::OpenRevs(list)) => json_response(StatusCode::OK, &Value::Array(list)),
        Err(e) => couch_error(&e),
    }
}

async fn put_doc(s: Scope, design: bool, bytes: Bytes) -> Response {
    let r = async {
        let new_edits = s.query.flag_or("new_edits", true)?;
        s.db()?
            .put(
                &doc_id(&s, design),
                json_body(&bytes)?,
                s.query.rev("rev")?,
                new_edits,
            )
            .await
    }
    .await;
    written(StatusCode::CREATED, r)
}

async fn delete_doc(s: Scope, design: bool) -> Response {
    let r = async {
        s.db()?
            .delete_doc(&doc_id(&s, design), s.query.rev("rev")?)
            .await
    }
    .await;
    written(StatusCode::OK, r)
}

pub async fn get(s: Scope) -> Response {
    get_doc(s, false).await
}

pub async fn put(s: Scope, DataBody(bytes): DataBody) -> Response {
    put_doc(s, false, bytes).await
}

pub async fn delete(s: Scope) -> Response {
    delete_doc(s, false).await
}

pub async fn get_design(s: Scope) -> Response {
    get_doc(s, true).await
}

pub async fn put_design(s: Scope, DataBody(bytes): DataBody) -> Response {
    put_doc(s, true, bytes).await
}

pub async fn delete_design(s: Scope) -> Response {
    delete_doc(s, true).await
}

pub async fn post(s: Scope, DataBody(bytes): DataBody) -> Response {
    written(
        StatusCode::CREATED,
        async { s.db()?.post(json_body(&bytes)?).await }.await,
    )
}

pub async fn get_local(s: Scope) -> Response {
    couch_result(
        StatusCode::OK,
        async { s.db()?.get_local(s.capture("id")).await }.await,
    )
}

pub async fn put_local(s: Scope, DataBody(bytes): DataBody) -> Response {
    let id = s.capture("id");
    let r = async {
        s.db()?
            .put_local(
                id,
                json_body(&bytes)?,
                s.query.str("rev").map(str::to_owned),
            )
            .await
    }
    .await;
    couch_result(
        StatusCode::CREATED,
        r.map(|rev| json!({"ok": true, "id": format!("_local/{id}"), "rev": rev})),
    )
}

pub async fn delete_local(s: Scope) -> Response {
    let id = s.capture("id");
    let r = async {
        s.db()?
            .delete_local(id, s.query.str("rev").map(str::to_owned))
            .await
    }
    .await;
    couch_result(
        StatusCode::OK,
        r.map(|()| json!({"ok": true, "id": format!("_local/{id}"), "rev": "0-0"})),
    )
}
