//! Test databases on both engines, so every suite runs on SQLite and on
//! PostgreSQL. PostgreSQL comes from `NUAGE_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a database of
//! its own, dropped when the test ends.

use crate::{Engine, Store};
use sqlx::Executor;

pub struct TestDb {
    pub url: String,
    pub engine: Engine,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

pub fn pg_admin_url() -> String {
    std::env::var("NUAGE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => Self::sqlite(),
            Engine::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("nuage.db").display());
        TestDb {
            url,
            engine: Engine::Sqlite,
            admin_url: None,
            name: String::new(),
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        sqlx::any::install_default_drivers();
        let admin = pg_admin_url();
        let name = format!("nuage_t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} is needed for this test ({e}); start it or set NUAGE_TEST_PG_URL")
            });
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        TestDb {
            url: format!("{base}/{name}"),
            engine: Engine::Postgres,
            admin_url: Some(admin),
            name,
            _dir: None,
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url, 4).await.expect("open test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin) = self.admin_url.clone() else {
            return;
        };
        let name = std::mem::take(&mut self.name);
        // Drop runs outside any runtime we may use; a thread of its own
        // with a small runtime is always safe.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut c) =
                        <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await
                    {
                        let _ = c
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Runs each named `async fn(&TestDb)` once per engine.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let db = $crate::testing::TestDb::new($crate::Engine::Sqlite).await;
                super::$name(&db).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let db = $crate::testing::TestDb::new($crate::Engine::Postgres).await;
                super::$name(&db).await
            })*
        }
    };
}

/// Counting what the store holds, for tests that prove a removal leaves
/// nothing behind and that indexes cause no DDL.
impl Store {
    /// What a document write's transaction and a relaxed one (`_local`)
    /// wait for at commit, as the engine reports it inside each:
    /// SQLite's `synchronous` (2 FULL, 1 NORMAL), PostgreSQL's
    /// `synchronous_commit` (on, off).
    pub async fn commit_durability(&self) -> (String, String) {
        let sql = match self.engine() {
            crate::Engine::Sqlite => "SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous",
            crate::Engine::Postgres => "SELECT current_setting('synchronous_commit')",
        };
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await.expect("a write transaction");
        let full: String = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
        let mut tx = self.begin_write_relaxed().await.expect("a relaxed one");
        let relaxed: String = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
        (full, relaxed)
    }

