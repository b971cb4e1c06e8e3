//! Mango json indexes as index entries (DESIGN §3: indexes are data, not
//! schema). A doctype's indexes are derived from its query design documents
//! and registered in `doc_indexes`; each live document has one row per index
//! in `index_entries`, keyed by nuage-mango's collation-ordered encoding, and
//! written in the same transaction as the document. No request runs DDL,
//! and a write costs the same however many tenants share the server.
//!
//! Must stay true:
//! - The registry changes in the transaction that changes a design document,
//!   so no write ever misses an index it should maintain; an index created
//!   on a doctype that has documents is built in the background (`build_step`),
//!   under the same lock as the writers (the doctype row on PostgreSQL, the
//!   write mutex on SQLite), and only documents with `seq <= build_until`
//!   are the builder's: later ones are their writers'.
//! - Entries only narrow: a query reads a superset of its matches, and the
//!   caller applies the exact selector.
//!
//! Cost per tenant: nothing for a doctype without indexes (its writes read
//! `index_count` from the doctype row they lock anyway); one entry row per
//! document and index otherwise, in tables every tenant shares.

use super::placeholders;
use super::read::{DocHead, head_from_row};
use crate::{Engine, InstanceId, Result, Store, StoreError, now_ms};
use nuage_mango::{IndexDefinition, encode_key, query_indexes};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::BTreeMap;

/// Entry rows per multi-row statement (5 values each).
const ROWS_PER_STATEMENT: usize = 200;

/// Bytes of an index key stored at most. A row of `index_entries`' primary
/// key holds the instance id, the doctype (200 bytes at most), the index
/// id, the key and the document id (2,048 bytes at most), and PostgreSQL's
/// B-tree refuses a row over 2,704 bytes: a longer key failed the write of
/// its document, and every step of an index build over it (which then stays
/// pending for ever, ahead of every other tenant's builds). So a key is
/// stored cut to this length, on both engines alike.
///
/// Must stay true: cutting keeps byte order (`a <= b` gives `cut(a) <=
/// cut(b)`), so a range read from `cut(start)` holds every row it held, and
/// entries still only narrow; rows whose keys share their first
/// `MAX_STORED_KEY_BYTES` bytes come in id order, and a bookmark in such a
/// group resumes in that order ([`stored_key`] of its key, then its id).
pub const MAX_STORED_KEY_BYTES: usize = 256;

/// An encoded key as `index_entries` stores it: its first
/// [`MAX_STORED_KEY_BYTES`] bytes.
pub fn stored_key(key: &[u8]) -> &[u8] {
    &key[..key.len().min(MAX_STORED_KEY_BYTES)]
}

/// An index a doctype maintains.
#[derive(Clone, Debug)]
pub(crate) struct Registered {
    pub id: String,
    pub def: IndexDefinition,
}

/// Where the build of an index stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexBuild {
    /// The id its entries are stored under ([`IndexDefinition::entries_id`]).
    pub entries_id: String,
    /// `None` once built; else the sequence up to which it must be built.
    pub building_until: Option<i64>,
    /// Documents up to this sequence are in the index.
    pub cursor: i64,
}

impl IndexBuild {
    pub fn ready(&self) -> bool {
        self.building_until.is_none()
    }

    /// Built share, 0–100.
    pub fn percent(&self) -> u8 {
        match self.building_until {
            None => 100,
            Some(until) if until <= 0 => 0,
            Some(until) => ((self.cursor.clamp(0, until) * 100) / until) as u8,
        }
    }
}

/// A row read from an index: its key and the document.
#[derive(Clone, Debug)]
pub struct EntryRow {
    pub key: Vec<u8>,
    pub head: DocHead,
}

/// A page of an index, in key order then id order.
#[derive(Clone, Debug)]
pub struct IndexScan<'a> {
    pub entries_id: &'a str,
    /// Inclusive (read from its [`stored_key`]: a superset).
    pub start: &'a [u8],
    /// Exclusive; `None`: to the end.
    pub end: Option<&'a [u8]>,
    /// Resume strictly after this (key, id), in the scan's direction, as
    /// rows are stored ([`stored_key`] of the key).
    pub after: Option<(&'a [u8], &'a str)>,
    pub descending: bool,
    pub limit: i64,
}

fn parse_registered(id: String, def: &str) -> Option<Registered> {
    let def: Value = serde_json::from_str(def).ok()?;
    let def = IndexDefinition::parse(&json!({"index": def})).ok()?;
    Some(Registered { id, def })
}

