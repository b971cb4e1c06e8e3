//! Writing documents: one transaction per batch, CouchDB's rules from
//! `nuage_core::revs`, one new sequence number per document changed.

use super::read::rev_trees_on;
use crate::{DocEvent, Engine, InstanceId, Result, Store};
use nuage_core::revs::{Rev, RevNode, RevTree};
use sqlx::Row;

/// One document write of a batch.
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
    },
    /// A replicated revision (`new_edits: false`) with its ancestry,
    /// newest first.
    Replicate {
        id: String,
        path: Vec<Rev>,
        deleted: bool,
        body: String,
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

impl Store {
    /// Applies a batch of writes to one doctype in one transaction.
    pub async fn write_docs(
        &self,
        inst: &InstanceId,
        doctype: &str,
        writes: Vec<DocWrite>,
    ) -> Result<Vec<WriteOutcome>> {
        let guard = self.write_guard().await;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO doctypes (instance_id, doctype, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id, doctype) DO NOTHING",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(crate::now_ms())
        .execute(&mut *tx)
        .await?;
        // Lock the doctype row: writers of one doctype take sequence
        // numbers one transaction at a time.
        let lock = match self.engine() {
            Engine::Postgres => " FOR UPDATE",
            Engine::Sqlite => "",
        };
        let row = sqlx::query(sql!(
            "SELECT update_seq, revs_limit FROM doctypes WHERE instance_id = $1 AND doctype = $2{lock}"
        ))
        .bind(inst.as_str())
        .bind(doctype)
        .fetch_one(&mut *tx)
        .await?;
        let mut seq: i64 = row.try_get("update_seq")?;
        let revs_limit = row.try_get::<i64, _>("revs_limit")?.max(1) as usize;

        let mut ids: Vec<String> = writes.iter().map(|w| w.id().to_owned()).collect();
        ids.sort();
        ids.dedup();
        let mut trees = rev_trees_on(&mut tx, inst, doctype, &ids).await?;
        let mut counts = Counts::default();
        let mut events = Vec::new();
        let mut outcomes = Vec::with_capacity(writes.len());

        for w in writes {
            let tree = trees.entry(w.id().to_owned()).or_default();
            let old_winner = tree.winner().cloned();
            let (id, added, leaf, body) = match w {
                DocWrite::Edit {
                    id,
                    parent,
                    new_id,
                    deleted,
                    body,
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
                } => {
                    let Some(leaf) = path.first().cloned() else {
                        outcomes.push(WriteOutcome::Conflict);
                        continue;
                    };
                    if tree.contains(&leaf) {
                        outcomes.push(WriteOutcome::AlreadyPresent(leaf));
                        continue;
                    }
                    let merged = tree.merge(&path, deleted);
                    (id, merged.added, leaf, body)
                }
            };
            insert_revs(&mut tx, inst, doctype, &id, &added, &leaf, &body).await?;
            // The parent of the oldest new revision is no longer a leaf:
            // its body goes.
            if let Some(p) = added.first().and_then(|n| n.parent.as_ref()) {
                sqlx::query(
                    "UPDATE revs SET body = NULL WHERE instance_id = $1 AND doctype = $2 AND doc_id = $3 \
                     AND rev = $4 AND body IS NOT NULL",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(&id)
                .bind(p.to_string())
                .execute(&mut *tx)
                .await?;
            }
            if tree.path(&leaf).len() > revs_limit {
                stem(&mut tx, tree, inst, doctype, &id, revs_limit).await?;
            }
            let winner = tree
                .winner()
                .cloned()
                .ok_or_else(|| sqlx::Error::Protocol("a written document has no winner".into()))?;
            let winner_body = if winner.rev == leaf {
                body
            } else {
                sqlx::query_scalar::<_, Option<String>>(
                    "SELECT body FROM revs WHERE instance_id = $1 AND doctype = $2 AND doc_id = $3 AND rev = $4",
                )
                .bind(inst.as_str())
                .bind(doctype)
                .bind(&id)
                .bind(winner.rev.to_string())
                .fetch_one(&mut *tx)
                .await?
                .unwrap_or_else(|| "{}".to_owned())
            };
            seq += 1;
            sqlx::query(
                "INSERT INTO docs (instance_id, doctype, id, rev, deleted, seq, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id, doctype, id) DO UPDATE \
                 SET rev = excluded.rev, deleted = excluded.deleted, seq = excluded.seq, body = excluded.body",
            )
            .bind(inst.as_str())
            .bind(doctype)
            .bind(&id)
            .bind(winner.rev.to_string())
            .bind(i64::from(winner.deleted))
            .bind(seq)
            .bind(&winner_body)
            .execute(&mut *tx)
            .await?;
            counts.remove(old_winner.as_ref());
            counts.add(Some(&winner));
            events.push(DocEvent {
                instance: inst.as_str().to_owned(),
                doctype: doctype.to_owned(),
                id,
                rev: winner.rev.to_string(),
                seq,
                deleted: winner.deleted,
                existed: old_winner.is_some_and(|w| !w.deleted),
            });
            outcomes.push(WriteOutcome::Written(leaf));
        }

        if !events.is_empty() {
            sqlx::query(
                "UPDATE doctypes SET update_seq = $3, doc_count = doc_count + $4, \
                 doc_del_count = doc_del_count + $5 WHERE instance_id = $1 AND doctype = $2",
            )
            .bind(inst.as_str())
            .bind(doctype)
            .bind(seq)
            .bind(counts.live)
            .bind(counts.deleted)
            .execute(&mut *tx)
            .await?;
        }
        if self.engine() == Engine::Postgres {
            for e in &events {
                let payload = serde_json::to_string(e).unwrap_or_default();
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(crate::events::PG_CHANNEL)
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        if self.engine() == Engine::Sqlite {
            for e in events {
                self.events.publish(e);
            }
        }
        drop(guard);
        Ok(outcomes)
    }
}

async fn insert_revs(
    tx: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    id: &str,
    added: &[RevNode],
    leaf: &Rev,
    body: &str,
) -> Result<()> {
    for n in added {
        sqlx::query(
            "INSERT INTO revs (instance_id, doctype, doc_id, rev, pos, parent, deleted, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(id)
        .bind(n.rev.to_string())
        .bind(n.rev.pos as i64)
        .bind(n.parent.as_ref().map(Rev::to_string))
        .bind(i64::from(n.deleted))
        .bind((n.rev == *leaf).then_some(body))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Forgets revisions beyond the doctype's revs limit (CouchDB `_revs_limit`).
async fn stem(
    tx: &mut sqlx::AnyConnection,
    tree: &mut RevTree,
    inst: &InstanceId,
    doctype: &str,
    id: &str,
    limit: usize,
) -> Result<()> {
    for rev in tree.stem(limit) {
        let r = rev.to_string();
        sqlx::query(
            "DELETE FROM revs WHERE instance_id = $1 AND doctype = $2 AND doc_id = $3 AND rev = $4",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(id)
        .bind(&r)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE revs SET parent = NULL WHERE instance_id = $1 AND doctype = $2 AND doc_id = $3 AND parent = $4")
            .bind(inst.as_str())
            .bind(doctype)
            .bind(id)
            .bind(&r)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
