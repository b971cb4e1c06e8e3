//! The owner deletes a doctype over HTTP while the server runs: `DELETE
//! /data/{doctype}` answers `{"ok":true}` once nothing of it is left,
//! counted in the database; its documents then answer 404, its info the
//! zeros of a doctype never written (nuage's answer for a missing
//! database: apps need not create their doctypes). While a deletion is
//! under way, writes to that doctype are refused with 409
//! `doctype_being_deleted`.

mod common;

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};

scenarios!(a_doctype_deleted_over_http_is_purged_before_the_answer);

const NOTES: &str = "com.example.notes";
const FILMS: &str = "com.example.films";

async fn a_doctype_deleted_over_http_is_purged_before_the_answer(server: Server) {
    let couch = server.couch(&format!("{NOTES}:ALL {FILMS}:ALL")).await;
    for (doctype, n) in [(NOTES, 1200), (FILMS, 10)] {
        let batch: Vec<Value> = (0..n)
            .map(|i| json!({"_id": format!("n{i:04}"), "n": i}))
            .collect();
        couch
            .post(
                &format!("/data/{doctype}/_bulk_docs"),
                &json!({"docs": batch}),
            )
            .await
            .expect_status(StatusCode::CREATED);
        couch
            .post(
                &format!("/data/{doctype}/_index"),
                &json!({"index": {"fields": ["n"]}, "name": "by-n"}),
            )
            .await
            .expect_status(StatusCode::OK);
        couch
            .put(
                &format!("/data/{doctype}/_local/checkpoint"),
                &json!({"seq": 1}),
            )
            .await
            .expect_status(StatusCode::CREATED);
    }
    let store = server.store().await;
    let inst = store
        .instance_by_domain(&server.domain)
        .await
        .unwrap()
        .expect("the server's instance")
        .id;

    let removed = couch
        .delete(&format!("/data/{NOTES}"))
        .await
        .json_ok(StatusCode::OK);
    assert_eq!(removed, json!({"ok": true}));
    for (table, n) in store.rows_of_doctype(&inst, NOTES).await {
        assert_eq!(n, 0, "{table}: {n} rows left when the deletion answered");
    }
    couch
        .get(&format!("/data/{NOTES}/n0001"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(couch.info(NOTES).await["doc_count"], 0);
    couch
        .delete(&format!("/data/{NOTES}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(couch.doc(FILMS, "n0009").await["n"], 9);

    // A deletion under way (begun as a request begins it; this test plays
    // the request that has not finished its purge yet).
    assert!(store.retire_doctype(&inst, FILMS).await.unwrap());
    let refused = couch
        .put(&format!("/data/{FILMS}/late"), &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "doctype_being_deleted");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("try again in a moment")),
        "{refused}"
    );
    couch
        .put(&format!("/data/{FILMS}"), &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "doctype_being_deleted");
    while store.purge_doctype_step(&inst, FILMS).await.unwrap() > 0 {}
    couch
        .put(&format!("/data/{FILMS}"), &json!({}))
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(couch.info(FILMS).await["doc_count"], 0);
}