    /// Rows of every table that belong to `inst`, by table: each table
    /// with an `instance_id`, the removal record, and its `instances` row.
    pub async fn rows_of_instance(&self, inst: &crate::InstanceId) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        let tables = crate::removals::CREDENTIAL_TABLES
            .iter()
            .chain(crate::removals::DOCUMENT_TABLES)
            .chain(&["instance_removals"]);
        for table in tables {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE instance_id = $1"
            )))
            .bind(inst.as_str())
            .fetch_one(self.pool())
            .await
            .expect("count rows");
            out.push(((*table).to_owned(), n));
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE id = $1")
            .bind(inst.as_str())
            .fetch_one(self.pool())
            .await
            .expect("count rows");
        out.push(("instances".to_owned(), n));
        out
    }

    /// The tables of the schema that have an `instance_id` column, sorted:
    /// [`Store::rows_of_instance`] must count every one.
    pub async fn tables_with_instance_id(&self) -> Vec<String> {
        self.tables_with_column("instance_id").await
    }

    /// The tables of the schema that have a `doctype` column, sorted:
    /// [`Store::rows_of_doctype`] must count every one.
    pub async fn tables_with_doctype(&self) -> Vec<String> {
        self.tables_with_column("doctype").await
    }

    async fn tables_with_column(&self, column: &str) -> Vec<String> {
        let sql = match self.engine() {
            Engine::Sqlite => {
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND c.name = $1 ORDER BY m.name"
            }
            Engine::Postgres => {
                "SELECT table_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND column_name = $1 ORDER BY table_name"
            }
        };
        sqlx::query_scalar(sql)
            .bind(column)
            .fetch_all(self.pool())
            .await
            .expect("list tables")
    }

    /// Rows of every table that belong to one doctype of `inst`, by table:
    /// those a deletion purges, and its `doctypes` row.
    pub async fn rows_of_doctype(
        &self,
        inst: &crate::InstanceId,
        doctype: &str,
    ) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for table in crate::docs::removal::DOCTYPE_TABLES
            .iter()
            .chain(&["doctypes"])
        {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE instance_id = $1 AND doctype = $2"
            )))
            .bind(inst.as_str())
            .bind(doctype)
            .fetch_one(self.pool())
            .await
            .expect("count rows");
            out.push(((*table).to_owned(), n));
        }
        out
    }

    /// Every step of an instance's removal that the store does (no blobs
    /// here), to the end; false if no live instance had this id.
    pub async fn remove_instance_rows(&self, inst: &crate::InstanceId) -> bool {
        if self.retire_instance(inst).await.expect("retire").is_none() {
            return false;
        }
        while self.purge_removal_step(inst).await.expect("purge") > 0 {}
        assert!(self.end_removal(inst).await.expect("end removal"));
        true
    }

    /// What the instance's doctypes hold by the law of `docs/usage.rs`,
    /// recounted from their rows (doctypes being deleted count nothing):
    /// equal to [`Store::usage`]'s total unless a write counted wrong.
    pub async fn recounted_bytes(&self, inst: &crate::InstanceId) -> i64 {
        let live =
            "SELECT doctype FROM doctypes WHERE instance_id = $1 AND removal_requested_at IS NULL";
        let revs: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(size + {} + OCTET_LENGTH(doc_id) + 2 * OCTET_LENGTH(rev)), 0) AS BIGINT) \
             FROM revs WHERE instance_id = $1 AND doctype IN ({live})",
            crate::docs::usage::REV_ROW_BYTES
        )))
        .bind(inst.as_str())
        .fetch_one(self.pool())
        .await
        .expect("recount revisions");
        let local: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(OCTET_LENGTH(body)), 0) AS BIGINT) FROM local_docs \
             WHERE instance_id = $1 AND doctype IN ({live})"
        )))
        .bind(inst.as_str())
        .fetch_one(self.pool())
        .await
        .expect("recount local documents");
        revs + local
    }

    /// Puts the database back as it was before migration 0010 (totals
    /// without the revision rows' share, the migration not recorded), so
    /// that the next [`Store::open`] applies it to rows already there.
    pub async fn undo_migration_0010(&self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE doctypes SET bytes = bytes - COALESCE((SELECT SUM({} + OCTET_LENGTH(r.doc_id) + 2 * OCTET_LENGTH(r.rev)) \
             FROM revs r WHERE r.instance_id = doctypes.instance_id AND r.doctype = doctypes.doctype), 0) \
             WHERE removal_requested_at IS NULL",
            crate::docs::usage::REV_ROW_BYTES
        )))
        .execute(self.pool())
        .await
        .expect("take the rows' share out");
        sqlx::query("DELETE FROM nuage_schema WHERE version = 10")
            .execute(self.pool())
            .await
            .expect("forget migration 0010");
    }

    /// How many SQL indexes the database has: requests must never add one.
    pub async fn schema_index_count(&self) -> i64 {
        let sql = match self.engine() {
            Engine::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'",
            Engine::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = 'public'",
        };
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .expect("count indexes")
    }

    /// The index entries of a doctype: (index id, key, doc id), in order.
    pub async fn index_entries_of(
        &self,
        inst: &crate::InstanceId,
        doctype: &str,
    ) -> Vec<(String, Vec<u8>, String)> {
        use sqlx::Row;
        sqlx::query(
            "SELECT index_id, key, doc_id FROM index_entries WHERE instance_id = $1 AND doctype = $2 \
             ORDER BY index_id, key, doc_id",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_all(self.pool())
        .await
        .expect("read entries")
        .iter()
        .map(|r| (r.get("index_id"), r.get("key"), r.get("doc_id")))
        .collect()
    }
}

/// The tables a count such as [`Store::rows_of_instance`] covers, sorted,
/// without `leave_out`: to compare with the schema's.
pub fn tables_counted(rows: Vec<(String, i64)>, leave_out: &[&str]) -> Vec<String> {
    let mut tables: Vec<String> = rows
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| !leave_out.contains(&t.as_str()))
        .collect();
    tables.sort();
    tables
}

/// A new document `id` with `body`, as a write of `new_edits: true`.
pub fn new_doc(id: &str, body: serde_json::Value) -> crate::DocWrite {
    crate::DocWrite::Edit {
        id: id.into(),
        parent: None,
        new_id: format!("r{}", id.replace('/', "")),
        deleted: false,
        body: body.to_string(),
        stubs_from: Vec::new(),
    }
}

impl Store {
    /// A command-line token stored under `hash`, valid for a minute, for
    /// tests that need a credential in the store.
    pub async fn test_token(&self, inst: &crate::InstanceId, hash: &str) {
        let now = crate::now_ms();
        self.insert_token(
            inst,
            &crate::TokenRow {
                token_hash: hash.into(),
                kind: crate::TokenKind::Cli,
                client_id: None,
                family: hash.into(),
                scope: "com.example.notes:ALL".into(),
                created_at: now,
                expires_at: now + 60_000,
                used_at: None,
            },
        )
        .await
        .expect("store a test token");
    }

