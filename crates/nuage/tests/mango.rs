//! The Mango golden fixture (crates/nuage-mango/tests/data/fixture.json)
//! replayed over HTTP against the real server: indexes created with
//! `POST _index`, documents stored with `_bulk_docs`, every query answered
//! by `POST _find` exactly as CouchDB answers it, every invalid body refused
//! with CouchDB's error; and `_explain` shows that an index's SQL is used.

mod common;

use common::{Server, send};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

scenarios!(
    the_fixture_answers_over_http_as_couchdb_does,
    an_index_makes_the_engine_use_it
);

const DB: &str = "/data/com.example.films";

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../nuage-mango/tests/data/fixture.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture"))
        .expect("fixture JSON")
}

async fn post(server: &Server, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let reply = send(
        server
            .http()
            .post(server.url(&format!("{DB}{path}")))
            .bearer_auth(token)
            .json(body),
    )
    .await;
    let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    (reply.status, v)
}

async fn the_fixture_answers_over_http_as_couchdb_does(server: Server) {
    let token = server.cli_token("com.example.films:ALL", None).await;
    let f = fixture();
    for index in f["indexes"].as_array().unwrap() {
        let (status, body) = post(&server, &token, "/_index", index).await;
        assert_eq!(status, StatusCode::OK, "{index}: {body}");
        assert_eq!(body["result"], "created", "{body}");
    }
    let (status, body) = post(&server, &token, "/_bulk_docs", &json!({"docs": f["docs"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body.as_array().unwrap().iter().all(|r| r["ok"] == true),
        "{body}"
    );

    let mut bookmarks: HashMap<String, String> = HashMap::new();
    let mut failures = Vec::new();
    for q in f["queries"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        let mut request = q["request"].clone();
        if let Some(from) = q["bookmark_from"].as_str() {
            request["bookmark"] = json!(bookmarks[from]);
        }
        let (status, body) = post(&server, &token, "/_find", &request).await;
        if status != StatusCode::OK {
            failures.push(format!("{name}: {status} {body}"));
            continue;
        }
        if let Some(b) = body["bookmark"].as_str() {
            bookmarks.insert(name.to_owned(), b.to_owned());
        }
        let docs = body["docs"].as_array().cloned().unwrap_or_default();
        if let Some(expected) = q.get("expected_ids") {
            let got: Vec<Value> = docs.iter().map(|d| d["_id"].clone()).collect();
            if &Value::Array(got.clone()) != expected {
                failures.push(format!(
                    "{name}: expected ids {expected}, got {}",
                    Value::Array(got)
                ));
            }
        }
        if let Some(expected) = q.get("expected_fields")
            && &Value::Array(docs.clone()) != expected
        {
            failures.push(format!(
                "{name}: expected docs {expected}, got {}",
                Value::Array(docs)
            ));
        }
    }
    for bad in f["invalid"].as_array().unwrap() {
        let (status, body) = post(&server, &token, "/_find", &bad["request"]).await;
        if status != StatusCode::BAD_REQUEST
            || body["error"] != bad["error"]
            || body["reason"].as_str().is_none_or(str::is_empty)
        {
            failures.push(format!(
                "invalid _find {}: expected 400 {}, got {status} {body}",
                bad["request"], bad["error"]
            ));
        }
    }
    for bad in f["invalid_indexes"].as_array().unwrap() {
        let (status, body) = post(&server, &token, "/_index", &bad["request"]).await;
        if body["error"] != bad["error"]
            || !status.is_client_error() && status != StatusCode::SERVICE_UNAVAILABLE
        {
            failures.push(format!(
                "invalid _index {}: expected {}, got {status} {body}",
                bad["request"], bad["error"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the fixture's cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Nothing the invalid requests did changed the data.
    let info = send(
        server
            .http()
            .get(server.url(&format!("{DB}/")))
            .bearer_auth(&token),
    )
    .await;
    let info: Value = serde_json::from_str(&info.body).unwrap();
    let indexes = f["indexes"].as_array().unwrap().len() as u64;
    let docs = f["docs"].as_array().unwrap().len() as u64;
    assert_eq!(
        info["doc_count"],
        json!(docs + indexes),
        "documents plus one design document per index: {info}"
    );
}

async fn an_index_makes_the_engine_use_it(server: Server) {
    let token = server.cli_token("com.example.films:ALL", None).await;
    let docs: Vec<Value> = (0..2000).map(|i| json!({"_id": format!("f{i:05}"), "year": 1900 + i % 120, "title": format!("Film {i}")})).collect();
    let (status, _) = post(&server, &token, "/_bulk_docs", &json!({"docs": docs})).await;
    assert_eq!(status, StatusCode::CREATED);
    let query = json!({"selector": {"year": 1999}, "execution_stats": true});

    let (_, before) = post(&server, &token, "/_explain", &query).await;
    assert_eq!(before["index"]["name"], "_all_docs", "{before}");
    assert_eq!(before["sql"]["uses_index"], false, "{before}");
    let (_, slow) = post(&server, &token, "/_find", &query).await;
    assert_eq!(
        slow["execution_stats"]["total_docs_examined"], 2000,
        "{slow}"
    );
    assert!(
        slow["warning"].is_string(),
        "CouchDB warns when no index fits: {slow}"
    );

    let (status, created) = post(
        &server,
        &token,
        "/_index",
        &json!({"index": {"fields": ["year"]}, "name": "by-year"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (_, after) = post(&server, &token, "/_explain", &query).await;
    assert_eq!(after["index"]["name"], "by-year", "{after}");
    assert_eq!(
        after["sql"]["uses_index"], true,
        "the engine's plan must use the SQL index: {after}"
    );
    let (_, fast) = post(&server, &token, "/_find", &query).await;
    let examined = fast["execution_stats"]["total_docs_examined"]
        .as_u64()
        .unwrap();
    assert!(
        examined < 50,
        "the index narrows the scan to the matching year: {fast}"
    );
    let ids = |v: &Value| {
        v["docs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["_id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&slow),
        ids(&fast),
        "same answer with and without the index"
    );
    assert!(fast.get("warning").is_none(), "{fast}");

    // A numeric lower bound narrows a range through the index entries,
    // whose byte order is CouchDB's collation on both engines: every string
    // collates after every number, so the range holds the string too.
    let (_, extra) = post(
        &server,
        &token,
        "/_bulk_docs",
        &json!({"docs": [{"_id": "s1", "year": "unknown"}]}),
    )
    .await;
    assert!(
        extra.as_array().is_some_and(|r| r[0]["ok"] == true),
        "{extra}"
    );
    let range =
        json!({"selector": {"year": {"$gt": 2015}}, "execution_stats": true, "limit": 1000});
    let (_, plan) = post(&server, &token, "/_explain", &range).await;
    let (_, found) = post(&server, &token, "/_find", &range).await;
    let mut got = ids(&found);
    got.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    let mut want: Vec<Value> = (0..2000)
        .filter(|i| 1900 + i % 120 > 2015)
        .map(|i| json!(format!("f{i:05}")))
        .collect();
    want.push(json!("s1"));
    assert_eq!(
        got, want,
        "numbers above 2015 and every string, as CouchDB collates"
    );
    let examined = found["execution_stats"]["total_docs_examined"]
        .as_u64()
        .unwrap();
    assert_eq!(plan["sql"]["uses_index"], true, "{plan}");
    assert!(examined < 100, "the range was narrowed: {found}");
}
