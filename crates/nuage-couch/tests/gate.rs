//! The CouchDB face on its own, without nuage-web: a [`Gate`] written
//! here (bearer names → instances and accesses, a revocation switch) over
//! a real store on both engines. What crosses the seam: the caller, the
//! gate's refusals in CouchDB's shape with their headers, the re-check of
//! a held credential, the shutdown signal.

use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use nuage_blob::Blobs;
use nuage_core::{Access, InstanceId, Subject};
use nuage_couch::{BoxFuture, Caller, CouchState, Gate, Recheck, Refusal};
use nuage_docs::Docs;
use nuage_store::testing::TestDb;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower::ServiceExt;

/// `Bearer owner` is the instance's owner until `revoked` is set; any
/// other request is refused as the server around would refuse it.
struct TestGate {
    instance: InstanceId,
    revoked: Arc<AtomicBool>,
    stopping: tokio::sync::watch::Sender<bool>,
}

fn owner() -> Access {
    Access::owner(Subject::CliToken)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

impl Gate for TestGate {
    fn caller<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Caller, Refusal>> {
        Box::pin(async move {
            if bearer(&parts.headers) == Some("owner") && !self.revoked.load(Ordering::SeqCst) {
                return Ok(Caller {
                    instance: self.instance.clone(),
                    access: owner(),
                });
            }
            let mut headers = HeaderMap::new();
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"test\""),
            );
            Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                error: "unauthorized".into(),
                reason: "present a token; get one from the test".into(),
                headers,
            })
        })
    }

    fn hold(&self, headers: &HeaderMap, _: &InstanceId) -> Option<Arc<dyn Recheck>> {
        bearer(headers).map(|_| {
            Arc::new(Held {
                revoked: self.revoked.clone(),
            }) as Arc<dyn Recheck>
        })
    }

    fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}

struct Held {
    revoked: Arc<AtomicBool>,
}

impl Recheck for Held {
    fn every(&self) -> Duration {
        // Checked at every step of a feed, so the test needs no clock.
        Duration::ZERO
    }
    fn still_valid(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move { !self.revoked.load(Ordering::SeqCst) })
    }
}

struct World {
    app: Router,
    docs: Docs,
    instance: InstanceId,
    revoked: Arc<AtomicBool>,
    _blobs: tempfile::TempDir,
}

async fn world(db: &TestDb) -> World {
    let store = db.open().await;
    let instance = store.test_instance("couch.test").await;
    let dir = tempfile::tempdir().unwrap();
    let docs = Docs::new(store, Blobs::new(dir.path()));
    let revoked = Arc::new(AtomicBool::new(false));
    let gate = TestGate {
        instance: instance.clone(),
        revoked: revoked.clone(),
        stopping: tokio::sync::watch::channel(false).0,
    };
    let app = nuage_couch::router(CouchState {
        docs: docs.clone(),
        gate: Arc::new(gate),
    });
    World {
        app,
        docs,
        instance,
        revoked,
        _blobs: dir,
    }
}

impl World {
    /// A GET as the owner, its answer not yet read (for streamed bodies).
    async fn open(&self, uri: &str) -> axum::response::Response {
        let req = Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, "Bearer owner")
            .body(Body::empty())
            .unwrap();
        self.app.clone().oneshot(req).await.unwrap()
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if !token.is_empty() {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        let resp = self
            .app
            .clone()
            .oneshot(
                req.header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap(),
            )
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, v)
    }
}

async fn the_gate_refusal_is_couchdb_json_with_its_headers(db: &TestDb) {
    let w = world(db).await;
    let (status, headers, body) = w.call("GET", "/data/com.example.notes/x", "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["reason"], "present a token; get one from the test");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"test\"");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
}

