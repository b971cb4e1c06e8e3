//! Short-lived bearer tokens made on the command line, for scripts and tests.

use crate::{Auth, AuthError, secret};
use nuage_core::InstanceId;
use nuage_core::scope::{format_scope, parse_scope};
use nuage_store::{TokenKind, TokenRow, now_ms};
use std::time::Duration;

impl Auth {
    pub async fn issue_cli_token(
        &self,
        inst: &InstanceId,
        scope: &str,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let scope = format_scope(&parse_scope(scope)?);
        let token = secret::generate("nct_");
        let now = now_ms();
        self.store
            .insert_token(
                inst,
                &TokenRow {
                    token_hash: secret::hash(&token),
                    kind: TokenKind::Cli,
                    client_id: None,
                    family: secret::id(),
                    scope,
                    created_at: now,
                    expires_at: now + ttl.as_millis() as i64,
                    used_at: None,
                },
            )
            .await?;
        Ok(token)
    }
}
