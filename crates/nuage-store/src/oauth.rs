//! OAuth clients (RFC 7591) and authorization codes (RFC 6749 §4.1), with
//! the record of codes already exchanged (`oauth_used_codes`, migration
//! 0004), kept only for a code's lifetime.

use crate::tokens::insert_token_with;
use crate::{InstanceId, Result, Store, TokenRow};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug)]
pub struct OAuthClientRow {
    pub client_id: String,
    pub client_secret_hash: Option<String>,
    pub registration_token_hash: String,
    pub client_name: String,
    /// JSON array of strings.
    pub redirect_uris: String,
    /// The registration metadata as JSON, returned on read (RFC 7592).
    pub metadata: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct AuthCodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub expires_at: i64,
}

/// What presenting an authorization code found.
#[derive(Debug)]
pub enum CodeExchange<T> {
    /// The code was waiting; it is spent now, whatever `issue` decided.
    Taken(T),
    /// The code was exchanged before, within its lifetime; the tokens of
    /// `family` came from that exchange.
    Replayed { family: String },
    /// No such code: never granted here, or past its lifetime.
    Unknown,
}

const CLIENT_COLUMNS: &str = "client_id, client_secret_hash, registration_token_hash, client_name, \
     redirect_uris, metadata, created_at, last_used_at";

fn client_from_row(r: &AnyRow) -> Result<OAuthClientRow, sqlx::Error> {
    Ok(OAuthClientRow {
        client_id: r.try_get("client_id")?,
        client_secret_hash: r.try_get("client_secret_hash")?,
        registration_token_hash: r.try_get("registration_token_hash")?,
        client_name: r.try_get("client_name")?,
        redirect_uris: r.try_get("redirect_uris")?,
        metadata: r.try_get("metadata")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn create_oauth_client(&self, inst: &InstanceId, c: &OAuthClientRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_clients (instance_id, client_id, client_secret_hash, \
             registration_token_hash, client_name, redirect_uris, metadata, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(inst.as_str())
        .bind(&c.client_id)
        .bind(&c.client_secret_hash)
        .bind(&c.registration_token_hash)
        .bind(&c.client_name)
        .bind(&c.redirect_uris)
        .bind(&c.metadata)
        .bind(c.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn oauth_client(
        &self,
        inst: &InstanceId,
        client_id: &str,
    ) -> Result<Option<OAuthClientRow>> {
        let row = sqlx::query(sql!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE instance_id = $1 AND client_id = $2"
        ))
        .bind(inst.as_str())
        .bind(client_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(client_from_row).transpose()?)
    }

    pub async fn list_oauth_clients(&self, inst: &InstanceId) -> Result<Vec<OAuthClientRow>> {
        let rows = sqlx::query(sql!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE instance_id = $1 ORDER BY created_at"
        ))
        .bind(inst.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(client_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a client with its codes and tokens; returns the token hashes
    /// removed so caches can forget them.
    pub async fn delete_oauth_client(
        &self,
        inst: &InstanceId,
        client_id: &str,
    ) -> Result<Option<Vec<String>>> {
        let mut tx = self.pool().begin().await?;
        let gone =
            sqlx::query("DELETE FROM oauth_clients WHERE instance_id = $1 AND client_id = $2")
                .bind(inst.as_str())
                .bind(client_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if gone == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM oauth_codes WHERE instance_id = $1 AND client_id = $2")
            .bind(inst.as_str())
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let hashes = sqlx::query(
            "DELETE FROM tokens WHERE instance_id = $1 AND client_id = $2 RETURNING token_hash",
        )
        .bind(inst.as_str())
        .bind(client_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("token_hash"))
        .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(Some(hashes))
    }

    pub async fn touch_oauth_client(
        &self,
        inst: &InstanceId,
        client_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE oauth_clients SET last_used_at = $3 WHERE instance_id = $1 AND client_id = $2",
        )
        .bind(inst.as_str())
        .bind(client_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn create_auth_code(&self, inst: &InstanceId, c: &AuthCodeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_codes (instance_id, code_hash, client_id, redirect_uri, scope, \
             code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(inst.as_str())
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.code_challenge)
        .bind(c.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Exchanges a code, once (RFC 6749 §4.1.2), even against racing
    /// requests. In one transaction: the code is removed, `issue` decides
    /// from it which tokens to make (none if it refuses), those tokens are
    /// stored, and the code is remembered as used, with `family`, the
    /// family its tokens belong to, until it would have expired. A second
    /// use finds that record: `Replayed`, naming the family to revoke.
    /// Because the tokens commit with the record, a replay that arrives
    /// while the first exchange runs waits for it and finds its tokens.
    pub async fn exchange_auth_code<T>(
        &self,
        inst: &InstanceId,
        code_hash: &str,
        family: &str,
        now: i64,
        issue: impl FnOnce(&AuthCodeRow) -> (Vec<TokenRow>, T),
    ) -> Result<CodeExchange<T>> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "DELETE FROM oauth_codes WHERE instance_id = $1 AND code_hash = $2 \
             RETURNING code_hash, client_id, redirect_uri, scope, code_challenge, expires_at",
        )
        .bind(inst.as_str())
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            tx.rollback().await?;
            let family = sqlx::query_scalar(
                "SELECT family FROM oauth_used_codes \
                 WHERE instance_id = $1 AND code_hash = $2 AND expires_at > $3",
            )
            .bind(inst.as_str())
            .bind(code_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
            return Ok(match family {
                Some(family) => CodeExchange::Replayed { family },
                None => CodeExchange::Unknown,
            });
        };
        let code = AuthCodeRow {
            code_hash: r.try_get("code_hash")?,
            client_id: r.try_get("client_id")?,
            redirect_uri: r.try_get("redirect_uri")?,
            scope: r.try_get("scope")?,
            code_challenge: r.try_get("code_challenge")?,
            expires_at: r.try_get("expires_at")?,
        };
        let (tokens, outcome) = issue(&code);
        // The instance's records of codes past their lifetime go as a new
        // one comes: the table stays a few minutes deep.
        sqlx::query("DELETE FROM oauth_used_codes WHERE instance_id = $1 AND expires_at <= $2")
            .bind(inst.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_used_codes (instance_id, code_hash, family, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(inst.as_str())
        .bind(code_hash)
        .bind(family)
        .bind(code.expires_at)
        .execute(&mut *tx)
        .await?;
        for t in &tokens {
            insert_token_with(&mut *tx, inst, t).await?;
        }
        tx.commit().await?;
        Ok(CodeExchange::Taken(outcome))
    }

    /// Forgets codes past their lifetime, exchanged or not, on every
    /// instance; returns how many.
    pub async fn purge_expired_codes(&self, now: i64) -> Result<u64> {
        let mut gone = 0;
        for table in ["oauth_codes", "oauth_used_codes"] {
            gone += sqlx::query(sql!("DELETE FROM {table} WHERE expires_at <= $1"))
                .bind(now)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(gone)
    }
}
