//! Writing documents: one transaction per batch, CouchDB's rules from
//! `nuage_core::revs`, one new sequence number per document changed.
//!
//! A batch is first applied to the revision trees in memory, then written
//! with a handful of multi-row statements (revisions, pruned parents,
//! winners), whatever its size: a replicator's batch of 100 documents costs
//! a few round trips, not hundreds.
//!
//! A write that makes a document's winner a deletion also keeps, on its
//! `docs` row, what the revision it deleted held that a permission's
//! selector can match (`gone_fields`, nuage-core `deletion_projection`),
//! read before that revision's body is pruned. It stays while the document
//! stays deleted and goes when it lives again.

use super::indexes;
use super::read::rev_trees_on;
use super::usage;
use crate::{DocEvent, Engine, InstanceId, Result, Store, StoreError};
use nuage_core::revs::{Rev, RevNode};
use std::collections::HashMap;

/// One document write of a batch.
///
/// `stubs_from`: the leaves of the document whose attachments the body's
/// stubs were resolved against (their blobs are not stored again). They
/// must still be leaves when the write commits, or it is refused
/// ([`WriteOutcome::StaleStubs`]): a leaf replaced meanwhile no longer
/// references its blobs, which the collector may then delete before this
/// revision references them (nuage-docs `blob_gc.rs`). Checked under the
/// doctype's lock, which every write that prunes a leaf holds, so a leaf
/// found here holds its blobs for every sweep until this write commits.
#[derive(Clone, Debug)]
pub enum DocWrite {
    /// An edit (`new_edits: true`): a new revision `new_id` on top of
    /// `parent`, which must be a leaf (or absent for a new document).
    Edit {
        id: String,
        parent: Option<Rev>,
        new_id: String,
        deleted: bool,
        body: String,
        stubs_from: Vec<Rev>,
    },
    /// A replicated revision (`new_edits: false`) with its ancestry,
    /// newest first.
    Replicate {
        id: String,
        path: Vec<Rev>,
        deleted: bool,
        body: String,
        stubs_from: Vec<Rev>,
    },
}

