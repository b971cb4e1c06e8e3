//! Deleting a doctype (`DELETE /data/{doctype}`) without stalling the other
//! tenants: [`Db::delete`] flags it in one short transaction, then purges
//! its rows here a chunk of [`PURGE_CHUNK_ROWS`](crate::PURGE_CHUNK_ROWS) at a time, each chunk its
//! own transaction under the writers' lock, and answers once the doctype
//! row itself is gone. If the request goes away first (the client hangs up,
//! the process dies), the [`Remover`](crate::Remover) finishes the purge:
//! woken at once for a request that went away, at start and every minute
//! for a crash (nuage-store `docs/removal.rs` has the steps).
//!
//! While the purge runs the doctype answers as a missing one does: its info
//! is zeros (as for a doctype never written: apps need not create their
//! doctypes), `_all_doctypes` leaves it out, `_changes` since `now` and
//! `_all_docs`' `total_rows` say 0. Every write to it is refused with
//! [`DocError::DoctypeBeingDeleted`] — creating it again (`PUT`) included,
//! rather than a 412 `file_exists` for a database every read calls
//! missing — and a `_local` document can still be deleted. Reads of rows
//! (a document, `_all_docs` rows, `_changes` rows, `_bulk_get`,
//! `_revs_diff`, `_find`, `_local`, attachments) may still see documents
//! the purge has not reached yet, for the seconds it lasts: checking the
//! flag on every read would cost every read of every doctype a lookup.
//!
//! Must stay true: no step holds the writer for more than one chunk; once
//! the deletion has begun it is finished whatever happens to the request.

use crate::error::{DocError, DocResult};
use crate::{Db, Docs};
use nuage_core::{InstanceId, Verb};
use nuage_store::{Stopping, Store, StoreError};

impl Db<'_> {
    /// `DELETE /{doctype}/`: every document of the doctype goes, and the
    /// doctype with them; returns once nothing of it is left. Needs the
    /// right to delete the whole doctype. Not found if it does not exist,
    /// or its deletion had already begun.
    pub async fn delete(&self) -> DocResult<()> {
        self.check_all(Verb::Delete)?;
        if !self
            .docs
            .store
            .retire_doctype(self.inst, self.doctype)
            .await?
        {
            return Err(DocError::not_found("Database does not exist."));
        }
        let handover = Handover(Some(&self.docs.store));
        match self.docs.purge_doctype(self.inst, self.doctype, None).await {
            Ok(_) => handover.done(),
            // The doctype is gone to every request already: the deletion
            // happened, and the remover (woken as `handover` drops)
            // finishes the purge.
            Err(e) => tracing::warn!(instance = %self.inst, doctype = self.doctype, error = %e,
                "purging a deleted doctype failed; the remover will finish it"),
        }
        Ok(())
    }
}

impl Docs {
    /// Purges a doctype whose deletion has begun, to its end; false if
    /// `stopping` turned true first (the rest is resumed later).
    pub(crate) async fn purge_doctype(
        &self,
        inst: &InstanceId,
        doctype: &str,
        stopping: Option<&Stopping>,
    ) -> Result<bool, StoreError> {
        loop {
            if stopping.is_some_and(|s| *s.borrow()) {
                return Ok(false);
            }
            if self.store.purge_doctype_step(inst, doctype).await? == 0 {
                return Ok(true);
            }
            // Let other tasks of this runtime (and their writes) run
            // between chunks; the writers' lock is handed over in turn.
            tokio::task::yield_now().await;
        }
    }
}

/// Wakes the remover when dropped before [`Handover::done`]: a purge its
/// request left unfinished is finished in the background, not in a minute.
struct Handover<'a>(Option<&'a Store>);

impl Handover<'_> {
    fn done(mut self) {
        self.0 = None;
    }
}

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.0 {
            store.wake_remover();
        }
    }
}