/// The indexes a doctype maintains (inside the caller's transaction).
pub(crate) async fn registered_on(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
) -> Result<Vec<Registered>> {
    let rows = sqlx::query(
        "SELECT index_id, def FROM doc_indexes WHERE instance_id = $1 AND doctype = $2 ORDER BY index_id",
    )
    .bind(inst.as_str())
    .bind(doctype)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.try_get("index_id")?;
        let def: String = r.try_get("def")?;
        match parse_registered(id, &def) {
            Some(reg) => out.push(reg),
            None => {
                tracing::error!(instance = %inst, doctype, def, "a registered index no longer parses; it is not maintained")
            }
        }
    }
    Ok(out)
}

/// The entries of one document: `(index id, key)` for each index that
/// holds it. `body` is the stored JSON (without `_id`).
pub(crate) fn entries_of(indexes: &[Registered], id: &str, body: &str) -> Vec<(String, Vec<u8>)> {
    if indexes.is_empty() || id.starts_with("_design/") {
        return Vec::new();
    }
    let Ok(Value::Object(mut doc)) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    doc.insert("_id".into(), Value::String(id.to_owned()));
    let doc = Value::Object(doc);
    indexes
        .iter()
        .filter_map(|i| {
            let mut key = encode_key(&i.def.key_of(&doc)?);
            key.truncate(MAX_STORED_KEY_BYTES);
            Some((i.id.clone(), key))
        })
        .collect()
}