    /// The owner's `_local/checkpoint` of `doctype`, `{}`.
    pub async fn test_checkpoint(&self, inst: &crate::InstanceId, doctype: &str) {
        let key = crate::LocalKey {
            doctype,
            creator: "",
            id: "checkpoint",
        };
        self.put_local_doc(inst, &key, None, "{}", 100)
            .await
            .expect("the test checkpoint is written");
    }

    /// `n` documents `d00000`, `d00001`… of `doctype`, each `{"n": i}`,
    /// and a query design document whose index on `n` covers them, built.
    pub async fn test_indexed_docs(&self, inst: &crate::InstanceId, doctype: &str, n: usize) {
        let mut writes = vec![new_doc(
            "_design/by-n",
            serde_json::json!({"language": "query", "views": {"by": {
                "map": {"fields": {}}, "reduce": "_count",
                "options": {"def": {"fields": ["n"]}}}}}),
        )];
        writes.extend((0..n).map(|i| new_doc(&format!("d{i:05}"), serde_json::json!({"n": i}))));
        self.write_docs(inst, doctype, writes)
            .await
            .expect("write test documents");
        while self
            .build_step(inst, doctype, 1000)
            .await
            .expect("build the index")
            > 0
        {}
    }

    /// A new instance at `domain`, for tests that need one to write in.
    pub async fn test_instance(&self, domain: &str) -> crate::InstanceId {
        self.create_instance(crate::NewInstance {
            domain: domain.into(),
            ..Default::default()
        })
        .await
        .expect("create a test instance")
        .id
    }
}

/// Where a paused write waits (see [`Store::pause_next_write`]).
#[derive(Clone, Default)]
pub(crate) struct PauseSlot(std::sync::Arc<std::sync::Mutex<Option<Pause>>>);

struct Pause {
    doctype: String,
    arrived: tokio::sync::oneshot::Sender<()>,
    go: tokio::sync::oneshot::Receiver<()>,
}

impl PauseSlot {
    /// Holds a write to `doctype` there if a test paused the next one.
    pub(crate) async fn wait_if_paused(&self, doctype: &str) {
        let pause = {
            let mut slot = self.0.lock().expect("the pause slot");
            match slot.as_ref() {
                Some(p) if p.doctype == doctype => slot.take(),
                _ => None,
            }
        };
        if let Some(p) = pause {
            let _ = p.arrived.send(());
            let _ = p.go.await;
        }
    }
}

/// A document write held on its way to the store, after its caller
/// prepared it and before its transaction begins.
pub struct PausedWrite {
    arrived: Option<tokio::sync::oneshot::Receiver<()>>,
    go: tokio::sync::oneshot::Sender<()>,
}

impl PausedWrite {
    /// Waits until the write is held.
    pub async fn arrived(&mut self) {
        if let Some(arrived) = self.arrived.take() {
            arrived.await.expect("a write came and was held");
        }
    }

    /// Lets it go on.
    pub fn release(self) {
        let _ = self.go.send(());
    }
}

impl Store {
    /// Holds the next `write_docs` to `doctype` at its start until the
    /// returned handle is released: a test can then change what the write
    /// was prepared against (what a concurrent request would do) and watch
    /// what the write does with it, without sleeping.
    pub fn pause_next_write(&self, doctype: &str) -> PausedWrite {
        let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
        let (go, go_rx) = tokio::sync::oneshot::channel();
        *self.pause.0.lock().expect("the pause slot") = Some(Pause {
            doctype: doctype.to_owned(),
            arrived: arrived_tx,
            go: go_rx,
        });
        PausedWrite {
            arrived: Some(arrived),
            go,
        }
    }
}

/// The pool under a caller that gives up halfway (`tests/pool.rs`).
impl Store {
    /// Runs a statement that takes seconds (to be cancelled by the caller).
    pub async fn test_slow_statement(&self) -> Result<(), sqlx::Error> {
        let sql = match self.engine() {
            crate::Engine::Postgres => "SELECT pg_sleep(3)",
            // A count to 10 million: about a second of work for SQLite.
            crate::Engine::Sqlite => {
                "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10000000) \
                 SELECT COUNT(*) FROM c"
            }
        };
        sqlx::query(sql).execute(self.pool()).await.map(|_| ())
    }

    /// Begins a document transaction that locks `doctype`'s row and sets
    /// its `update_seq` to 999,999, and drops it without commit.
    pub async fn test_abandoned_write(&self, inst: &crate::InstanceId, doctype: &str) {
        let mut tx = self.begin_write().await.unwrap();
        sqlx::query(
            "UPDATE doctypes SET update_seq = 999999 WHERE instance_id = $1 AND doctype = $2",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .execute(&mut *tx)
        .await
        .unwrap();
        drop(tx);
    }
}
