//! `_all_docs` read page by page on both engines: how many store reads an
//! answer costs, what each page holds, and what a limited caller is told.

mod common;

use nuage_core::{Access, Subject};
use nuage_docs::{
    ALL_DOCS_PAGE, AllDocsCursor, AllDocsQuery, AllDocsRequest, Batch, DocError, MAX_ALL_DOCS_KEYS,
    Meta,
};
use nuage_store::testing::TestDb;
use serde_json::{Value, json};

const NOTES: &str = "com.example.notes";

use common::Cloud as World;

impl World {
    async fn new(db: &TestDb) -> World {
        common::cloud(db).await
    }

    fn access(scope: &str) -> Access {
        common::holding(Subject::CliToken, scope)
    }

    /// Notes `n00000` … with `{"n": i}`, written in batches.
    async fn notes(&self, count: usize) {
        let db = self.docs.db(&self.inst, &self.owner, NOTES).unwrap();
        for start in (0..count).step_by(1000) {
            let batch = (start..count.min(start + 1000))
                .map(|i| json!({"_id": format!("n{i:05}"), "n": i}))
                .collect();
            for r in db.bulk_docs(batch, true).await.unwrap() {
                r.unwrap();
            }
        }
    }

    /// Every page of the answer: the rows of each, and the store reads.
    async fn pages(&self, access: &Access, req: &AllDocsRequest) -> (Vec<Vec<Value>>, usize) {
        let db = self.docs.db(&self.inst, access, NOTES).unwrap();
        db.all_docs_head(req).await.unwrap();
        let mut cursor = AllDocsCursor::new(req);
        let mut pages = Vec::new();
        while !cursor.finished() {
            pages.push(db.all_docs_page(req, &mut cursor).await.unwrap());
            assert!(cursor.store_reads() < 100, "the answer never ends");
        }
        (pages, cursor.store_reads())
    }
}

