//! `_local` documents have owners: a caller who may not write the whole
//! doctype reads, updates and deletes only the `_local` documents it
//! created, and learns nothing of the owner's — every answer about the
//! owner's checkpoint is the one about a checkpoint never written. On both
//! engines.

mod common;

use common::{cloud, holding, seen};
use nuage_core::{Access, Subject};
use nuage_docs::DocError;
use nuage_store::testing::TestDb;
use serde_json::{Value, json};

const NOTES: &str = "io.example.notes";

fn access(scope: &str) -> Access {
    let client_id = "replicator".into();
    holding(Subject::OAuthClient { client_id }, scope)
}

async fn limited_callers_never_touch_the_owners_checkpoint(db: &TestDb) {
    let c = cloud(db).await;
    let (docs, inst) = (&c.docs, &c.inst);
    let o = docs.db(inst, &c.owner, NOTES).unwrap();
    let checkpoint = json!({"last_seq": 42});
    assert_eq!(
        o.put_local("cp", checkpoint.clone(), None).await.unwrap(),
        "0-1"
    );
    let owners = || async { o.get_local("cp").await.unwrap() };
    let before = owners().await;

    // A token limited to GET on two ids, and a read-only one.
    for scope in ["io.example.notes:GET:n1,n2", "io.example.notes:GET"] {
        let a = access(scope);
        let d = docs.db(inst, &a, NOTES).unwrap();
        // Reading, deleting or updating the owner's checkpoint answers as
        // for one never written.
        assert_eq!(
            seen(&d.get_local("cp").await),
            seen(&d.get_local("never").await)
        );
        assert_eq!(d.get_local("cp").await, Err(DocError::missing()));
        for rev in [Some("0-1".to_owned()), None] {
            assert_eq!(
                seen(&d.delete_local("cp", rev.clone()).await),
                seen(&d.delete_local("never", rev.clone()).await),
                "{scope} DELETE at {rev:?}"
            );
        }
        assert_eq!(
            seen(
                &d.put_local("cp", json!({"last_seq": 0}), Some("0-1".into()))
                    .await
            ),
            seen(
                &d.put_local("never", json!({"last_seq": 0}), Some("0-1".into()))
                    .await
            ),
        );
        // Those PUTs created its own `_local/cp` (and `_local/never`), as
        // they would have if the owner had none; it reads, updates and
        // deletes that one.
        let mine = d.get_local("cp").await.unwrap();
        assert_eq!(
            mine,
            json!({"_id": "_local/cp", "_rev": "0-1", "last_seq": 0})
        );
        let rev = d
            .put_local("cp", json!({"mine": 2}), Some("0-1".into()))
            .await
            .unwrap();
        assert_eq!(d.get_local("cp").await.unwrap()["mine"], 2);
        d.delete_local("cp", Some(rev)).await.unwrap();
        assert_eq!(d.get_local("cp").await, Err(DocError::missing()));
        // `_deleted` in a PUT is a deletion too, of its own only.
        let rev = d.put_local("x", json!({}), None).await.unwrap();
        d.put_local("x", json!({"_deleted": true}), Some(rev))
            .await
            .unwrap();
        assert_eq!(owners().await, before, "{scope}");
    }

    // Another limited credential does not see the first one's documents.
    let first = access("io.example.notes:GET");
    let d = docs.db(inst, &first, NOTES).unwrap();
    d.put_local("theirs", json!({"a": 1}), None).await.unwrap();
    let other = access("io.example.notes:GET:n1");
    let e = docs.db(inst, &other, NOTES).unwrap();
    assert_eq!(e.get_local("theirs").await, Err(DocError::missing()));
    assert_eq!(o.get_local("theirs").await, Err(DocError::missing()));
    // The same credential again (its OAuth client, a refreshed token)
    // finds it.
    let again = access("io.example.notes:GET");
    let d = docs.db(inst, &again, NOTES).unwrap();
    assert_eq!(d.get_local("theirs").await.unwrap()["a"], 1);

    // A caller who may write the whole doctype is the owner here.
    let writer = access("io.example.notes:GET,PUT,POST,DELETE");
    let w = docs.db(inst, &writer, NOTES).unwrap();
    let got: Value = w.get_local("cp").await.unwrap();
    assert_eq!(got, before);
    w.delete_local("cp", Some("0-1".into())).await.unwrap();
    assert_eq!(o.get_local("cp").await, Err(DocError::missing()));
}

nuage_store::on_both_engines!(limited_callers_never_touch_the_owners_checkpoint);
