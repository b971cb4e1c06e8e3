//! The rule: a limited permission never learns whether a document outside
//! it exists, on any route. Each test asks the same question about a
//! document outside the permission and about one that was never written,
//! and wants the same answer, on both engines.

use nuage_blob::Blobs;
use nuage_core::revs::Rev;
use nuage_core::scope::parse_scope;
use nuage_core::{Access, InstanceId, Permissions, Subject};
use nuage_docs::{DocError, DocResult, Docs, GetAnswer, GetOptions, Meta, OpenRevs};
use nuage_store::Store;
use nuage_store::testing::TestDb;
use serde_json::{Value, json};

const NOTES: &str = "io.example.notes";
/// Reads alice's notes only.
const ALICE_READS: &str = "io.example.notes:GET:alice:owner";
/// Reads and updates alice's notes only.
const ALICE_WRITES: &str = "io.example.notes:GET,PUT:alice:owner";
/// Reads two notes by id.
const TWO_IDS: &str = "io.example.notes:GET:n1,n2";

struct World {
    docs: Docs,
    inst: InstanceId,
    owner: Access,
    /// The revision of bob's note with an attachment, `n5`.
    n5: Rev,
    /// The revision of bob's note `n3`.
    n3: Rev,
    _blobs: tempfile::TempDir,
}

fn access(scope: &str) -> Access {
    Access {
        subject: Subject::CliToken,
        permissions: Permissions::List(parse_scope(scope).unwrap()),
    }
}

