//! What the document service tests share: a fresh instance on a fresh
//! database of either engine, its owner, and callers of a given scope.

#![allow(dead_code, reason = "each test binary uses a part of it")]

use nuage_blob::Blobs;
use nuage_core::scope::parse_scope;
use nuage_core::{Access, InstanceId, Permissions, Subject};
use nuage_docs::{DocResult, Docs};
use nuage_store::Store;
use nuage_store::testing::TestDb;

pub struct Cloud {
    pub docs: Docs,
    pub inst: InstanceId,
    pub owner: Access,
    _blobs: tempfile::TempDir,
}

/// An empty instance `a.test`.
pub async fn cloud(db: &TestDb) -> Cloud {
    let store: Store = db.open().await;
    let inst = store.test_instance("a.test").await;
    let dir = tempfile::tempdir().unwrap();
    Cloud {
        docs: Docs::new(store, Blobs::new(dir.path())),
        inst,
        owner: Access {
            subject: Subject::CliToken,
            permissions: Permissions::Owner,
        },
        _blobs: dir,
    }
}

/// A caller holding `scope`, as `subject`.
pub fn holding(subject: Subject, scope: &str) -> Access {
    Access {
        subject,
        permissions: Permissions::List(parse_scope(scope).unwrap()),
    }
}

/// An answer in a form two answers can be compared in.
pub fn seen<T: std::fmt::Debug>(r: &DocResult<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("error {e:?}"),
    }
}