fn range() -> AllDocsRequest {
    AllDocsRequest {
        range: AllDocsQuery {
            inclusive_end: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The whole doctype, with `range` changed by `f`.
fn range_with(f: impl FnOnce(&mut AllDocsQuery)) -> AllDocsRequest {
    let mut req = range();
    f(&mut req.range);
    req
}

fn ids(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

async fn a_limit_of_ten_reads_one_page_of_ten(db: &TestDb) {
    let w = World::new(db).await;
    w.notes(1200).await;
    let req = AllDocsRequest {
        include_docs: true,
        ..range_with(|r| r.limit = Some(10))
    };
    let (pages, reads) = w.pages(&w.owner, &req).await;
    assert_eq!(reads, 1, "one store read for ten rows");
    assert_eq!(pages.len(), 1);
    assert_eq!(ids(&pages[0])[..3], ["n00000", "n00001", "n00002"]);
    assert_eq!(pages[0].len(), 10);
    assert_eq!(pages[0][9]["doc"]["n"], 9);
}

async fn a_whole_doctype_is_read_in_bounded_pages(db: &TestDb) {
    let w = World::new(db).await;
    w.notes(1200).await;
    let (pages, reads) = w.pages(&w.owner, &range()).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(ALL_DOCS_PAGE, 500);
    assert_eq!(sizes, [500, 500, 200]);
    assert_eq!(reads, 3);
    let all: Vec<Value> = pages.concat();
    let expected: Vec<String> = (0..1200).map(|i| format!("n{i:05}")).collect();
    assert_eq!(ids(&all), expected);
    assert!(all[0].get("doc").is_none(), "no doc without include_docs");

    // A deep `skip` is passed over by the database: one read.
    let req = range_with(|r| r.skip = 1190);
    let (pages, reads) = w.pages(&w.owner, &req).await;
    assert_eq!((reads, pages[0].len()), (1, 10));
    assert_eq!(pages[0][0]["id"], "n01190");
    // Backwards from an id, across a page boundary.
    let req = range_with(|r| {
        r.descending = true;
        r.start = Some("n00700".into());
        r.limit = Some(600);
    });
    let (pages, reads) = w.pages(&w.owner, &req).await;
    let all = pages.concat();
    assert_eq!((reads, all.len()), (2, 600));
    assert_eq!((ids(&all)[0], ids(&all)[599]), ("n00700", "n00101"));
}

async fn a_limited_caller_skips_and_counts_its_own_documents_only(db: &TestDb) {
    let w = World::new(db).await;
    w.notes(1200).await;
    // Three notes, two of them 500 ids apart: far enough that the pages
    // between them hold nothing it may read.
    let mine = World::access(&format!("{NOTES}:GET:n00003,n00600,n01100"));
    let (pages, reads) = w.pages(&mine, &range()).await;
    let all = pages.concat();
    assert_eq!(ids(&all), ["n00003", "n00600", "n01100"]);
    assert_eq!(reads, 3, "pages of whatever it may read or not");
    let head = w
        .docs
        .db(&w.inst, &mine, NOTES)
        .unwrap()
        .all_docs_head(&range())
        .await
        .unwrap();
    assert_eq!(head.total_rows, None, "no count of the others");
    let req = range_with(|r| {
        r.skip = 1;
        r.limit = Some(1);
    });
    let (pages, _) = w.pages(&mine, &req).await;
    assert_eq!(ids(&pages.concat()), ["n00600"]);
}

async fn keys_are_bounded_and_looked_up_in_pages(db: &TestDb) {
    let w = World::new(db).await;
    w.notes(1200).await;
    let mut keys: Vec<String> = (0..1100).rev().map(|i| format!("n{i:05}")).collect();
    keys.push("missing".into());
    let req = AllDocsRequest {
        keys: Some(keys),
        ..range_with(|r| r.skip = 50)
    };
    let (pages, reads) = w.pages(&w.owner, &req).await;
    let all = pages.concat();
    assert_eq!((reads, all.len()), (3, 1051));
    assert_eq!(all[0]["id"], "n01049");
    assert_eq!(all[1050], json!({"key": "missing", "error": "not_found"}));

    let too_many = AllDocsRequest {
        keys: Some(vec!["k".into(); MAX_ALL_DOCS_KEYS + 1]),
        ..range()
    };
    let refused = w
        .docs
        .db(&w.inst, &w.owner, NOTES)
        .unwrap()
        .all_docs_head(&too_many)
        .await;
    assert_eq!(
        refused,
        Err(DocError::TooMany {
            what: Batch::AllDocsKeys,
            limit: MAX_ALL_DOCS_KEYS,
            got: MAX_ALL_DOCS_KEYS + 1
        })
    );
}

async fn documents_carry_their_conflicts_when_asked(db: &TestDb) {
    let w = World::new(db).await;
    let db = w.docs.db(&w.inst, &w.owner, NOTES).unwrap();
    let replicated = vec![
        json!({"_id": "a", "_rev": "1-aaa", "v": 1}),
        json!({"_id": "a", "_rev": "1-bbb", "v": 2}),
    ];
    for r in db.bulk_docs(replicated, false).await.unwrap() {
        r.unwrap();
    }
    let req = AllDocsRequest {
        include_docs: true,
        meta: Meta {
            conflicts: true,
            ..Default::default()
        },
        ..range()
    };
    let (pages, _) = w.pages(&w.owner, &req).await;
    let doc = &pages[0][0]["doc"];
    assert_eq!(doc["_rev"], "1-bbb", "{doc}");
    assert_eq!(doc["_conflicts"], json!(["1-aaa"]), "{doc}");
    let by_key = AllDocsRequest {
        keys: Some(vec!["a".into()]),
        ..req
    };
    let (pages, _) = w.pages(&w.owner, &by_key).await;
    assert_eq!(pages[0][0]["doc"]["_conflicts"], json!(["1-aaa"]));
}

nuage_store::on_both_engines!(
    a_limit_of_ten_reads_one_page_of_ten,
    a_whole_doctype_is_read_in_bounded_pages,
    a_limited_caller_skips_and_counts_its_own_documents_only,
    keys_are_bounded_and_looked_up_in_pages,
    documents_carry_their_conflicts_when_asked,
);
