//! App passwords: one per device or script, scoped, shown once.

use crate::{Auth, AuthError, secret};
use nuage_core::InstanceId;
use nuage_core::scope::{format_scope, parse_scope};
use nuage_store::{AppPasswordRow, now_ms};

#[derive(Debug, Clone)]
pub struct NewAppPassword {
    pub name: String,
    pub scope: String,
}

impl Auth {
    /// Creates an app password; returns the row and the secret, which is
    /// never stored nor shown again.
    pub async fn create_app_password(
        &self,
        inst: &InstanceId,
        new: &NewAppPassword,
    ) -> Result<(AppPasswordRow, String), AuthError> {
        let name = new.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AuthError::Invalid(
                "give the app password a name of 1 to 100 characters, such as \"Phone contacts\""
                    .into(),
            ));
        }
        // Normalise the scope so the list shows it the same way every time.
        let scope = format_scope(&parse_scope(&new.scope)?);
        let password = secret::generate("nap_");
        let row = AppPasswordRow {
            id: secret::id(),
            name: name.to_owned(),
            scope,
            secret_hash: secret::hash(&password),
            created_at: now_ms(),
            last_used_at: None,
        };
        self.store.create_app_password(inst, &row).await?;
        Ok((row, password))
    }

    pub async fn list_app_passwords(
        &self,
        inst: &InstanceId,
    ) -> Result<Vec<AppPasswordRow>, AuthError> {
        Ok(self.store.list_app_passwords(inst).await?)
    }

    pub async fn revoke_app_password(&self, inst: &InstanceId, id: &str) -> Result<(), AuthError> {
        let hash = self
            .store
            .delete_app_password(inst, id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("app password {id}")))?;
        self.cache.forget(inst, &[hash]);
        Ok(())
    }
}
