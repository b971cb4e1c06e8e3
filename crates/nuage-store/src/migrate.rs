//! Migrations: one list, portable SQL, applied in order on either engine.
//! Two processes starting at once are serialised (an advisory lock on
//! PostgreSQL, an immediate write transaction on SQLite).
//!
//! Each migration not yet recorded in `nuage_schema` is applied, not only
//! those above the highest recorded: versions are reserved by branches
//! developed side by side (0004 was merged before 0003), and a database
//! that ran the later one first must still get the earlier one.
//!
//! `/*BINARY*/` and `/*BYTES*/BLOB` become PostgreSQL's spellings; what
//! `/*POSTGRES … POSTGRES*/` encloses only PostgreSQL runs.

use crate::{Engine, Result, Store, StoreError, now_ms};
use sqlx::Executor;

/// (version, SQL). Append only: never edit a released migration.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_foundation.sql")),
    (2, include_str!("../migrations/0002_documents.sql")),
    (3, include_str!("../migrations/0003_index_entries.sql")),
    (4, include_str!("../migrations/0004_oauth_code_reuse.sql")),
    (5, include_str!("../migrations/0005_instance_removals.sql")),
    (6, include_str!("../migrations/0006_blob_sweeps.sql")),
    (7, include_str!("../migrations/0007_local_docs_creator.sql")),
    (8, include_str!("../migrations/0008_docs_gone_fields.sql")),
    (9, include_str!("../migrations/0009_doctype_removals.sql")),
    (
        10,
        include_str!("../migrations/0010_revision_rows_count.sql"),
    ),
    (
        11,
        include_str!("../migrations/0011_docs_revs_unchecked_on_postgres.sql"),
    ),
];

pub(crate) async fn run(store: &Store) -> Result<()> {
    let mut conn = store.pool().acquire().await?;
    match store.engine() {
        Engine::Postgres => {
            conn.execute("SELECT pg_advisory_lock(7436110)").await?;
        }
        Engine::Sqlite => {}
    }
    let result = apply(store, &mut conn).await;
    let result = match result {
        // Version 3 moved Mango indexes to index entries: finish the move.
        Ok(newly) if newly.contains(&3) => crate::docs::legacy::upgrade_to_entries(store).await,
        other => other.map(|_| ()),
    };
    if store.engine() == Engine::Postgres {
        conn.execute("SELECT pg_advisory_unlock(7436110)").await?;
    }
    result
}

/// Applies the missing migrations; returns the versions it applied.
async fn apply(store: &Store, conn: &mut sqlx::AnyConnection) -> Result<Vec<i64>> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS nuage_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM nuage_schema")
        .fetch_all(&mut *conn)
        .await?;
    let current = applied.iter().copied().max().unwrap_or(0);
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut newly = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
        let begin = match store.engine() {
            Engine::Sqlite => "BEGIN IMMEDIATE",
            Engine::Postgres => "BEGIN",
        };
        conn.execute(begin).await?;
        let step = async {
            let text = match store.engine() {
                Engine::Postgres => sql
                    .replace("/*BINARY*/", "COLLATE \"C\"")
                    .replace("/*BYTES*/BLOB", "BYTEA")
                    // What only PostgreSQL runs, a comment for SQLite.
                    .replace("/*POSTGRES", "")
                    .replace("POSTGRES*/", ""),
                Engine::Sqlite => sql.to_string(),
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(text))
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO nuage_schema (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now_ms())
                .execute(&mut *conn)
                .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match step {
            Ok(()) => {
                conn.execute("COMMIT").await?;
                newly.push(*version);
                tracing::info!(version, "applied database migration");
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(e.into());
            }
        }
    }
    Ok(newly)
}