/// Removes the entries of these documents, in every index of the doctype.
pub(crate) async fn delete_entries_of(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    ids: &[&str],
) -> Result<()> {
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::query(sql!(
            "DELETE FROM index_entries WHERE instance_id = $1 AND doctype = $2 AND doc_id IN ({})",
            placeholders(3, chunk.len())
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts entries `(index id, key, doc id)`; an entry already there (a
/// build racing nothing but itself) is left as it is.
pub(crate) async fn insert_entries(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    entries: &[(String, Vec<u8>, String)],
) -> Result<()> {
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = 3 + i * 3;
                format!("($1, $2, ${}, ${}, ${})", b, b + 1, b + 2)
            })
            .collect();
        let mut q = sqlx::query(sql!(
            "INSERT INTO index_entries (instance_id, doctype, index_id, key, doc_id) VALUES {} \
             ON CONFLICT DO NOTHING",
            values.join(", ")
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for (index, key, id) in chunk {
            q = q.bind(index.as_str()).bind(key.clone()).bind(id.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Makes the registry match the doctype's query design documents, inside
/// the transaction that changed one of them: new definitions are registered
/// to be built up to `seq` (the batch's last sequence), vanished ones
/// dropped with their entries. True if a build is pending.
pub(crate) async fn sync_registry(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    seq: i64,
) -> Result<bool> {
    let ddocs = sqlx::query(
        "SELECT id, body FROM docs WHERE instance_id = $1 AND doctype = $2 \
         AND id >= '_design/' AND id < '_design0' AND deleted = 0",
    )
    .bind(inst.as_str())
    .bind(doctype)
    .fetch_all(&mut *conn)
    .await?;
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for r in &ddocs {
        let id: String = r.try_get("id")?;
        let body: String = r.try_get("body")?;
        let Ok(body) = serde_json::from_str::<Value>(&body) else {
            continue;
        };
        let (found, skipped) = query_indexes(&id, &body);
        for s in skipped {
            tracing::warn!(instance = %inst, doctype, view = %s, "ignoring an unreadable query index");
        }
        for index in found {
            wanted.insert(index.entries_id(), index.def_json().to_string());
        }
    }
    if wanted.len() > MAX_INDEXES {
        return Err(StoreError::TooManyIndexes {
            cap: MAX_INDEXES,
            wanted: wanted.len(),
        });
    }
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT index_id FROM doc_indexes WHERE instance_id = $1 AND doctype = $2",
    )
    .bind(inst.as_str())
    .bind(doctype)
    .fetch_all(&mut *conn)
    .await?;
    for gone in existing.iter().filter(|id| !wanted.contains_key(*id)) {
        for table in ["index_entries", "doc_indexes"] {
            sqlx::query(sql!(
                "DELETE FROM {table} WHERE instance_id = $1 AND doctype = $2 AND index_id = $3"
            ))
            .bind(inst.as_str())
            .bind(doctype)
            .bind(gone)
            .execute(&mut *conn)
            .await?;
        }
    }
    let mut pending = false;
    for (id, def) in wanted.iter().filter(|(id, _)| !existing.contains(id)) {
        sqlx::query(
            "INSERT INTO doc_indexes (instance_id, doctype, index_id, def, build_until, build_cursor, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(id)
        .bind(def)
        .bind(seq)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        pending = true;
        tracing::info!(instance = %inst, doctype, index = %id, until = seq, "index registered; building its entries");
    }
    sqlx::query("UPDATE doctypes SET index_count = $3 WHERE instance_id = $1 AND doctype = $2")
        .bind(inst.as_str())
        .bind(doctype)
        .bind(wanted.len() as i64)
        .execute(&mut *conn)
        .await?;
    Ok(pending)
}

/// Distinct indexes one doctype may maintain at most. Every write of a
/// document replaces its entry in each of them, under the writers' lock
/// that every tenant's writes share, and the entries are not counted by
/// the quota: without a bound, one design document listing thousands of
/// indexes made each of the doctype's writes insert thousands of rows,
/// stalling every tenant's writes and filling the disk past the quota.
pub const MAX_INDEXES: usize = 100;

/// Documents indexed per build step at most.
pub const BUILD_STEP_DOCS: i64 = 500;

impl Store {
    /// The build state of each index the doctype maintains, by entries id.
    pub async fn index_builds(
        &self,
        inst: &InstanceId,
        doctype: &str,
    ) -> Result<BTreeMap<String, IndexBuild>> {
        let rows = sqlx::query(
            "SELECT index_id, build_until, build_cursor FROM doc_indexes \
             WHERE instance_id = $1 AND doctype = $2",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_all(self.pool())
        .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let id: String = r.try_get("index_id")?;
            out.insert(
                id.clone(),
                IndexBuild {
                    entries_id: id,
                    building_until: r.try_get("build_until")?,
                    cursor: r.try_get("build_cursor")?,
                },
            );
        }
        Ok(out)
    }

    /// Indexes waiting to be built, oldest first, across every instance
    /// (for the background builder).
    pub async fn pending_index_builds(&self, limit: i64) -> Result<Vec<(InstanceId, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT instance_id, doctype FROM doc_indexes WHERE build_until IS NOT NULL LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        crate::instance_pairs(&rows, "doctype")
    }

    /// Indexes at most `max_docs` more documents for the doctype's pending
    /// builds, in one transaction under the writers' lock. Returns how many
    /// builds are still pending afterwards. A doctype being deleted builds
    /// nothing (its definitions are purged first).
    pub async fn build_step(
        &self,
        inst: &InstanceId,
        doctype: &str,
        max_docs: i64,
    ) -> Result<usize> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let lock = match self.engine() {
            Engine::Postgres => " FOR UPDATE",
            Engine::Sqlite => "",
        };
        let locked = sqlx::query(sql!(
            "SELECT update_seq FROM doctypes WHERE instance_id = $1 AND doctype = $2 \
             AND removal_requested_at IS NULL{lock}"
        ))
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_optional(&mut *tx)
        .await?;
        if locked.is_none() {
            return Ok(0);
        }
        let pending = sqlx::query(
            "SELECT index_id, def, build_until, build_cursor FROM doc_indexes \
             WHERE instance_id = $1 AND doctype = $2 AND build_until IS NOT NULL ORDER BY index_id",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_all(&mut *tx)
        .await?;
        let mut left = pending.len();
        let mut budget = max_docs.max(1);
        for r in &pending {
            if budget <= 0 {
                break;
            }
            let id: String = r.try_get("index_id")?;
            let def: String = r.try_get("def")?;
            let until: i64 = r.try_get("build_until")?;
            let cursor: i64 = r.try_get("build_cursor")?;
            let Some(reg) = parse_registered(id.clone(), &def) else {
                continue;
            };
            // What this index may read now: what earlier builds left.
            let asked = budget;
            let docs = sqlx::query(
                "SELECT id, seq, body FROM docs WHERE instance_id = $1 AND doctype = $2 \
                 AND seq > $3 AND seq <= $4 AND deleted = 0 ORDER BY seq LIMIT $5",
            )
            .bind(inst.as_str())
            .bind(doctype)
            .bind(cursor)
            .bind(until)
            .bind(asked)
            .fetch_all(&mut *tx)
            .await?;
            let mut entries = Vec::new();
            let mut last = cursor;
            for d in &docs {
                let doc_id: String = d.try_get("id")?;
                let body: String = d.try_get("body")?;
                last = d.try_get("seq")?;
                for (index, key) in entries_of(std::slice::from_ref(&reg), &doc_id, &body) {
                    entries.push((index, key, doc_id.clone()));
                }
            }
            insert_entries(&mut tx, inst, doctype, &entries).await?;
            budget -= docs.len() as i64;
            // Fewer rows than asked for: none is left up to `until`.
            let finished = (docs.len() as i64) < asked || last >= until;
            if finished {
                sqlx::query(
                    "UPDATE doc_indexes SET build_until = NULL, build_cursor = $4 \
                     WHERE instance_id = $1 AND doctype = $2 AND index_id = $3",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(&id)
                .bind(until)
                .execute(&mut *tx)
                .await?;
                left -= 1;
                tracing::info!(instance = %inst, doctype, index = %id, "index built");
            } else {
                sqlx::query(
                    "UPDATE doc_indexes SET build_cursor = $4 \
                     WHERE instance_id = $1 AND doctype = $2 AND index_id = $3",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(&id)
                .bind(last)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(left)
    }

    /// One page of an index with its documents (live winners).
    pub async fn scan_index(
        &self,
        inst: &InstanceId,
        doctype: &str,
        scan: &IndexScan<'_>,
    ) -> Result<Vec<EntryRow>> {
        let (sql, binds) = scan_sql(scan);
        let rows = bound(sql, inst, doctype, scan, binds)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EntryRow {
                    key: r.try_get("key")?,
                    head: head_from_row(r)?,
                })
            })
            .collect()
    }

    /// The SQL of a scan and the engine's plan for it, for `_explain`.
    pub async fn explain_scan(
        &self,
        inst: &InstanceId,
        doctype: &str,
        scan: &IndexScan<'_>,
    ) -> Result<(String, Vec<String>)> {
        let (sql, binds) = scan_sql(scan);
        let explain = match self.engine() {
            Engine::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Engine::Postgres => format!("EXPLAIN {sql}"),
        };
        let rows = bound(explain, inst, doctype, scan, binds)
            .fetch_all(self.pool())
            .await?;
        let plan = rows
            .iter()
            .map(|r| match self.engine() {
                Engine::Sqlite => r.try_get::<String, _>("detail"),
                Engine::Postgres => r.try_get::<String, _>(0),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((sql, plan))
    }
}

enum Bind {
    Bytes(Vec<u8>),
    Text(String),
}

/// The scan's query with every value bound, in `scan_sql`'s order.
fn bound<'q>(
    sql: String,
    inst: &'q InstanceId,
    doctype: &'q str,
    scan: &IndexScan<'q>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(inst.as_str())
        .bind(doctype)
        .bind(scan.entries_id);
    for b in binds {
        q = match b {
            Bind::Bytes(v) => q.bind(v),
            Bind::Text(t) => q.bind(t),
        };
    }
    q.bind(scan.limit.max(1))
}

/// `$1` instance, `$2` doctype, `$3` index, then the range and cursor, and
/// the limit last.
fn scan_sql(scan: &IndexScan<'_>) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Bytes(stored_key(scan.start).to_vec())];
    let mut conds = String::from(" AND e.key >= $4");
    if let Some(end) = scan.end {
        binds.push(Bind::Bytes(end.to_vec()));
        conds.push_str(&format!(" AND e.key < ${}", 3 + binds.len()));
    }
    let (cmp, order) = if scan.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((key, id)) = scan.after {
        binds.push(Bind::Bytes(stored_key(key).to_vec()));
        let k = 3 + binds.len();
        // A bookmark comes from the client: its id may hold U+0000.
        let (id, id_cmp) = super::read::nul_free_bound(id, cmp);
        binds.push(Bind::Text(id.to_owned()));
        let i = 3 + binds.len();
        conds.push_str(&format!(
            " AND (e.key {cmp} ${k} OR (e.key = ${k} AND e.doc_id {id_cmp} ${i}))"
        ));
    }
    let limit = 4 + binds.len();
    let sql = format!(
        "SELECT e.key AS key, d.id AS id, d.rev AS rev, d.deleted AS deleted, d.seq AS seq, d.body AS body \
         FROM index_entries e JOIN docs d \
         ON d.instance_id = e.instance_id AND d.doctype = e.doctype AND d.id = e.doc_id \
         WHERE e.instance_id = $1 AND e.doctype = $2 AND e.index_id = $3{conds} \
         ORDER BY e.key {order}, e.doc_id {order} LIMIT ${limit}"
    );
    (sql, binds)
}
