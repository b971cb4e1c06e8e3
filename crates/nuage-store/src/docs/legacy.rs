//! The move from per-tenant SQL expression indexes (schema version 2) to
//! index entries (version 3), run once right after that migration: the old
//! `mango_*` indexes are dropped — the last DDL any index ever causes — and
//! every doctype's query design documents are registered, so their entries
//! are built by the background builder.

use super::indexes::sync_registry;
use crate::{Engine, InstanceId, Result, Store};
use sqlx::Row;

pub(crate) async fn upgrade_to_entries(store: &Store) -> Result<()> {
    let list = match store.engine() {
        Engine::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'mango\\_%' ESCAPE '\\'"
        }
        Engine::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename = 'docs' AND indexname LIKE 'mango\\_%' ESCAPE '\\'"
        }
    };
    let names: Vec<String> = sqlx::query_scalar(list).fetch_all(store.pool()).await?;
    for name in names
        .iter()
        .filter(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        sqlx::query(sql!("DROP INDEX IF EXISTS {name}"))
            .execute(store.pool())
            .await?;
    }
    let doctypes = sqlx::query(
        "SELECT DISTINCT d.instance_id, d.doctype, t.update_seq FROM docs d \
         JOIN doctypes t ON t.instance_id = d.instance_id AND t.doctype = d.doctype \
         WHERE d.id >= '_design/' AND d.id < '_design0' AND d.deleted = 0",
    )
    .fetch_all(store.pool())
    .await?;
    for r in &doctypes {
        let inst = InstanceId::new(r.try_get::<String, _>("instance_id")?);
        let doctype: String = r.try_get("doctype")?;
        let seq: i64 = r.try_get("update_seq")?;
        let _guard = store.write_guard().await;
        let mut tx = store.begin_write().await?;
        sync_registry(&mut tx, &inst, &doctype, seq).await?;
        tx.commit().await?;
    }
    if !names.is_empty() || !doctypes.is_empty() {
        tracing::info!(
            dropped = names.len(),
            doctypes = doctypes.len(),
            "Mango indexes moved to index entries; they are built in the background"
        );
    }
    Ok(())
}
