//! Bearer tokens: OAuth access and refresh tokens and command-line tokens.
//! Only SHA-256 hashes of the (high-entropy, random) tokens are stored.

use crate::{InstanceId, Result, Store};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    Cli,
    /// Proof that the passphrase was right, waiting for the second factor.
    LoginTicket,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Cli => "cli",
            TokenKind::LoginTicket => "ticket",
        }
    }
    fn parse(s: &str) -> TokenKind {
        match s {
            "access" => TokenKind::Access,
            "refresh" => TokenKind::Refresh,
            "cli" => TokenKind::Cli,
            // Anything unknown is the least powerful kind: never accepted
            // as an API credential.
            _ => TokenKind::LoginTicket,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TokenRow {
    pub token_hash: String,
    pub kind: TokenKind,
    pub client_id: Option<String>,
    pub family: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str = "token_hash, kind, client_id, family, scope, created_at, expires_at, used_at";

fn from_row(r: &AnyRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        token_hash: r.try_get("token_hash")?,
        kind: TokenKind::parse(&r.try_get::<String, _>("kind")?),
        client_id: r.try_get("client_id")?,
        family: r.try_get("family")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
    })
}

/// Stores a token through `exec`: the pool, or a transaction that makes
/// it together with something else (an exchanged code).
pub(crate) async fn insert_token_with<'c>(
    exec: impl sqlx::Executor<'c, Database = sqlx::Any>,
    inst: &InstanceId,
    t: &TokenRow,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (instance_id, token_hash, kind, client_id, family, scope, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(inst.as_str())
    .bind(&t.token_hash)
    .bind(t.kind.as_str())
    .bind(&t.client_id)
    .bind(&t.family)
    .bind(&t.scope)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(exec)
    .await?;
    Ok(())
}

impl Store {
    pub async fn insert_token(&self, inst: &InstanceId, t: &TokenRow) -> Result<()> {
        insert_token_with(self.pool(), inst, t).await
    }

    pub async fn token(&self, inst: &InstanceId, token_hash: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM tokens WHERE instance_id = $1 AND token_hash = $2"
        ))
        .bind(inst.as_str())
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Marks a refresh token used; false if it already was (a replay).
    pub async fn use_refresh_token(
        &self,
        inst: &InstanceId,
        token_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE tokens SET used_at = $3 WHERE instance_id = $1 AND token_hash = $2 \
             AND kind = 'refresh' AND used_at IS NULL",
        )
        .bind(inst.as_str())
        .bind(token_hash)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Deletes one token; returns the hashes deleted.
    pub async fn delete_token(&self, inst: &InstanceId, token_hash: &str) -> Result<Vec<String>> {
        self.delete_tokens_where(inst, "token_hash = $2", token_hash)
            .await
    }

    /// Deletes a whole family (a refresh chain and its access tokens).
    pub async fn delete_token_family(
        &self,
        inst: &InstanceId,
        family: &str,
    ) -> Result<Vec<String>> {
        self.delete_tokens_where(inst, "family = $2", family).await
    }

    async fn delete_tokens_where(
        &self,
        inst: &InstanceId,
        cond: &str,
        value: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(sql!(
            "DELETE FROM tokens WHERE instance_id = $1 AND {cond} RETURNING token_hash"
        ))
        .bind(inst.as_str())
        .bind(value)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>("token_hash"))
            .collect::<Result<_, _>>()?)
    }

    pub async fn purge_expired_tokens(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}
