//! The document store on both engines: revision trees, winners, the
//! changes feed, local documents, events.

use nuage_core::revs::Rev;
use nuage_store::testing::TestDb;
use nuage_store::*;

const T: &str = "com.example.notes";

async fn instance(store: &Store, domain: &str) -> InstanceId {
    store.test_instance(domain).await
}

fn edit(id: &str, parent: Option<&str>, new_id: &str, body: &str) -> DocWrite {
    DocWrite::Edit {
        id: id.into(),
        parent: parent.map(|p| Rev::parse(p).unwrap()),
        new_id: new_id.into(),
        deleted: false,
        body: body.into(),
        stubs_from: Vec::new(),
    }
}

fn replicate(id: &str, path: &[&str], deleted: bool, body: &str) -> DocWrite {
    DocWrite::Replicate {
        id: id.into(),
        path: path.iter().map(|r| Rev::parse(r).unwrap()).collect(),
        deleted,
        body: body.into(),
        stubs_from: Vec::new(),
    }
}

async fn edits_count_up_and_stale_edits_leave_no_trace(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    let out = store
        .write_docs(&inst, T, vec![edit("a", None, "x", r#"{"v":1}"#)])
        .await
        .unwrap();
    assert_eq!(out, vec![WriteOutcome::Written(Rev::new(1, "x"))]);
    let out = store
        .write_docs(
            &inst,
            T,
            vec![
                edit("a", Some("1-x"), "y", r#"{"v":2}"#),
                edit("b", None, "z", "{}"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 2);
    let before = store.doctype_info(&inst, T).await.unwrap().unwrap();
    assert_eq!((before.update_seq, before.doc_count), (3, 2));
    // A stale edit: refused, and the sequence, the count and the document
    // are as they were.
    let out = store
        .write_docs(&inst, T, vec![edit("a", Some("1-x"), "w", r#"{"v":3}"#)])
        .await
        .unwrap();
    assert_eq!(out, vec![WriteOutcome::Conflict]);
    assert_eq!(store.doctype_info(&inst, T).await.unwrap().unwrap(), before);
    let head = store.doc_head(&inst, T, "a").await.unwrap().unwrap();
    assert_eq!(
        (head.rev.to_string(), head.body.as_str()),
        ("2-y".to_owned(), r#"{"v":2}"#)
    );
    // The pruned parent has no body left; the leaf has.
    let revs = store
        .revs_with_bodies(&inst, T, "a", &[Rev::new(1, "x"), Rev::new(2, "y")])
        .await
        .unwrap();
    let body_of = |r: &str| {
        revs.iter()
            .find(|x| x.node.rev.to_string() == r)
            .unwrap()
            .body
            .clone()
    };
    assert_eq!(body_of("1-x"), None);
    assert_eq!(body_of("2-y").as_deref(), Some(r#"{"v":2}"#));
}

async fn replicated_conflicts_pick_the_same_winner_on_every_engine(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    store
        .write_docs(
            &inst,
            T,
            vec![replicate("d", &["1-a"], false, r#"{"s":"root"}"#)],
        )
        .await
        .unwrap();
    let out = store
        .write_docs(
            &inst,
            T,
            vec![
                replicate("d", &["2-b", "1-a"], false, r#"{"s":"b"}"#),
                replicate("d", &["2-c", "1-a"], false, r#"{"s":"c"}"#),
                replicate("d", &["2-c", "1-a"], false, r#"{"s":"c again"}"#),
            ],
        )
        .await
        .unwrap();
    assert_eq!(out[2], WriteOutcome::AlreadyPresent(Rev::new(2, "c")));
    let head = store.doc_head(&inst, T, "d").await.unwrap().unwrap();
    assert_eq!(
        head.rev.to_string(),
        "2-c",
        "the highest id wins between equal lengths"
    );
    assert_eq!(head.body, r#"{"s":"c"}"#);
    let tree = store.rev_tree(&inst, T, "d").await.unwrap();
    assert_eq!(tree.conflicts(), vec![Rev::new(2, "b")]);
    // Deleting the winner hands the document to the other branch.
    store
        .write_docs(
            &inst,
            T,
            vec![replicate("d", &["3-z", "2-c", "1-a"], true, "{}")],
        )
        .await
        .unwrap();
    let head = store.doc_head(&inst, T, "d").await.unwrap().unwrap();
    assert_eq!(
        (head.rev.to_string(), head.deleted),
        ("2-b".to_owned(), false)
    );
    assert_eq!(head.body, r#"{"s":"b"}"#);
    let info = store.doctype_info(&inst, T).await.unwrap().unwrap();
    assert_eq!((info.doc_count, info.doc_del_count), (1, 0));
}

async fn the_changes_feed_lists_each_document_once_at_its_last_change(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    for i in 0..10 {
        store
            .write_docs(&inst, T, vec![edit(&format!("d{i}"), None, "r", "{}")])
            .await
            .unwrap();
    }
    store
        .write_docs(&inst, T, vec![edit("d0", Some("1-r"), "s", "{}")])
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        let page = store
            .changes(&inst, T, since, 4, false, false)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        since = page.last().unwrap().seq;
        all.extend(page);
    }
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d0"]
    );
    assert_eq!(all.last().unwrap().seq, 11);
    let desc = store
        .changes(&inst, T, i64::MAX, 2, true, true)
        .await
        .unwrap();
    assert_eq!(desc[0].id, "d0");
    assert_eq!(desc[0].body.as_deref(), Some("{}"));
}

async fn doctypes_and_instances_are_separate(db: &TestDb) {
    let store = db.open().await;
    let a = instance(&store, "a.test").await;
    let b = instance(&store, "b.test").await;
    store
        .write_docs(&a, T, vec![edit("x", None, "r", r#"{"who":"a"}"#)])
        .await
        .unwrap();
    store
        .write_docs(&b, T, vec![edit("x", None, "r", r#"{"who":"b"}"#)])
        .await
        .unwrap();
    store
        .write_docs(&a, "com.example.other", vec![edit("x", None, "r", "{}")])
        .await
        .unwrap();
    assert_eq!(
        store.doc_head(&b, T, "x").await.unwrap().unwrap().body,
        r#"{"who":"b"}"#
    );
    assert_eq!(
        store.list_doctypes(&a).await.unwrap(),
        vec!["com.example.notes", "com.example.other"]
    );
    assert!(store.delete_doctype(&a, T).await.unwrap());
    assert!(store.doc_head(&a, T, "x").await.unwrap().is_none());
    assert!(
        store.doc_head(&b, T, "x").await.unwrap().is_some(),
        "B's doctype is untouched"
    );
    assert!(store.remove_instance_rows(&b).await);
    assert!(store.doc_head(&b, T, "x").await.unwrap().is_none());
    assert!(
        store
            .doc_head(&a, "com.example.other", "x")
            .await
            .unwrap()
            .is_some()
    );
}

const CP: LocalKey = LocalKey {
    doctype: T,
    creator: "",
    id: "cp",
};

async fn local_documents_need_their_current_revision(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    assert_eq!(
        store
            .put_local_doc(&inst, &CP, None, "{}", 100)
            .await
            .unwrap()
            .as_deref(),
        Some("0-1")
    );
    assert_eq!(
        store
            .put_local_doc(&inst, &CP, None, "{}", 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .put_local_doc(&inst, &CP, Some("0-1"), r#"{"s":2}"#, 100)
            .await
            .unwrap()
            .as_deref(),
        Some("0-2")
    );
    assert_eq!(
        store.local_doc(&inst, &CP).await.unwrap().unwrap().body,
        r#"{"s":2}"#
    );
    // Local documents are not in the changes feed.
    assert!(
        store
            .changes(&inst, T, 0, 10, false, false)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn events_follow_commits_in_order(db: &TestDb) {
    let store = db.open().await;
    let _listener = store.start_event_listener().await;
    let mut rx = store.events().subscribe();
    // On PostgreSQL the listener connects in the background.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let inst = instance(&store, "a.test").await;
    for i in 0..5 {
        store
            .write_docs(&inst, T, vec![edit(&format!("d{i}"), None, "r", "{}")])
            .await
            .unwrap();
    }
    // A refused write publishes nothing.
    store
        .write_docs(&inst, T, vec![edit("d0", None, "q", "{}")])
        .await
        .unwrap();
    store
        .write_docs(&inst, T, vec![edit("d0", Some("1-r"), "s", "{}")])
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 6 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("event in time")
            .unwrap();
        got.push((e.id.clone(), e.seq, e.existed));
    }
    assert_eq!(
        got,
        vec![
            ("d0".into(), 1, false),
            ("d1".into(), 2, false),
            ("d2".into(), 3, false),
            ("d3".into(), 4, false),
            ("d4".into(), 5, false),
            ("d0".into(), 6, true),
        ]
    );
}

async fn stemming_keeps_the_revs_limit(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    store.ensure_doctype(&inst, T).await.unwrap();
    assert!(store.set_revs_limit(&inst, T, 3).await.unwrap());
    let mut parent: Option<String> = None;
    for i in 1..=6 {
        let id = format!("r{i}");
        store
            .write_docs(&inst, T, vec![edit("d", parent.as_deref(), &id, "{}")])
            .await
            .unwrap();
        parent = Some(format!("{i}-{id}"));
    }
    let tree = store.rev_tree(&inst, T, "d").await.unwrap();
    assert_eq!(tree.nodes().count(), 3);
    assert_eq!(tree.path(&Rev::new(6, "r6")).len(), 3);
}

async fn concurrent_writers_each_get_their_own_answer(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    store
        .write_docs(&inst, T, vec![edit("shared", None, "r", "{}")])
        .await
        .unwrap();
    let _listener = store.start_event_listener().await;
    let mut rx = store.events().subscribe();
    // 40 writers at once (committed in groups on SQLite): 30 new documents,
    // 10 edits of one document from the same parent, of which one wins.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, inst) = (store.clone(), inst.clone());
        tasks.push(tokio::spawn(async move {
            let w = if i < 30 {
                edit(&format!("d{i:02}"), None, "r", &format!("{{\"i\":{i}}}"))
            } else {
                edit("shared", Some("1-r"), &format!("e{i}"), "{}")
            };
            store.write_docs(&inst, T, vec![w]).await.unwrap()
        }));
    }
    let mut written = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap().as_slice() {
            [WriteOutcome::Written(_)] => written += 1,
            [WriteOutcome::Conflict] => conflicts += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((written, conflicts), (31, 9));
    let info = store.doctype_info(&inst, T).await.unwrap().unwrap();
    assert_eq!(
        (info.update_seq, info.doc_count),
        (32, 31),
        "one sequence number per write, none for a conflict"
    );
    // Every write's event, each sequence number once, in commit order.
    let mut seqs = Vec::new();
    while seqs.len() < 31 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("event in time")
            .unwrap();
        seqs.push(e.seq);
    }
    assert_eq!(seqs, (2..=32).collect::<Vec<_>>());
    for i in 0..30 {
        let head = store
            .doc_head(&inst, T, &format!("d{i:02}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(head.body, format!("{{\"i\":{i}}}"));
    }
}

async fn all_docs_reads_a_range_page_after_page_from_the_last_id(db: &TestDb) {
    let store = db.open().await;
    let inst = instance(&store, "a.test").await;
    let docs = (0..10)
        .map(|i| edit(&format!("d{i}"), None, "r", &format!("{{\"i\":{i}}}")))
        .collect();
    store.write_docs(&inst, T, docs).await.unwrap();
    store
        .write_docs(
            &inst,
            T,
            vec![DocWrite::Edit {
                id: "d5".into(),
                parent: Some(Rev::new(1, "r")),
                new_id: "gone".into(),
                deleted: true,
                body: "{}".into(),
                stubs_from: Vec::new(),
            }],
        )
        .await
        .unwrap();
    let ids = |heads: &[DocHead]| heads.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
    // Pages of 3 from `d1` to `d8`, each picked up after the last id read;
    // the deleted `d5` is in none.
    let mut q = AllDocsQuery {
        start: Some("d1".into()),
        end: Some("d8".into()),
        inclusive_end: true,
        limit: Some(3),
        ..Default::default()
    };
    let mut pages = Vec::new();
    loop {
        let page = store.all_docs(&inst, T, &q).await.unwrap();
        if page.is_empty() {
            break;
        }
        q.after = page.last().map(|h| h.id.clone());
        pages.push(ids(&page));
    }
    assert_eq!(
        pages,
        [vec!["d1", "d2", "d3"], vec!["d4", "d6", "d7"], vec!["d8"]]
    );
    // Backwards, with `skip` passed over in the database, the cursor
    // bounding from above.
    let q = AllDocsQuery {
        descending: true,
        after: Some("d8".into()),
        skip: 1,
        limit: Some(3),
        ..Default::default()
    };
    let page = store.all_docs(&inst, T, &q).await.unwrap();
    assert_eq!(ids(&page), ["d6", "d4", "d3"]);
    assert_eq!(page[0].body, r#"{"i":6}"#);
    // Ids only: the revision without the body.
    let q = AllDocsQuery {
        ids_only: true,
        limit: Some(1),
        ..Default::default()
    };
    let page = store.all_docs(&inst, T, &q).await.unwrap();
    assert_eq!(
        (
            page[0].id.as_str(),
            page[0].rev.to_string(),
            page[0].body.as_str()
        ),
        ("d0", "1-r".to_owned(), "")
    );
}

nuage_store::on_both_engines!(
    all_docs_reads_a_range_page_after_page_from_the_last_id,
    concurrent_writers_each_get_their_own_answer,
    edits_count_up_and_stale_edits_leave_no_trace,
    replicated_conflicts_pick_the_same_winner_on_every_engine,
    the_changes_feed_lists_each_document_once_at_its_last_change,
    doctypes_and_instances_are_separate,
    local_documents_need_their_current_revision,
    events_follow_commits_in_order,
    stemming_keeps_the_revs_limit,
);
