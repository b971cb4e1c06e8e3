//! A caller limited by a selector, reading a document it may see, learns
//! only of the revisions whose bodies it may read: a rev id is the MD5 of
//! its parent and body, so a listed id confirms a guessed body offline.
//! Every route that lists revisions (`conflicts`, `deleted_conflicts`,
//! `revs_info`, `open_revs`, `latest`, `_bulk_get`, `_changes` with
//! `style=all_docs`, `_all_docs` with `conflicts`, `_revs_diff`) tells it
//! the same: the winner, the conflicts it may read, and the history of
//! those. A deleted conflict is known by its own body (what it deleted is
//! pruned): an empty tombstone is not. On both engines.

mod common;

use common::{Cloud, cloud, holding};
use nuage_core::Subject;
use nuage_core::revs::Rev;
use nuage_docs::{
    AllDocsCursor, AllDocsQuery, AllDocsRequest, BulkGetItem, ChangesQuery, GetAnswer, GetOptions,
    Meta, OpenRevs, Style,
};
use nuage_store::testing::TestDb;
use serde_json::{Map, Value, json};

const NOTES: &str = "io.example.notes";

fn id(c: char) -> String {
    c.to_string().repeat(32)
}

/// Revisions of note `n` that alice's reader may not know of: bob's
/// conflict, an empty tombstone and the bob's revision it deleted.
fn secrets() -> Vec<String> {
    vec![
        format!("1-{}", id('b')),
        format!("1-{}", id('c')),
        format!("2-{}", id('d')),
    ]
}

/// Note `n`: alice's winner (2-…), alice's live conflict `1-aaa…`, bob's
/// live conflict `1-bbb…`, an empty tombstone `2-ddd…` over `1-ccc…`, and
/// a tombstone keeping alice's fields, `2-eee…` over `1-fff…`.
async fn note_with_conflicts(c: &Cloud) -> Rev {
    let o = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let (_, first) = o
        .put("n", json!({"owner": "alice", "text": "one"}), None, true)
        .await
        .unwrap();
    let (_, winner) = o
        .put(
            "n",
            json!({"owner": "alice", "text": "two"}),
            Some(first),
            true,
        )
        .await
        .unwrap();
    let written = o
        .bulk_docs(
            vec![
                json!({"_id": "n", "_rev": format!("1-{}", id('a')), "owner": "alice", "text": "mine"}),
                json!({"_id": "n", "_rev": format!("1-{}", id('b')), "owner": "bob", "salary": 1}),
                json!({"_id": "n", "_rev": format!("2-{}", id('d')), "_deleted": true,
                       "_revisions": {"start": 2, "ids": [id('d'), id('c')]}}),
                json!({"_id": "n", "_rev": format!("2-{}", id('e')), "_deleted": true, "owner": "alice",
                       "_revisions": {"start": 2, "ids": [id('e'), id('f')]}}),
            ],
            false,
        )
        .await
        .unwrap();
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    winner
}

/// Which of the secret revisions an answer names, beside `asked`.
fn leaked(answer: &Value, asked: &[&str]) -> Vec<String> {
    let text = answer.to_string();
    secrets()
        .into_iter()
        .filter(|s| !asked.contains(&s.as_str()) && text.contains(s.as_str()))
        .collect()
}

fn all_meta() -> Meta {
    Meta {
        conflicts: true,
        deleted_conflicts: true,
        revs: true,
        revs_info: true,
        ..Meta::default()
    }
}

