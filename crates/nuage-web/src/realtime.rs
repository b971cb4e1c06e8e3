//! `GET /realtime/`: a WebSocket on which a client subscribes to doctypes
//! (or single documents) and receives `CREATED`, `UPDATED` and `DELETED`
//! events with the document, in commit order, for what its credential may
//! read.
//!
//! Protocol (JSON text frames):
//! - client → `{"method":"AUTH","payload":"TOKEN"}` (browsers cannot set
//!   headers on a WebSocket; a bearer header or the session cookie at the
//!   upgrade works too),
//! - client → `{"method":"SUBSCRIBE","payload":{"type":"io.nuage.contacts"}}`,
//!   optionally with `"id"` for one document; `UNSUBSCRIBE` likewise,
//! - server → `{"event":"UPDATED","payload":{"type","id","doc"}}`,
//! - server → `{"event":"error","payload":{"status","title","detail"}}`.

use crate::extract::Authed;
use crate::extract::{HeldCredential as Credential, RECHECK};
use crate::instances::InstanceCtx;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use nuage_auth::Presented;
use nuage_core::{Access, Target, Verb};
use nuage_docs::render::parse_body;
use nuage_store::DocEvent;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub async fn upgrade(
    State(state): State<AppState>,
    inst: crate::extract::Instance,
    headers: axum::http::HeaderMap,
    authed: Result<Authed, crate::error::ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    // A page of another origin (a sibling tenant's subdomain is same-site,
    // so SameSite cookies go along) must not ride the owner's session: a
    // cookie only counts when the upgrade comes from the instance's own
    // origin. Bearer credentials are not sent by browsers on their own.
    let own_origin = state.base_url(&inst.0.domain);
    let by_cookie = headers.get(axum::http::header::AUTHORIZATION).is_none();
    let origin_ok = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o.eq_ignore_ascii_case(&own_origin));
    let credential = Credential::from_headers(&headers);
    let access = authed
        .ok()
        .filter(|_| !by_cookie || origin_ok)
        .map(|a| a.access);
    let credential = credential.filter(|_| access.is_some());
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| Session::new(state, inst.0, access, credential).run(socket))
}

struct Session {
    state: AppState,
    instance: Arc<InstanceCtx>,
    access: Option<Access>,
    credential: Option<Credential>,
    /// (doctype, optional document id)
    subs: HashSet<(String, Option<String>)>,
}

fn error_frame(status: u16, title: &str, detail: &str) -> Message {
    Message::Text(json!({"event": "error", "payload": {"status": status.to_string(), "title": title, "detail": detail}}).to_string().into())
}

