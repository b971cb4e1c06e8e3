//! Short-lived bearer tokens made on the command line, for scripts and tests.

use crate::{Auth, AuthError, secret};
use nuage_core::InstanceId;
use nuage_core::scope::{format_scope, parse_scope};
use nuage_store::{TokenKind, TokenRow, now_ms};
use std::time::Duration;

/// The longest a command-line token may live. They are for scripts and
/// one-off calls; access that lasts is an app password, which its owner
/// sees listed and can revoke by name.
pub const CLI_TOKEN_MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

impl Auth {
    /// A bearer token of `scope` living `ttl`, from 1 s to
    /// [`CLI_TOKEN_MAX_TTL`]: a token dead on arrival, or one that outlives
    /// anyone's memory of having made it, is refused.
    pub async fn issue_cli_token(
        &self,
        inst: &InstanceId,
        scope: &str,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        if ttl < Duration::from_secs(1) || ttl > CLI_TOKEN_MAX_TTL {
            return Err(AuthError::Invalid(format!(
                "a token must live from 1 second to {} days, not {} s: choose --ttl from 1 to {}; for lasting access, make an app password (`nuage app-password add`)",
                CLI_TOKEN_MAX_TTL.as_secs() / (24 * 3600),
                ttl.as_secs(),
                CLI_TOKEN_MAX_TTL.as_secs()
            )));
        }
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
