//! From what a request presents to an [`Access`]: the one place where
//! sessions, bearer tokens and app passwords become permissions.

use crate::{Auth, AuthError, secret};
use nuage_core::scope::parse_scope;
use nuage_core::{Access, InstanceId, Permissions, Subject};
use nuage_store::{TokenKind, now_ms};

/// Last-use times are written at most this often per credential.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A credential as a request carries it.
#[derive(Clone, Copy, Debug)]
pub enum Presented<'a> {
    /// `Authorization: Bearer …`: an OAuth access token or a CLI token.
    Bearer(&'a str),
    /// `Authorization: Basic …`: an app password (the user name is ignored).
    Basic(&'a str),
    /// The session cookie.
    Session(&'a str),
}

impl Auth {
    /// Authenticates `presented` on instance `inst`. Unknown, expired and
    /// revoked credentials, and those of other instances, are all simply
    /// `Unauthenticated`: a caller learns nothing about which it was.
    pub async fn resolve(
        &self,
        inst: &InstanceId,
        presented: Presented<'_>,
    ) -> Result<Access, AuthError> {
        let raw = match presented {
            Presented::Bearer(s) | Presented::Basic(s) | Presented::Session(s) => s,
        };
        if raw.is_empty() || raw.len() > 512 {
            return Err(AuthError::Unauthenticated);
        }
        let hash = secret::hash(raw);
        let now = now_ms();
        if let Some(access) = self.cache.get(inst, &hash, now) {
            return Ok(access);
        }
        let (access, expires_at) = match presented {
            Presented::Bearer(_) => self.resolve_token(inst, &hash, now).await?,
            Presented::Basic(_) => self.resolve_app_password(inst, &hash, now).await?,
            Presented::Session(_) => self.resolve_session(inst, &hash, now).await?,
        };
        self.cache.put(inst, &hash, &access, expires_at);
        Ok(access)
    }

    async fn resolve_token(
        &self,
        inst: &InstanceId,
        hash: &str,
        now: i64,
    ) -> Result<(Access, i64), AuthError> {
        let row = self
            .store
            .token(inst, hash)
            .await?
            .filter(|t| matches!(t.kind, TokenKind::Access | TokenKind::Cli) && t.expires_at > now)
            .ok_or(AuthError::Unauthenticated)?;
        let permissions = Permissions::List(parse_scope(&row.scope)?);
        let subject = match (&row.kind, &row.client_id) {
            (TokenKind::Access, Some(client_id)) => {
                self.store.touch_oauth_client(inst, client_id, now).await?;
                Subject::OAuthClient {
                    client_id: client_id.clone(),
                }
            }
            _ => Subject::CliToken,
        };
        Ok((
            Access {
                subject,
                permissions,
            },
            row.expires_at,
        ))
    }

    async fn resolve_app_password(
        &self,
        inst: &InstanceId,
        hash: &str,
        now: i64,
    ) -> Result<(Access, i64), AuthError> {
        let row = self
            .store
            .app_password_by_secret(inst, hash)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if row.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY_MS) {
            self.store.touch_app_password(inst, &row.id, now).await?;
        }
        let access = Access {
            subject: Subject::AppPassword { id: row.id },
            permissions: Permissions::List(parse_scope(&row.scope)?),
        };
        Ok((access, i64::MAX))
    }

    async fn resolve_session(
        &self,
        inst: &InstanceId,
        hash: &str,
        now: i64,
    ) -> Result<(Access, i64), AuthError> {
        let row = self
            .store
            .session_by_token(inst, hash)
            .await?
            .filter(|s| s.expires_at > now)
            .ok_or(AuthError::Unauthenticated)?;
        let idle = self.config.session_idle.as_millis() as i64;
        let mut expires_at = row.expires_at;
        if now - row.last_seen_at > TOUCH_EVERY_MS {
            expires_at = now + idle;
            self.store
                .touch_session(inst, &row.id, now, expires_at)
                .await?;
        }
        let access = Access {
            subject: Subject::Session { session_id: row.id },
            permissions: Permissions::Owner,
        };
        Ok((access, expires_at))
    }
}