impl DocWrite {
    pub fn id(&self) -> &str {
        match self {
            DocWrite::Edit { id, .. } | DocWrite::Replicate { id, .. } => id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written(Rev),
    /// The edit's parent is not a leaf, or the document exists and no
    /// parent was given.
    Conflict,
    /// A replicated revision we already had: nothing changed.
    AlreadyPresent(Rev),
    /// A leaf its attachment stubs were taken from is no longer one
    /// (`DocWrite`'s `stubs_from`): nothing changed.
    StaleStubs,
    /// This document's write would take the instance over its quota; the
    /// batch's other documents were written if they fit (`apply_batch`).
    QuotaExceeded {
        needed: i64,
        usage: usage::Usage,
    },
}

#[derive(Default)]
struct Counts {
    live: i64,
    deleted: i64,
}

impl Counts {
    fn remove(&mut self, winner: Option<&RevNode>) {
        match winner {
            Some(w) if w.deleted => self.deleted -= 1,
            Some(_) => self.live -= 1,
            None => {}
        }
    }
    fn add(&mut self, winner: Option<&RevNode>) {
        match winner {
            Some(w) if w.deleted => self.deleted += 1,
            Some(_) => self.live += 1,
            None => {}
        }
    }
}

/// Document writes per transaction at most (see `write_docs`).
pub const WRITES_PER_TRANSACTION: usize = 500;

/// Rows per multi-row statement (8 values each: well under every engine's
/// limit on bound parameters).
const ROWS_PER_STATEMENT: usize = 200;

/// A revision to insert.
struct NewRev {
    doc_id: String,
    node: RevNode,
    body: Option<String>,
    /// A tombstone that deletes a live leaf: its row is not held against
    /// the quota (usage.rs).
    ends_live_leaf: bool,
}

/// A document's winner after the batch.
struct Winner {
    node: RevNode,
    seq: i64,
    /// `None`: the winner is an older leaf whose body is in the store.
    body: Option<String>,
    /// A deleted winner's `gone_fields`, when this batch deleted it.
    gone: Option<String>,
}

impl Store {
    /// Applies a batch of writes to one doctype in one transaction.
    pub async fn write_docs(
        &self,
        inst: &InstanceId,
        doctype: &str,
        writes: Vec<DocWrite>,
    ) -> Result<Vec<WriteOutcome>> {
        #[cfg(feature = "testing")]
        self.pause.wait_if_paused(doctype).await;
        if writes.len() <= WRITES_PER_TRANSACTION {
            return self.write_chunk(inst, doctype, writes).await;
        }
        // A big batch goes in several transactions, so that one tenant's
        // 10,000 documents hold the writer (SQLite) or the doctype lock
        // only a moment at a time and others' writes interleave. CouchDB's
        // `_bulk_docs` is not atomic across documents either.
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut rest = writes.into_iter();
        loop {
            let chunk: Vec<DocWrite> = rest.by_ref().take(WRITES_PER_TRANSACTION).collect();
            if chunk.is_empty() {
                return Ok(outcomes);
            }
            outcomes.extend(self.write_chunk(inst, doctype, chunk).await?);
        }
    }

    async fn write_chunk(
        &self,
        inst: &InstanceId,
        doctype: &str,
        writes: Vec<DocWrite>,
    ) -> Result<Vec<WriteOutcome>> {
        if let Some(group) = &self.group {
            return group.submit(inst, doctype, writes).await;
        }
        self.write_docs_alone(inst, doctype, writes).await
    }

    /// One batch in a transaction of its own.
    pub(crate) async fn write_docs_alone(
        &self,
        inst: &InstanceId,
        doctype: &str,
        writes: Vec<DocWrite>,
    ) -> Result<Vec<WriteOutcome>> {
        let guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let applied = self.apply_batch(&mut tx, inst, doctype, writes).await?;
        tx.commit().await?;
        self.after_commit(applied.rows, applied.events, applied.index_pending);
        drop(guard);
        Ok(applied.outcomes)
    }

    /// Publishes a committed batch's events (SQLite; PostgreSQL delivers
    /// them through NOTIFY) and counts its rows for `ANALYZE`.
    pub(crate) fn after_commit(&self, rows: u64, events: Vec<DocEvent>, index_pending: bool) {
        self.note_rows_written(rows);
        if index_pending {
            self.index_wake.notify_one();
        }
        if self.engine() == Engine::Sqlite {
            for e in events {
                self.events.publish(e);
            }
        }
    }

    /// Applies one batch inside the caller's transaction.
    ///
    /// On an instance with a quota, a batch that cannot take it over (the
    /// most its new rows could add fits the room left) is written as any
    /// other. One that might is written document by document, so that what
    /// fits is written (a deletion above all) and each document that does
    /// not is refused alone, with its own [`WriteOutcome::QuotaExceeded`]:
    /// one document too many does not refuse its batch, nor a replication's
    /// deletions. A document the store does not hold yet can only add, and
    /// exactly what [`usage::most_added`] says: one that does not fit is
    /// refused without being tried, so a batch of new documents sent to a
    /// full instance costs one query. A write to a held document may free
    /// room (a body replaced by a smaller one): it is tried in a savepoint,
    /// undone if it goes over. A document write never fails its batch for
    /// the quota.
    pub(crate) async fn apply_batch(
        &self,
        tx: &mut sqlx::AnyConnection,
        inst: &InstanceId,
        doctype: &str,
        writes: Vec<DocWrite>,
    ) -> Result<Applied> {
        let locked = super::doctypes::lock_doctype_on(&mut *tx, inst, doctype).await?;
        let Some(quota) = locked.quota else {
            return self
                .apply_locked(tx, inst, doctype, locked, writes, false)
                .await;
        };
        let limit = locked.revs_limit.max(1) as usize;
        let usage = usage::usage_on(&mut *tx, inst, Some(quota)).await?;
        // Each write's bound, as if its document were held (a parentless
        // edit then counts its position at its longest).
        let bounds: Vec<i64> = writes
            .iter()
            .map(|w| usage::most_added(w, limit, true))
            .collect();
        if usage.used + bounds.iter().sum::<i64>() <= quota {
            return self
                .apply_locked(tx, inst, doctype, locked, writes, false)
                .await;
        }
        let ids: Vec<String> = writes.iter().map(|w| w.id().to_owned()).collect();
        let mut held = super::read::held_ids_on(&mut *tx, inst, doctype, &ids).await?;
        let mut used = usage.used;
        let mut locked = Some(locked);
        let mut all = Applied::default();
        for (w, bound) in writes.into_iter().zip(bounds) {
            let new = !held.contains(w.id());
            // Only a parentless edit's bound depends on `held`.
            let most = if new {
                usage::most_added(&w, limit, false)
            } else {
                bound
            };
            if new && used + most > quota {
                all.outcomes.push(WriteOutcome::QuotaExceeded {
                    needed: most,
                    usage: usage::Usage {
                        used,
                        ..usage.clone()
                    },
                });
                continue;
            }
            let id = w.id().to_owned();
            let locked = match locked.take() {
                Some(l) => l,
                None => super::doctypes::lock_doctype_on(&mut *tx, inst, doctype).await?,
            };
            if used + most <= quota {
                let one = self
                    .apply_locked(tx, inst, doctype, locked, vec![w], false)
                    .await?;
                used += one.delta;
                all.absorb(one);
                held.insert(id);
                continue;
            }
            sqlx::query("SAVEPOINT quota_doc").execute(&mut *tx).await?;
            match self
                .apply_locked(tx, inst, doctype, locked, vec![w], true)
                .await
            {
                Ok(one) => {
                    used += one.delta;
                    all.absorb(one);
                    held.insert(id);
                }
                Err(StoreError::QuotaExceeded { needed, usage }) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT quota_doc")
                        .execute(&mut *tx)
                        .await?;
                    all.outcomes
                        .push(WriteOutcome::QuotaExceeded { needed, usage });
                }
                // The caller undoes the transaction (or its own savepoint).
                Err(e) => return Err(e),
            }
            sqlx::query("RELEASE SAVEPOINT quota_doc")
                .execute(&mut *tx)
                .await?;
        }
        Ok(all)
    }

    /// Applies one batch to a doctype locked by the caller's transaction;
    /// checks the quota unless the caller found it cannot be exceeded.
    async fn apply_locked(
        &self,
        tx: &mut sqlx::AnyConnection,
        inst: &InstanceId,
        doctype: &str,
        locked: super::doctypes::LockedDoctype,
        writes: Vec<DocWrite>,
        check_quota: bool,
    ) -> Result<Applied> {
        let mut seq = locked.update_seq;
        let revs_limit = locked.revs_limit.max(1) as usize;
        let index_count = locked.index_count;

        let mut ids: Vec<String> = writes.iter().map(|w| w.id().to_owned()).collect();
        ids.sort();
        ids.dedup();
        let mut trees = rev_trees_on(&mut *tx, inst, doctype, &ids).await?;

        // 1. Apply the batch in memory.
        let mut counts = Counts::default();
        let mut events = Vec::new();
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut inserts: Vec<NewRev> = Vec::new();
        // Position in `inserts` of revisions added by this batch.
        let mut inserted: HashMap<(String, Rev), usize> = HashMap::new();
        let mut prune: Vec<(String, Rev)> = Vec::new();
        let mut stemmed: Vec<(String, Rev)> = Vec::new();
        // Stored revisions whose parent was stemmed.
        let mut rerooted: Vec<(String, Rev)> = Vec::new();
        // Positions in `inserts` of revisions stemmed in this batch.
        let mut dropped: Vec<usize> = Vec::new();
        let mut winners: HashMap<String, Winner> = HashMap::new();
        // Documents that had a winner before the batch: their old entries go.
        let mut existed: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut design_changed = false;
        // Deletions whose parent's body is in the store: (id, the deleted
        // leaf, its parent), for `gone_fields`.
        let mut gone_wanted: Vec<(String, Rev, Rev)> = Vec::new();
        for w in writes {
            let tree = trees.entry(w.id().to_owned()).or_default();
            let old_winner = tree.winner().cloned();
            // The live leaf a deletion ends, if it ends one (a replicated
            // one only if it adds nothing but its tombstone, checked below).
            let deleted_leaf = match &w {
                DocWrite::Edit {
                    parent: Some(p),
                    deleted: true,
                    ..
                } => Some(p),
                DocWrite::Replicate {
                    path,
                    deleted: true,
                    ..
                } => path.get(1),
                _ => None,
            }
            .filter(|p| tree.is_leaf(p) && tree.get(p).is_some_and(|n| !n.deleted))
            .cloned();
            let (id, added, leaf, body) = match w {
                // A stale edit stays a conflict (what clients retry on);
                // the tree is copied only in this rare case.
                DocWrite::Edit {
                    stubs_from,
                    parent,
                    deleted,
                    ..
                } if !all_leaves(tree, &stubs_from) => {
                    outcomes.push(
                        match tree.clone().edit(parent.as_ref(), String::new(), deleted) {
                            Ok(_) => WriteOutcome::StaleStubs,
                            Err(_) => WriteOutcome::Conflict,
                        },
                    );
                    continue;
                }
                DocWrite::Edit {
                    id,
                    parent,
                    new_id,
                    deleted,
                    body,
                    ..
                } => match tree.edit(parent.as_ref(), new_id, deleted) {
                    Ok(node) => {
                        let leaf = node.rev.clone();
                        (id, vec![node], leaf, body)
                    }
                    Err(_) => {
                        outcomes.push(WriteOutcome::Conflict);
                        continue;
                    }
                },
                DocWrite::Replicate {
                    id,
                    path,
                    deleted,
                    body,
                    stubs_from,
                } => {
                    let Some(leaf) = path.first().cloned() else {
                        outcomes.push(WriteOutcome::Conflict);
                        continue;
                    };
                    if tree.contains(&leaf) {
                        outcomes.push(WriteOutcome::AlreadyPresent(leaf));
                        continue;
                    }
                    if !all_leaves(tree, &stubs_from) {
                        outcomes.push(WriteOutcome::StaleStubs);
                        continue;
                    }
                    let merged = tree.merge(&path, deleted);
                    (id, merged.added, leaf, body)
                }
            };
            // A deletion keeps what its parent (the revision it deletes)
            // held for selectors: from this batch, or read from the store
            // below before pruning.
            let leaf_parent = added
                .iter()
                .find(|n| n.rev == leaf && n.deleted)
                .and_then(|n| n.parent.clone());
            let mut gone = None;
            if let Some(p) = &leaf_parent {
                match inserted.get(&(id.clone(), p.clone())) {
                    Some(&i) => gone = inserts[i].body.as_deref().map(gone_fields_of),
                    None => gone_wanted.push((id.clone(), leaf.clone(), p.clone())),
                }
            }
            // The parent of the oldest new revision is no longer a leaf:
            // its body goes.
            if let Some(p) = added.first().and_then(|n| n.parent.clone()) {
                match inserted.get(&(id.clone(), p.clone())) {
                    Some(&i) => inserts[i].body = None,
                    None => prune.push((id.clone(), p)),
                }
            }
            let ends_live_leaf = deleted_leaf.is_some()
                && matches!(&added[..], [n] if n.rev == leaf && n.parent == deleted_leaf);
            for node in added {
                let body = (node.rev == leaf).then(|| body.clone());
                inserted.insert((id.clone(), node.rev.clone()), inserts.len());
                inserts.push(NewRev {
                    doc_id: id.clone(),
                    node,
                    body,
                    ends_live_leaf,
                });
            }
            if tree.path(&leaf).len() > revs_limit {
                // Revisions this batch added and stemmed at once are never
                // written: a long replicated path costs `revs_limit` rows,
                // not one insert and two statements per revision.
                let st = tree.stem(revs_limit);
                for rev in st.gone {
                    match inserted.remove(&(id.clone(), rev.clone())) {
                        Some(i) => dropped.push(i),
                        None => stemmed.push((id.clone(), rev)),
                    }
                }
                for rev in st.rerooted {
                    match inserted.get(&(id.clone(), rev.clone())) {
                        Some(&i) => inserts[i].node.parent = None,
                        None => rerooted.push((id.clone(), rev)),
                    }
                }
            }
            let winner = tree
                .winner()
                .cloned()
                .ok_or_else(|| sqlx::Error::Protocol("a written document has no winner".into()))?;
            let winner_body = if winner.rev == leaf {
                Some(body)
            } else {
                inserted
                    .get(&(id.clone(), winner.rev.clone()))
                    .and_then(|&i| inserts[i].body.clone())
            };
            seq += 1;
            if old_winner.is_some() {
                existed.insert(id.clone());
            }
            design_changed |= id.starts_with("_design/");
            counts.remove(old_winner.as_ref());
            counts.add(Some(&winner));
            events.push(DocEvent {
                instance: inst.as_str().to_owned(),
                doctype: doctype.to_owned(),
                id: id.clone(),
                rev: winner.rev.to_string(),
                seq,
                deleted: winner.deleted,
                existed: old_winner.is_some_and(|w| !w.deleted),
            });
            winners.insert(
                id,
                Winner {
                    gone: gone.filter(|_| winner.deleted && winner.rev == leaf),
                    node: winner,
                    seq,
                    body: winner_body,
                },
            );
            outcomes.push(WriteOutcome::Written(leaf));
        }

        if !dropped.is_empty() {
            let dropped: std::collections::HashSet<usize> = dropped.into_iter().collect();
            inserts = inserts
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, r)| r)
                .collect();
        }