impl Session {
    fn new(
        state: AppState,
        instance: Arc<InstanceCtx>,
        access: Option<Access>,
        credential: Option<Credential>,
    ) -> Session {
        Session {
            state,
            instance,
            access,
            credential,
            subs: HashSet::new(),
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        // Subscribe to the bus first: nothing committed after the upgrade
        // can be missed.
        let mut events = self.state.store.events().subscribe();
        let mut stopping = self.state.stopping();
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        loop {
            if *stopping.borrow() {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            tokio::select! {
                _ = stopping.changed() => continue,
                _ = recheck.tick() => {
                    if !self.still_valid().await {
                        let _ = socket.send(error_frame(401, "unauthorized", "the credential was revoked or has expired; authenticate again")).await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
                msg = socket.recv() => {
                    let Some(Ok(msg)) = msg else { return };
                    let reply = match msg {
                        Message::Text(t) => self.command(&t).await,
                        Message::Close(_) => return,
                        _ => None,
                    };
                    if let Some(r) = reply
                        && socket.send(r).await.is_err()
                    {
                        return;
                    }
                }
                ev = events.recv() => match ev {
                    Ok(e) => {
                        if let Some(frame) = self.frame_for(&e).await
                            && socket.send(frame).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        let detail = format!("{n} events were dropped because this client read too slowly; read the changes feed to catch up");
                        if socket.send(error_frame(503, "lagged", &detail)).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    async fn command(&mut self, text: &str) -> Option<Message> {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return Some(error_frame(
                400,
                "bad_request",
                "send JSON such as {\"method\":\"SUBSCRIBE\",\"payload\":{\"type\":\"io.nuage.contacts\"}}",
            ));
        };
        let method = v
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let payload = v.get("payload").cloned().unwrap_or(Value::Null);
        match method.as_str() {
            "AUTH" => {
                let token = payload.as_str().unwrap_or_default();
                match self
                    .state
                    .auth
                    .resolve(&self.instance.id, Presented::Bearer(token))
                    .await
                {
                    Ok(a) => {
                        self.access = Some(a);
                        self.credential = Some(Credential::Bearer(token.to_owned()));
                        None
                    }
                    Err(_) => Some(error_frame(
                        401,
                        "unauthorized",
                        "the token is unknown, expired or revoked; get a new one",
                    )),
                }
            }
            "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let Some(access) = &self.access else {
                    return Some(error_frame(
                        401,
                        "unauthorized",
                        "send {\"method\":\"AUTH\",\"payload\":TOKEN} first",
                    ));
                };
                let Some(doctype) = payload.get("type").and_then(Value::as_str) else {
                    return Some(error_frame(
                        400,
                        "bad_request",
                        "the payload needs a `type`, the doctype",
                    ));
                };
                let id = payload.get("id").and_then(Value::as_str).map(str::to_owned);
                if !access.may_some(doctype, Verb::Get) {
                    return Some(error_frame(
                        403,
                        "forbidden",
                        &format!(
                            "this token may not read {doctype}; ask for the scope `{doctype}:GET`"
                        ),
                    ));
                }
                let key = (doctype.to_owned(), id);
                if method == "SUBSCRIBE" {
                    self.subs.insert(key);
                } else {
                    self.subs.remove(&key);
                }
                None
            }
            other => Some(error_frame(
                400,
                "bad_request",
                &format!("unknown method `{other}`: use AUTH, SUBSCRIBE or UNSUBSCRIBE"),
            )),
        }
    }

    /// Is the socket's credential still good (not revoked, not expired)?
    async fn still_valid(&self) -> bool {
        match &self.credential {
            None => self.access.is_none(),
            Some(c) => c.still_valid(&self.state, &self.instance.id).await,
        }
    }

    async fn frame_for(&self, e: &DocEvent) -> Option<Message> {
        let access = self.access.as_ref()?;
        if e.instance != self.instance.id.as_str() {
            return None;
        }
        let subscribed = self.subs.contains(&(e.doctype.clone(), None))
            || self.subs.contains(&(e.doctype.clone(), Some(e.id.clone())));
        if !subscribed {
            return None;
        }
        let doc = self.load(e).await?;
        let target = Target::Doc {
            id: &e.id,
            body: Some(&doc),
        };
        access.check(&e.doctype, Verb::Get, target).ok()?;
        let event = if e.deleted {
            "DELETED"
        } else if e.existed {
            "UPDATED"
        } else {
            "CREATED"
        };
        Some(Message::Text(
            json!({"event": event, "payload": {"type": e.doctype, "id": e.id, "doc": doc}})
                .to_string()
                .into(),
        ))
    }

    /// The document at the event's revision (or its current winner, if a
    /// later write already replaced it).
    async fn load(&self, e: &DocEvent) -> Option<Value> {
        let store = &self.state.store;
        let rev = nuage_core::revs::Rev::parse(&e.rev)?;
        let inst = &self.instance.id;
        let rows = store
            .revs_with_bodies(inst, &e.doctype, &e.id, std::slice::from_ref(&rev))
            .await
            .ok()?;
        let body = match rows.into_iter().next().and_then(|r| r.body) {
            Some(b) => b,
            None => store.doc_head(inst, &e.doctype, &e.id).await.ok()??.body,
        };
        let mut doc = parse_body(&body);
        if let Some(Value::Object(atts)) = doc.get_mut("_attachments") {
            for meta in atts.values_mut() {
                if let Value::Object(m) = meta {
                    m.remove(nuage_docs::attachments::BLOB_KEY);
                }
            }
        }
        doc.insert("_id".into(), json!(e.id));
        doc.insert("_rev".into(), json!(e.rev));
        if e.deleted {
            doc.insert("_deleted".into(), json!(true));
        }
        Some(Value::Object(doc))
    }
}
