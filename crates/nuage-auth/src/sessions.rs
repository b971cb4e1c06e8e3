//! Owner sessions: created at login, listed and revoked from settings.

use crate::{Auth, AuthError, secret};
use nuage_core::InstanceId;
use nuage_store::{SessionRow, now_ms};

/// What is recorded about the device that logs in, for the sessions list.
#[derive(Clone, Debug, Default)]
pub struct NewSession {
    pub user_agent: String,
    pub address: String,
}

impl Auth {
    /// Starts a session; returns the cookie value (shown once) and the row.
    pub(crate) async fn start_session(
        &self,
        inst: &InstanceId,
        meta: &NewSession,
    ) -> Result<(String, SessionRow), AuthError> {
        let token = secret::generate("nss_");
        let now = now_ms();
        let row = SessionRow {
            id: secret::id(),
            token_hash: secret::hash(&token),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.config.session_idle.as_millis() as i64,
            user_agent: meta.user_agent.chars().take(300).collect(),
            address: meta.address.clone(),
        };
        self.store.create_session(inst, &row).await?;
        Ok((token, row))
    }

    pub async fn list_sessions(&self, inst: &InstanceId) -> Result<Vec<SessionRow>, AuthError> {
        Ok(self.store.list_sessions(inst).await?)
    }

    /// Ends one session (logout, or revocation from the sessions list).
    pub async fn revoke_session(
        &self,
        inst: &InstanceId,
        session_id: &str,
    ) -> Result<(), AuthError> {
        let row = self
            .store
            .delete_session(inst, session_id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("session {session_id}")))?;
        self.cache.forget(inst, &[row.token_hash]);
        Ok(())
    }

    /// Ends every session but `keep`.
    pub async fn revoke_other_sessions(
        &self,
        inst: &InstanceId,
        keep: Option<&str>,
    ) -> Result<usize, AuthError> {
        let hashes = self.store.delete_other_sessions(inst, keep).await?;
        self.cache.forget(inst, &hashes);
        Ok(hashes.len())
    }

    /// Forgets every cached credential of an instance (it was removed).
    pub fn forget_instance(&self, inst: &InstanceId) {
        self.cache.forget_instance(inst);
    }
}