        // 2. Write it: a few multi-row statements.
        let mut index_pending = false;
        let mut delta = 0;
        if !events.is_empty() {
            // Storage (usage.rs): what the new rows bring, less what
            // pruning and stemming free.
            // Each body's size once: it parses a body that lists attachments.
            let sizes: Vec<i64> = inserts
                .iter()
                .map(|r| r.body.as_deref().map_or(0, usage::stored_size))
                .collect();
            let charge = charge_of(&inserts, &sizes);
            let added = charge.added;
            fill_gone_fields(&mut *tx, inst, doctype, &gone_wanted, &mut winners).await?;
            let pruned = prune_bodies(&mut *tx, inst, doctype, &prune).await?;
            let freed =
                pruned.freed + delete_stemmed(&mut *tx, inst, doctype, &stemmed, &rerooted).await?;
            if check_quota {
                usage::check_quota(
                    &mut *tx,
                    inst,
                    locked.quota,
                    added - charge.deletion - freed,
                )
                .await?;
            }
            if pruned.held_blobs {
                crate::blob_sweeps::note_sweep_on(&mut *tx, inst).await?;
            }
            insert_revs(&mut *tx, inst, doctype, &inserts, &sizes).await?;
            for (id, w) in winners.iter_mut().filter(|(_, w)| w.body.is_none()) {
                w.body = sqlx::query_scalar::<_, Option<String>>(
                    "SELECT body FROM revs WHERE instance_id = $1 AND doctype = $2 AND doc_id = $3 AND rev = $4",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(id)
                .bind(w.node.rev.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
            }
            upsert_winners(&mut *tx, inst, doctype, &winners).await?;
            if index_count > 0 {
                update_entries(&mut *tx, inst, doctype, &existed, &winners).await?;
            }
            if design_changed {
                index_pending = indexes::sync_registry(&mut *tx, inst, doctype, seq).await?;
            }
            sqlx::query(
                "UPDATE doctypes SET update_seq = $3, doc_count = doc_count + $4, \
                 doc_del_count = doc_del_count + $5, bytes = bytes + $6 \
                 WHERE instance_id = $1 AND doctype = $2",
            )
            .bind(inst.as_str())
            .bind(doctype)
            .bind(seq)
            .bind(counts.live)
            .bind(counts.deleted)
            .bind(added - freed)
            .execute(&mut *tx)
            .await?;
            delta = added - freed;
            if self.engine() == Engine::Postgres {
                for payload in crate::events::pg_payloads(&events) {
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(crate::events::PG_CHANNEL)
                        .bind(payload)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        Ok(Applied {
            outcomes,
            events,
            rows: inserts.len() as u64,
            index_pending,
            delta,
        })
    }
}

/// A batch applied in a transaction, waiting for its commit.
#[derive(Default)]
pub(crate) struct Applied {
    pub outcomes: Vec<WriteOutcome>,
    pub events: Vec<DocEvent>,
    pub rows: u64,
    /// An index was registered and waits for the background builder.
    pub index_pending: bool,
    /// What the batch added to the instance's storage total (less what it
    /// freed).
    pub delta: i64,
}

impl Applied {
    /// Adds what a later part of the same batch did.
    fn absorb(&mut self, later: Applied) {
        self.outcomes.extend(later.outcomes);
        self.events.extend(later.events);
        self.rows += later.rows;
        self.index_pending |= later.index_pending;
        self.delta += later.delta;
    }
}

/// Replaces the index entries of the batch's documents (the old winners'
/// entries out, the new winners' in), in the batch's transaction.
async fn update_entries(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    existed: &std::collections::HashSet<String>,
    winners: &HashMap<String, Winner>,
) -> Result<()> {
    let registered = indexes::registered_on(&mut *tx, inst, doctype).await?;
    if registered.is_empty() {
        return Ok(());
    }
    let stale: Vec<&str> = existed.iter().map(String::as_str).collect();
    indexes::delete_entries_of(&mut *tx, inst, doctype, &stale).await?;
    let mut entries = Vec::new();
    for (id, w) in winners.iter().filter(|(_, w)| !w.node.deleted) {
        let body = w.body.as_deref().unwrap_or("{}");
        for (index, key) in indexes::entries_of(&registered, id, body) {
            entries.push((index, key, id.clone()));
        }
    }
    indexes::insert_entries(&mut *tx, inst, doctype, &entries).await
}

/// Are these revisions all leaves of `tree` (as the batch found it so far)?
fn all_leaves(tree: &nuage_core::revs::RevTree, revs: &[Rev]) -> bool {
    revs.iter().all(|r| tree.is_leaf(r))
}

/// What the batch's new rows add to the doctype's total.
fn charge_of(inserts: &[NewRev], sizes: &[i64]) -> usage::Charge {
    let mut charge = usage::Charge::default();
    for (r, size) in inserts.iter().zip(sizes) {
        let row = usage::row_bytes(&r.doc_id, &r.node.rev.to_string());
        charge.added += row + size;
        if r.ends_live_leaf {
            charge.deletion += row;
        }
    }
    charge
}

/// Inserts the batch's new rows; `sizes[i]` is `usage::stored_size` of
/// `rows[i]`'s body (0 without one).
async fn insert_revs(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    rows: &[NewRev],
    sizes: &[i64],
) -> Result<()> {
    for (chunk, sizes) in rows
        .chunks(ROWS_PER_STATEMENT)
        .zip(sizes.chunks(ROWS_PER_STATEMENT))
    {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = 3 + i * 7;
                format!(
                    "($1, $2, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                )
            })
            .collect();
        let mut q = sqlx::query(sql!(
            "INSERT INTO revs (instance_id, doctype, doc_id, rev, pos, parent, deleted, body, size) VALUES {}",
            values.join(", ")
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for (r, size) in chunk.iter().zip(sizes) {
            q = q
                .bind(r.doc_id.as_str())
                .bind(r.node.rev.to_string())
                .bind(r.node.rev.pos as i64)
                .bind(r.node.parent.as_ref().map(Rev::to_string))
                .bind(i64::from(r.node.deleted))
                .bind(r.body.as_deref())
                .bind(*size);
            // (The row's own share, `usage::row_bytes`, is implied by its
            // ids: `size` is its body's alone, 0 once pruned.)
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// `gone_fields` of a body: what a permission's selector can match.
fn gone_fields_of(body: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    nuage_core::permission::deletion_projection(&body).to_string()
}

/// Sets the `gone_fields` of winners this batch deleted, from the stored
/// bodies of the revisions they deleted (before those are pruned). A
/// winner written again later in the batch is left alone.
async fn fill_gone_fields(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    wanted: &[(String, Rev, Rev)],
    winners: &mut HashMap<String, Winner>,
) -> Result<()> {
    let wanted: Vec<&(String, Rev, Rev)> = wanted
        .iter()
        .filter(|(id, leaf, _)| {
            winners
                .get(id)
                .is_some_and(|w| w.node.deleted && &w.node.rev == leaf)
        })
        .collect();
    let pairs: Vec<(String, Rev)> = wanted
        .iter()
        .map(|(id, _, parent)| (id.clone(), parent.clone()))
        .collect();
    for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
        let (cond, binds) = super::pairs_condition(3, chunk);
        let mut q = sqlx::query_as::<_, (String, String)>(sql!(
            "SELECT doc_id, body FROM revs WHERE instance_id = $1 AND doctype = $2 AND body IS NOT NULL AND {cond}"
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for b in binds {
            q = q.bind(b);
        }
        for (id, body) in q.fetch_all(&mut *tx).await? {
            if let Some(w) = winners.get_mut(&id) {
                w.gone = Some(gone_fields_of(&body));
            }
        }
    }
    Ok(())
}

/// What dropping bodies freed.
struct Pruned {
    /// Storage counted by the quota.
    freed: i64,
    /// Did a dropped body list attachments (blobs that may now be garbage)?
    held_blobs: bool,
}

/// Drops the bodies of revisions that are no longer leaves. (Stemming
/// never drops a body: leaves are never stemmed.)
async fn prune_bodies(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    revs: &[(String, Rev)],
) -> Result<Pruned> {
    use crate::blob_sweeps::HOLDS_BLOB;
    use sqlx::Row;
    let mut pruned = Pruned {
        freed: 0,
        held_blobs: false,
    };
    for chunk in revs.chunks(ROWS_PER_STATEMENT) {
        let (cond, binds) = super::pairs_condition(3, chunk);
        let mut q = sqlx::query(sql!(
            "SELECT CAST(SUM(size) AS BIGINT) AS freed, \
             CAST(SUM(CASE WHEN body LIKE {HOLDS_BLOB} THEN 1 ELSE 0 END) AS BIGINT) AS with_blobs \
             FROM revs WHERE instance_id = $1 AND doctype = $2 AND body IS NOT NULL AND {cond}"
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let row = q.fetch_one(&mut *tx).await?;
        pruned.freed += row.try_get::<Option<i64>, _>("freed")?.unwrap_or(0);
        pruned.held_blobs |= row.try_get::<Option<i64>, _>("with_blobs")?.unwrap_or(0) > 0;
        let mut q = sqlx::query(sql!(
            "UPDATE revs SET body = NULL, size = 0 WHERE instance_id = $1 AND doctype = $2 AND body IS NOT NULL AND {cond}"
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for b in binds {
            q = q.bind(b);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(pruned)
}

/// Forgets revisions beyond the doctype's revs limit (CouchDB `_revs_limit`)
/// and makes the kept revisions whose parent went roots, a few multi-row
/// statements whatever their number. Returns what the deleted rows counted
/// (usage.rs), read from the rows as they are deleted.
async fn delete_stemmed(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    gone: &[(String, Rev)],
    rerooted: &[(String, Rev)],
) -> Result<i64> {
    let mut freed = 0;
    for chunk in gone.chunks(ROWS_PER_STATEMENT) {
        let (cond, binds) = super::pairs_condition(3, chunk);
        let mut q = sqlx::query_as::<_, (String, String, i64)>(sql!(
            "DELETE FROM revs WHERE instance_id = $1 AND doctype = $2 AND {cond} \
             RETURNING doc_id, rev, size"
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        for (doc_id, rev, size) in q.fetch_all(&mut *tx).await? {
            freed += size + usage::row_bytes(&doc_id, &rev);
        }
    }
    for chunk in rerooted.chunks(ROWS_PER_STATEMENT) {
        let (cond, binds) = super::pairs_condition(3, chunk);
        let mut q = sqlx::query(sql!(
            "UPDATE revs SET parent = NULL WHERE instance_id = $1 AND doctype = $2 AND {cond}"
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(freed)
}

async fn upsert_winners(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    winners: &HashMap<String, Winner>,
) -> Result<()> {
    let rows: Vec<(&String, &Winner)> = winners.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = 3 + i * 6;
                format!(
                    "($1, $2, ${}, ${}, ${}, ${}, ${}, ${})",
                    b,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        // `gone_fields`: NULL while live; a deletion's own, else the one
        // the document had (a deleted winner replaced by another).
        let mut q = sqlx::query(sql!(
            "INSERT INTO docs (instance_id, doctype, id, rev, deleted, seq, body, gone_fields) VALUES {} \
             ON CONFLICT (instance_id, doctype, id) DO UPDATE \
             SET rev = excluded.rev, deleted = excluded.deleted, seq = excluded.seq, body = excluded.body, \
             gone_fields = CASE WHEN excluded.deleted = 0 THEN NULL \
             ELSE COALESCE(excluded.gone_fields, docs.gone_fields) END",
            values.join(", ")
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for (id, w) in chunk {
            q = q
                .bind(id.as_str())
                .bind(w.node.rev.to_string())
                .bind(i64::from(w.node.deleted))
                .bind(w.seq)
                .bind(w.body.as_deref().unwrap_or("{}"))
                .bind(w.gone.as_deref());
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}