/// Alice's notes n1 and n4, bob's n3 (with an email) and n5 (with an
/// attachment), bob's deleted `gone`, alice's deleted `mine-gone`; an index
/// on email limited to bob's notes and one on owner.
async fn world(db: &TestDb) -> World {
    let store: Store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let dir = tempfile::tempdir().unwrap();
    let owner = Access {
        subject: Subject::CliToken,
        permissions: Permissions::Owner,
    };
    let docs = Docs::new(store, Blobs::new(dir.path()));
    let d = docs.db(&inst, &owner, NOTES).unwrap();
    d.put(
        "n1",
        json!({"owner": "alice", "email": "alice@x"}),
        None,
        true,
    )
    .await
    .unwrap();
    let (_, n3) = d
        .put("n3", json!({"owner": "bob", "email": "bob@x"}), None, true)
        .await
        .unwrap();
    d.put("n4", json!({"owner": "alice"}), None, true)
        .await
        .unwrap();
    let (_, n5) = d
        .put(
            "n5",
            json!({"owner": "bob", "_attachments": {"f.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}}),
            None,
            true,
        )
        .await
        .unwrap();
    let (_, g) = d
        .put("gone", json!({"owner": "bob"}), None, true)
        .await
        .unwrap();
    d.delete_doc("gone", Some(g)).await.unwrap();
    let (_, m) = d
        .put("mine-gone", json!({"owner": "alice"}), None, true)
        .await
        .unwrap();
    d.put(
        "mine-gone",
        json!({"owner": "alice", "_deleted": true}),
        Some(m),
        true,
    )
    .await
    .unwrap();
    d.create_index(json!({"index": {"fields": ["email"], "partial_filter_selector": {"owner": "bob"}}, "ddoc": "ix", "name": "byemail"}))
        .await
        .unwrap();
    d.create_index(json!({"index": {"fields": ["email"]}, "ddoc": "ix3", "name": "email"}))
        .await
        .unwrap();
    d.create_index(json!({"index": {"fields": ["owner"]}, "ddoc": "ix2", "name": "byowner"}))
        .await
        .unwrap();
    World {
        docs,
        inst,
        owner,
        n5,
        n3,
        _blobs: dir,
    }
}

/// An answer in a form two answers can be compared in.
fn seen<T: std::fmt::Debug>(r: &DocResult<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("error {e:?}"),
    }
}

fn get_seen(r: DocResult<GetAnswer>) -> String {
    seen(&r.map(|a| match a {
        GetAnswer::Doc(d) => d,
        GetAnswer::OpenRevs(l) => Value::Array(l),
    }))
}

/// A `_find` answer without its timing.
async fn find(w: &World, scope: &str, body: Value) -> Value {
    let a = access(scope);
    let mut out = match w.docs.db(&w.inst, &a, NOTES).unwrap().find(body).await {
        Ok(out) => out,
        Err(e) => return json!({"error": format!("{e:?}")}),
    };
    if let Some(Value::Object(s)) = out.get_mut("execution_stats") {
        s.remove("execution_time_ms");
    }
    out
}

async fn find_counts_only_documents_the_caller_may_read(db: &TestDb) {
    let w = world(db).await;
    // Bob's email, a range over it, and his owner value, each against a
    // value nobody has: the same answer, stats included.
    let pairs = [
        (json!({"email": "bob@x"}), json!({"email": "nobody@x"})),
        (
            json!({"email": {"$gte": "b", "$lt": "c"}}),
            json!({"email": {"$gte": "x", "$lt": "y"}}),
        ),
        (json!({"owner": "bob"}), json!({"owner": "zed"})),
    ];
    for (hidden, absent) in pairs {
        for extra in [json!({}), json!({"use_index": ["ix3", "email"]})] {
            let body = |sel: &Value| {
                let mut b = json!({"selector": sel, "execution_stats": true});
                for (k, v) in extra.as_object().unwrap() {
                    b[k] = v.clone();
                }
                b
            };
            let a = find(&w, ALICE_READS, body(&hidden)).await;
            let b = find(&w, ALICE_READS, body(&absent)).await;
            assert_eq!(a, b, "{hidden} vs {absent} with {extra}");
        }
    }
    // A selector matching alice's notes counts them, and only them.
    let mine = find(
        &w,
        ALICE_READS,
        json!({"selector": {"email": {"$gte": "a"}}, "execution_stats": true, "use_index": ["ix3", "email"]}),
    )
    .await;
    assert_eq!(mine["docs"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["execution_stats"]["total_keys_examined"], 1, "{mine}");
    assert_eq!(mine["execution_stats"]["total_docs_examined"], 1, "{mine}");
    // The owner still sees what the index holds.
    let all = find(
        &w,
        "io.example.notes:GET",
        json!({"selector": {"email": {"$gte": "a"}}, "execution_stats": true, "use_index": ["ix3", "email"]}),
    )
    .await;
    assert_eq!(all["execution_stats"]["total_keys_examined"], 2, "{all}");
}

async fn limited_readers_see_index_definitions_without_their_partial_filters(db: &TestDb) {
    let w = world(db).await;
    let a = access(ALICE_READS);
    let d = w.docs.db(&w.inst, &a, NOTES).unwrap();
    let list = d.list_indexes().await.unwrap();
    assert_eq!(list["total_rows"], 4, "{list}");
    assert!(
        !list.to_string().contains("partial_filter_selector"),
        "{list}"
    );
    assert!(!list.to_string().contains("bob"), "{list}");
    let explain = d
        .explain(json!({"selector": {"email": "bob@x"}, "use_index": ["ix", "byemail"]}))
        .await
        .unwrap();
    assert!(!explain.to_string().contains("bob\""), "{explain}");
    assert!(explain["sql"].get("plan").is_none(), "{explain}");
    // Whoever reads the whole doctype sees the whole definition.
    let full = access("io.example.notes:GET");
    let d = w.docs.db(&w.inst, &full, NOTES).unwrap();
    let list = d.list_indexes().await.unwrap();
    assert!(
        list.to_string().contains("partial_filter_selector"),
        "{list}"
    );
    let explain = d
        .explain(json!({"selector": {"email": "bob@x"}, "use_index": ["ix", "byemail"]}))
        .await
        .unwrap();
    assert!(explain["sql"].get("plan").is_some(), "{explain}");
}

async fn a_document_outside_a_selector_reads_as_missing_in_every_form(db: &TestDb) {
    let w = world(db).await;
    let a = access(ALICE_READS);
    let d = w.docs.db(&w.inst, &a, NOTES).unwrap();
    let tree_meta = Meta {
        revs: true,
        conflicts: true,
        ..Default::default()
    };
    let options = [
        GetOptions::default(),
        GetOptions {
            meta: tree_meta.clone(),
            ..Default::default()
        },
        GetOptions {
            rev: Some(w.n3.clone()),
            ..Default::default()
        },
        GetOptions {
            open_revs: Some(OpenRevs::All),
            ..Default::default()
        },
        GetOptions {
            open_revs: Some(OpenRevs::All),
            meta: tree_meta,
            ..Default::default()
        },
        GetOptions {
            open_revs: Some(OpenRevs::List(vec![w.n3.clone()])),
            ..Default::default()
        },
        GetOptions {
            open_revs: Some(OpenRevs::List(vec![w.n3.clone()])),
            latest: true,
            ..Default::default()
        },
    ];
    for opts in &options {
        let never = get_seen(d.get("never", opts).await);
        for id in ["n3", "gone"] {
            assert_eq!(get_seen(d.get(id, opts).await), never, "{id} with {opts:?}");
        }
    }
    // Alice's own deleted note still says so.
    assert_eq!(
        d.get("mine-gone", &GetOptions::default()).await.err(),
        Some(DocError::deleted())
    );
    assert!(d.get("n1", &GetOptions::default()).await.is_ok());
}

async fn attachments_of_a_document_outside_the_permission_read_as_missing(db: &TestDb) {
    let w = world(db).await;
    let bogus = Rev::parse("1-0123456789abcdef0123456789abcdef").unwrap();
    let right = Some(w.n5.clone());
    let wrong = Some(bogus);
    for scope in [ALICE_READS, ALICE_WRITES, TWO_IDS] {
        let a = access(scope);
        let d = w.docs.db(&w.inst, &a, NOTES).unwrap();
        // Reads: bob's note, with its right or a wrong revision, answers as
        // a note never written.
        let never = seen(
            &d.get_attachment("never", "f.txt", None)
                .await
                .map(|c| c.data),
        );
        for rev in [None, right.as_ref(), wrong.as_ref()] {
            for (id, name) in [("n5", "f.txt"), ("n5", "nope"), ("never", "f.txt")] {
                let got = seen(&d.get_attachment(id, name, rev).await.map(|c| c.data));
                assert_eq!(got, never, "{scope}: GET {id}/{name} at {rev:?}");
            }
        }
        // Writes: the same, whatever the revision or the attachment.
        for rev in [right.clone(), wrong.clone()] {
            let never = seen(&d.delete_attachment("never", "f.txt", rev.clone()).await);
            for name in ["f.txt", "nope"] {
                let got = seen(&d.delete_attachment("n5", name, rev.clone()).await);
                assert_eq!(got, never, "{scope}: DELETE n5/{name} at {rev:?}");
            }
            let never = seen(
                &d.put_attachment("never", "g.txt", rev.clone(), "text/plain", b"x")
                    .await,
            );
            for name in ["f.txt", "g.txt"] {
                let got = seen(
                    &d.put_attachment("n5", name, rev.clone(), "text/plain", b"x")
                        .await,
                );
                assert_eq!(got, never, "{scope}: PUT n5/{name} at {rev:?}");
            }
        }
    }
    // A token that may not write is refused before anything is read.
    let a = access(ALICE_READS);
    let d = w.docs.db(&w.inst, &a, NOTES).unwrap();
    assert!(matches!(
        d.delete_attachment("n5", "nope", right.clone()).await,
        Err(DocError::Denied(_))
    ));
    assert!(matches!(
        d.put_attachment("n5", "g.txt", right.clone(), "text/plain", b"x")
            .await,
        Err(DocError::Denied(_))
    ));
    // Nothing was changed, and the owner still reads the attachment.
    let o = w.docs.db(&w.inst, &w.owner, NOTES).unwrap();
    let att = o.get_attachment("n5", "f.txt", None).await.unwrap();
    assert_eq!(att.data, b"hello");
    let GetAnswer::Doc(n5) = o.get("n5", &GetOptions::default()).await.unwrap() else {
        panic!("one document")
    };
    assert_eq!(n5["_rev"], w.n5.to_string());
}

async fn an_update_of_a_hidden_document_is_refused_as_one_of_a_missing_document(db: &TestDb) {
    let w = world(db).await;
    let a = access(ALICE_WRITES);
    let d = w.docs.db(&w.inst, &a, NOTES).unwrap();
    let bogus = Rev::parse("1-0123456789abcdef0123456789abcdef").unwrap();
    for rev in [w.n3.clone(), bogus] {
        let body = json!({"owner": "alice", "text": "taken"});
        let never = seen(&d.put("never", body.clone(), Some(rev.clone()), true).await);
        assert_eq!(never, seen::<()>(&Err(DocError::conflict())));
        let got = seen(&d.put("n3", body.clone(), Some(rev.clone()), true).await);
        assert_eq!(got, never, "PUT n3 at {rev}");
        let mut batch = body.clone();
        batch["_id"] = json!("n3");
        batch["_rev"] = json!(rev.to_string());
        let got = d.bulk_docs(vec![batch], true).await.unwrap();
        assert!(
            matches!(&got[..], [Err((_, DocError::Conflict))]),
            "{got:?}"
        );
    }
    // Bob's note is as it was.
    let o = w.docs.db(&w.inst, &w.owner, NOTES).unwrap();
    let GetAnswer::Doc(n3) = o.get("n3", &GetOptions::default()).await.unwrap() else {
        panic!("one document")
    };
    assert_eq!(n3["owner"], "bob");
}

/// The bound on the rows one `_find` reads counts the rows the caller may
/// read: more than `MAX_FIND_EXAMINED` notes outside alice's permission
/// answer as if they did not exist, on a scan and on an index alike.
async fn the_find_bound_counts_only_rows_the_caller_may_read(db: &TestDb) {
    let w = world(db).await;
    let queries = [
        json!({"selector": {"kind": "none"}}),
        json!({"selector": {"owner": {"$gte": "a"}}, "use_index": ["ix2", "byowner"]}),
    ];
    let before: Vec<Value> = alice_answers(&w, &queries).await;
    let o = w.docs.db(&w.inst, &w.owner, NOTES).unwrap();
    let hidden = nuage_docs::MAX_FIND_EXAMINED + 1;
    for start in (0..hidden).step_by(5_000) {
        let batch: Vec<Value> = (start..hidden.min(start + 5_000))
            .map(|i| json!({"_id": format!("bob{i:05}"), "owner": "bob"}))
            .collect();
        let written = o.bulk_docs(batch, true).await.unwrap();
        assert!(written.iter().all(Result::is_ok));
    }
    let after = alice_answers(&w, &queries).await;
    assert_eq!(after, before);
    assert!(after.iter().all(|a| a.get("error").is_none()), "{after:?}");
    // The owner, who may read them, is refused past the bound.
    let all = find(&w, "io.example.notes:GET", queries[0].clone()).await;
    assert!(
        all["error"].as_str().unwrap().contains("TooManyExamined"),
        "{all}"
    );
}

/// Alice's answers to `queries`, in order.
async fn alice_answers(w: &World, queries: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for q in queries {
        out.push(find(w, ALICE_READS, q.clone()).await);
    }
    out
}

nuage_store::on_both_engines!(
    the_find_bound_counts_only_rows_the_caller_may_read,
    find_counts_only_documents_the_caller_may_read,
    limited_readers_see_index_definitions_without_their_partial_filters,
    a_document_outside_a_selector_reads_as_missing_in_every_form,
    attachments_of_a_document_outside_the_permission_read_as_missing,
    an_update_of_a_hidden_document_is_refused_as_one_of_a_missing_document,
);