async fn a_limited_reader_learns_only_the_revisions_it_may_read(db: &TestDb) {
    let c = cloud(db).await;
    let winner = note_with_conflicts(&c).await;
    let alice = holding(Subject::CliToken, "io.example.notes:GET:alice:owner");
    let o = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let r = c.docs.db(&c.inst, &alice, NOTES).unwrap();
    let mine = format!("1-{}", id('a'));
    let kept = format!("2-{}", id('e'));

    // GET with every meta member: the owner sees all; alice her own.
    let meta = GetOptions {
        meta: all_meta(),
        ..Default::default()
    };
    let GetAnswer::Doc(full) = o.get("n", &meta).await.unwrap() else {
        panic!("a document")
    };
    assert_eq!(leaked(&full, &[]).len(), 2, "{full}");
    let GetAnswer::Doc(doc) = r.get("n", &meta).await.unwrap() else {
        panic!("a document")
    };
    assert_eq!(doc["_rev"], json!(winner.to_string()));
    assert_eq!(doc["_conflicts"], json!([mine]), "{doc}");
    assert_eq!(doc["_deleted_conflicts"], json!([kept]), "{doc}");
    assert_eq!(leaked(&doc, &[]), Vec::<String>::new(), "{doc}");

    // open_revs=all, and `latest` from a revision of a hidden branch.
    for (open, latest, asked) in [
        (OpenRevs::All, false, None),
        (
            OpenRevs::List(vec![Rev::parse(&secrets()[1]).unwrap()]),
            true,
            Some(secrets()[1].clone()),
        ),
    ] {
        let opts = GetOptions {
            open_revs: Some(open),
            latest,
            meta: all_meta(),
            ..Default::default()
        };
        let GetAnswer::OpenRevs(list) = r.get("n", &opts).await.unwrap() else {
            panic!("open_revs answers a list")
        };
        let list = Value::Array(list);
        let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
        assert_eq!(leaked(&list, &asked), Vec::<String>::new(), "{list}");
        if asked.is_empty() {
            let revs: Vec<&Value> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|e| &e["ok"]["_rev"])
                .collect();
            assert_eq!(revs.len(), 3, "winner, her conflict, her tombstone: {list}");
        }
    }

    // _bulk_get of every leaf, with conflicts and history.
    let items = vec![BulkGetItem {
        id: "n".into(),
        rev: None,
        atts_since: Vec::new(),
    }];
    let got = r
        .bulk_get(items, &all_meta(), false)
        .await
        .unwrap()
        .to_value();
    assert_eq!(leaked(&got, &[]), Vec::<String>::new(), "{got}");
    assert_eq!(
        got["results"][0]["docs"].as_array().unwrap().len(),
        3,
        "{got}"
    );

    // _changes with style=all_docs, and with the documents' conflicts.
    let q = ChangesQuery {
        style: Style::AllDocs,
        include_docs: true,
        meta: all_meta(),
        ..Default::default()
    };
    let page = r.changes_page(&q, 0, 100).await.unwrap();
    let rows = Value::Array(page.rows);
    assert_eq!(leaked(&rows, &[]), Vec::<String>::new(), "{rows}");
    assert_eq!(rows[0]["changes"].as_array().unwrap().len(), 3, "{rows}");

    // _all_docs with conflicts.
    let req = AllDocsRequest {
        range: AllDocsQuery {
            inclusive_end: true,
            ..Default::default()
        },
        include_docs: true,
        meta: all_meta(),
        ..Default::default()
    };
    let mut cursor = AllDocsCursor::new(&req);
    let rows = Value::Array(r.all_docs_page(&req, &mut cursor).await.unwrap());
    assert_eq!(leaked(&rows, &[]), Vec::<String>::new(), "{rows}");
    assert_eq!(rows[0]["doc"]["_conflicts"], json!([mine]), "{rows}");

    // _revs_diff: a hidden revision is missing, as one never written is,
    // and no hidden leaf is offered as a possible ancestor.
    for asked in secrets() {
        let never = format!("{}-{}", &asked[..1], id('9'));
        let diff = |rev: &str| {
            let mut m = Map::new();
            m.insert("n".into(), json!([rev]));
            r.revs_diff(m)
        };
        let (hidden, unknown) = (diff(&asked).await.unwrap(), diff(&never).await.unwrap());
        assert_eq!(
            hidden.to_string().replace(&asked, &never),
            unknown.to_string(),
            "{asked}"
        );
        assert_eq!(leaked(&unknown, &[]), Vec::<String>::new(), "{unknown}");
    }
    let mut m = Map::new();
    m.insert("n".into(), json!([format!("3-{}", id('9'))]));
    let full = o.revs_diff(m).await.unwrap();
    assert_eq!(
        leaked(&full, &[]).len(),
        2,
        "the owner's answer names them: {full}"
    );
}

/// An attachment stub names an attachment of a leaf it came from: a caller
/// limited by a selector resolves stubs only from leaves it may read, so a
/// hidden conflict's attachment is neither copied into its revision nor
/// confirmed to exist.
async fn a_limited_writer_takes_no_attachment_from_a_hidden_conflict(db: &TestDb) {
    let c = cloud(db).await;
    let o = c.docs.db(&c.inst, &c.owner, NOTES).unwrap();
    let (_, first) = o
        .put("p", json!({"owner": "alice"}), None, true)
        .await
        .unwrap();
    let (_, winner) = o
        .put("p", json!({"owner": "alice", "v": 2}), Some(first), true)
        .await
        .unwrap();
    let written = o
        .bulk_docs(
            vec![
                json!({"_id": "p", "_rev": format!("1-{}", id('b')), "owner": "bob",
                "_attachments": {"scan.pdf": {"content_type": "text/plain", "data": "c2VjcmV0"}}}),
            ],
            false,
        )
        .await
        .unwrap();
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    let stub = |rev: &Rev| {
        json!({"owner": "alice", "_rev": rev.to_string(),
               "_attachments": {"scan.pdf": {"stub": true}}})
    };
    let alice = holding(Subject::CliToken, "io.example.notes:ALL:alice:owner");
    let a = c.docs.db(&c.inst, &alice, NOTES).unwrap();
    let refused = a.put("p", stub(&winner), Some(winner.clone()), true).await;
    assert!(refused.is_err(), "alice took bob's attachment: {refused:?}");
    let GetAnswer::Doc(doc) = o.get("p", &GetOptions::default()).await.unwrap() else {
        panic!("a document")
    };
    assert_eq!(doc["_rev"], json!(winner.to_string()), "{doc}");
    // The owner, who may read bob's conflict, resolves the same stub.
    let (_, taken) = o
        .put("p", stub(&winner), Some(winner.clone()), true)
        .await
        .unwrap();
    let GetAnswer::Doc(doc) = o.get("p", &GetOptions::default()).await.unwrap() else {
        panic!("a document")
    };
    assert_eq!(doc["_rev"], json!(taken.to_string()));
    assert!(doc["_attachments"]["scan.pdf"].is_object(), "{doc}");
}

nuage_store::on_both_engines!(
    a_limited_reader_learns_only_the_revisions_it_may_read,
    a_limited_writer_takes_no_attachment_from_a_hidden_conflict,
);