async fn the_face_writes_and_reads_through_the_document_service(db: &TestDb) {
    let w = world(db).await;
    let (status, _, created) = w
        .call(
            "PUT",
            "/data/com.example.notes/n1",
            "owner",
            Some(json!({"title": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _, doc) = w
        .call("GET", "/data/com.example.notes/n1", "owner", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["title"], "hi");
    assert_eq!(doc["_rev"], created["rev"]);
    // The same document, read below the face: one store, one door.
    let below = w
        .docs
        .db(&w.instance, &owner(), "com.example.notes")
        .unwrap()
        .get("n1", &Default::default())
        .await
        .unwrap();
    let nuage_docs::GetAnswer::Doc(below) = below else {
        panic!("one document asked, one answered")
    };
    assert_eq!(below["title"], "hi");
    // The instance of the `uuid` is the gate's caller's.
    let (_, _, welcome) = w.call("GET", "/data/", "owner", None).await;
    assert_eq!(welcome["uuid"], w.instance.as_str());
}

async fn a_live_feed_ends_once_its_held_credential_no_longer_checks(db: &TestDb) {
    let w = world(db).await;
    w.call(
        "PUT",
        "/data/com.example.notes/n1",
        "owner",
        Some(json!({})),
    )
    .await;
    let resp = w
        .open("/data/com.example.notes/_changes?feed=continuous&heartbeat=50")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // The first row comes; then the credential is revoked, a document is
    // written, and the feed, re-checking before it reads again, ends
    // (the body finishes) without sending it.
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"n1\""));
    w.revoked.store(true, Ordering::SeqCst);
    w.docs
        .db(&w.instance, &owner(), "com.example.notes")
        .unwrap()
        .put("n2", json!({}), None, true)
        .await
        .unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .expect("a revoked feed ends")
        .unwrap()
        .to_bytes();
    // Heartbeats only: no row, and not even the `last_seq` a feed ends
    // with (a revoked credential learns nothing more).
    let text = String::from_utf8_lossy(&rest);
    assert!(text.trim().is_empty(), "{text}");
}

async fn a_long_all_docs_answer_is_cut_short_once_its_credential_no_longer_checks(db: &TestDb) {
    let w = world(db).await;
    let access = owner();
    let notes = w
        .docs
        .db(&w.instance, &access, "com.example.notes")
        .unwrap();
    const N: usize = 5_000;
    for start in (0..N).step_by(1_000) {
        let batch = (start..start + 1_000)
            .map(|i| json!({"_id": format!("n{i:05}"), "text": "lorem ipsum dolor sit amet"}))
            .collect();
        notes.bulk_docs(batch, true).await.unwrap();
    }
    let resp = w
        .open("/data/com.example.notes/_all_docs?include_docs=true")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    w.revoked.store(true, Ordering::SeqCst);
    // What was already on its way may still come; then the body fails
    // (cut short, as any answer that cannot finish) without the rest.
    let mut text = String::from_utf8_lossy(&first).into_owned();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        text.push_str(&String::from_utf8_lossy(&d));
                    }
                }
                Some(Err(_)) => return true,
                None => return false,
            }
        }
    })
    .await
    .expect("the answer ends");
    assert!(ended, "the body ended as if complete");
    let rows = text.matches("\"id\":").count();
    assert!(rows < N, "all {N} rows were sent after the revocation");
}

async fn a_quiet_feed_without_heartbeats_ends_once_its_credential_no_longer_checks(db: &TestDb) {
    let w = world(db).await;
    w.call(
        "PUT",
        "/data/com.example.notes/n1",
        "owner",
        Some(json!({})),
    )
    .await;
    let resp = w
        .open("/data/com.example.notes/_changes?feed=continuous&timeout=600000")
        .await;
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"n1\""));
    // Nothing is written any more: the feed waits, and its credential is
    // checked on its clock all the same, not only when a change comes.
    w.revoked.store(true, Ordering::SeqCst);
    let rest = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .expect("a quiet revoked feed ends")
        .unwrap()
        .to_bytes();
    assert!(String::from_utf8_lossy(&rest).trim().is_empty());
}

async fn a_changes_answer_goes_out_in_chunks_not_a_write_per_row(db: &TestDb) {
    let w = world(db).await;
    let access = owner();
    let notes = w
        .docs
        .db(&w.instance, &access, "com.example.notes")
        .unwrap();
    let batch = (0..2_000)
        .map(|i| json!({"_id": format!("n{i:05}")}))
        .collect();
    notes.bulk_docs(batch, true).await.unwrap();
    let mut body = w
        .open("/data/com.example.notes/_changes?style=all_docs")
        .await
        .into_body();
    let (mut frames, mut text) = (0, Vec::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames += 1;
            text.extend_from_slice(&data);
        }
    }
    let answer: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(answer["results"].as_array().unwrap().len(), 2_000);
    // About 150 KB: a handful of 16 KB chunks, where a write per row made
    // 2,000 (each one more piece for the client to gather).
    assert!(frames <= 20, "{frames} chunks for {} bytes", text.len());
}

nuage_store::on_both_engines!(
    a_changes_answer_goes_out_in_chunks_not_a_write_per_row,
    a_quiet_feed_without_heartbeats_ends_once_its_credential_no_longer_checks,
    a_long_all_docs_answer_is_cut_short_once_its_credential_no_longer_checks,
    the_gate_refusal_is_couchdb_json_with_its_headers,
    the_face_writes_and_reads_through_the_document_service,
    a_live_feed_ends_once_its_held_credential_no_longer_checks,
);
