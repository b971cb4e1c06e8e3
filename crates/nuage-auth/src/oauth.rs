//! The OAuth 2 authorization server for devices and programs: dynamic client
//! registration (RFC 7591), the authorization code grant with PKCE
//! (RFC 6749 §4.1, RFC 7636; S256 only, required for every client), refresh
//! tokens rotated on every use with replay detection (RFC 9700 §4.14.2), a
//! code used twice revoking what it gave (RFC 6749 §4.1.2), and revocation
//! (RFC 7009). Redirect URIs follow RFC 8252 for native apps.

use crate::{Auth, AuthError, OAuthError, secret};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nuage_core::scope::{format_scope, parse_scope};
use nuage_core::{InstanceId, Permission};
use nuage_store::{AuthCodeRow, CodeExchange, OAuthClientRow, TokenKind, TokenRow, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Authorization codes live this long (RFC 6749 §4.1.2: "a maximum
/// authorization code lifetime of 10 minutes is RECOMMENDED").
const CODE_TTL_MS: i64 = 5 * 60 * 1000;

/// Client metadata as sent to the registration endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

/// Parameters of the authorization endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A checked authorization request, ready for the consent page.
#[derive(Debug, Clone)]
pub struct ValidAuthorize {
    pub client: OAuthClientRow,
    pub redirect_uri: String,
    pub permissions: Vec<Permission>,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
}

/// How an authorization request failed (RFC 6749 §4.1.2.1).
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI can't be trusted: tell the user, never
    /// redirect.
    NoRedirect(String),
    /// Send the error back to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        error: OAuthError,
        state: Option<String>,
    },
    Store(AuthError),
}

/// Parameters of the token endpoint (RFC 6749 §4.1.3, §6).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

/// The first control character (NUL, ESC, a line break, C1…) in a metadata
/// string, and the field it is in. Client metadata are names and addresses
/// shown to the owner and written to logs: a control character in one is
/// never meant and could forge a log line or garble a page, and a NUL
/// can't be stored in PostgreSQL's TEXT while SQLite would keep it, so the
/// engines would disagree. Every field is listed by destructuring: a field
/// added to [`ClientMetadata`] must be added here to compile.
fn control_character(meta: &ClientMetadata) -> Option<(&'static str, char)> {
    let ClientMetadata {
        redirect_uris,
        client_name,
        token_endpoint_auth_method,
        grant_types,
        response_types,
        scope,
        client_uri,
        logo_uri,
        software_id,
        software_version,
    } = meta;
    let lists = [
        ("redirect_uris", Some(redirect_uris)),
        ("grant_types", grant_types.as_ref()),
        ("response_types", response_types.as_ref()),
    ];
    let texts = [
        ("client_name", client_name),
        ("token_endpoint_auth_method", token_endpoint_auth_method),
        ("scope", scope),
        ("client_uri", client_uri),
        ("logo_uri", logo_uri),
        ("software_id", software_id),
        ("software_version", software_version),
    ];
    let strings = lists
        .into_iter()
        .flat_map(|(field, list)| list.into_iter().flatten().map(move |s| (field, s)))
        .chain(
            texts
                .into_iter()
                .filter_map(|(field, text)| text.as_ref().map(|s| (field, s))),
        );
    strings
        .into_iter()
        .find_map(|(field, s)| s.chars().find(|c| c.is_control()).map(|c| (field, c)))
}

/// RFC 8252 §7.3: loopback redirects may use any port, chosen at run time.
fn is_loopback_http(u: &url::Url) -> bool {
    u.scheme() == "http"
        && matches!(
            u.host_str(),
            Some("127.0.0.1") | Some("[::1]") | Some("localhost")
        )
}

/// Is this redirect URI acceptable at registration? https, loopback http
/// (RFC 8252 §7.3) or a private-use scheme with a dot (§7.1); never a
/// fragment (RFC 6749 §3.1.2).
fn check_redirect_uri(raw: &str) -> Result<(), String> {
    let u = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL ({e})"))?;
    if u.fragment().is_some() {
        return Err(format!("`{raw}` has a fragment; redirect URIs must not"));
    }
    let ok = match u.scheme() {
        "https" => u.host_str().is_some(),
        "http" => is_loopback_http(&u),
        s => s.contains('.'),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{raw}` is not allowed: use https, http on 127.0.0.1 or [::1], or a private-use scheme such as com.example.app:/callback"
        ))
    }
}

/// Does `given` match one of the registered URIs (exactly, or as a
/// loopback URI differing only in its port)?
fn redirect_matches(registered: &[String], given: &str) -> bool {
    let Ok(g) = url::Url::parse(given) else {
        return false;
    };
    registered.iter().any(|r| {
        if r == given {
            return true;
        }
        match url::Url::parse(r) {
            Ok(mut r) if is_loopback_http(&r) && is_loopback_http(&g) => {
                let _ = r.set_port(g.port());
                r == g
            }
            _ => false,
        }
    })
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge.
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn valid_verifier(v: &str) -> bool {
    // RFC 7636 §4.1: 43 to 128 unreserved characters.
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl Auth {
    /// RFC 7591 §3: registers a client; returns the registration response.
    pub async fn register_client(
        &self,
        inst: &InstanceId,
        meta: ClientMetadata,
    ) -> Result<Value, AuthError> {
        let bad = |code, d: String| AuthError::OAuth(OAuthError::new(code, d));
        if let Some((field, c)) = control_character(&meta) {
            // RFC 7591 §3.2.2: a bad redirect URI has its own error code.
            let code = if field == "redirect_uris" {
                "invalid_redirect_uri"
            } else {
                "invalid_client_metadata"
            };
            return Err(bad(
                code,
                format!(
                    "{field} contains the control character U+{:04X}; send it as plain text without control characters",
                    u32::from(c)
                ),
            ));
        }
        if meta.redirect_uris.is_empty() {
            return Err(bad(
                "invalid_redirect_uri",
                "give at least one redirect_uri".into(),
            ));
        }
        for u in &meta.redirect_uris {
            check_redirect_uri(u).map_err(|d| bad("invalid_redirect_uri", d))?;
        }
        let method = meta
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| "none".into());
        if !matches!(
            method.as_str(),
            "none" | "client_secret_basic" | "client_secret_post"
        ) {
            return Err(bad(
                "invalid_client_metadata",
                format!(
                    "token_endpoint_auth_method `{method}` is not supported: use none, client_secret_basic or client_secret_post"
                ),
            ));
        }
        for g in meta.grant_types.iter().flatten() {
            if !matches!(g.as_str(), "authorization_code" | "refresh_token") {
                return Err(bad(
                    "invalid_client_metadata",
                    format!(
                        "grant type `{g}` is not supported: use authorization_code and refresh_token"
                    ),
                ));
            }
        }
        for r in meta.response_types.iter().flatten() {
            if r != "code" {
                return Err(bad(
                    "invalid_client_metadata",
                    format!("response type `{r}` is not supported: use code"),
                ));
            }
        }
        if let Some(scope) = &meta.scope {
            parse_scope(scope).map_err(|e| bad("invalid_client_metadata", e.to_string()))?;
        }
        let name = meta
            .client_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Unnamed application".into());
        if name.len() > 200 {
            return Err(bad(
                "invalid_client_metadata",
                "client_name is longer than 200 bytes".into(),
            ));
        }
        let client_id = secret::id();
        let client_secret = (method != "none").then(|| secret::generate("ncs_"));
        let registration_token = secret::generate("nrg_");
        let now = now_ms();
        let mut stored_meta = meta.clone();
        stored_meta.token_endpoint_auth_method = Some(method);
        stored_meta.client_name = Some(name.clone());
        let row = OAuthClientRow {
            client_id: client_id.clone(),
            client_secret_hash: client_secret.as_deref().map(secret::hash),
            registration_token_hash: secret::hash(&registration_token),
            client_name: name,
            redirect_uris: serde_json::to_string(&meta.redirect_uris).unwrap_or_default(),
            metadata: serde_json::to_string(&stored_meta).unwrap_or_default(),
            created_at: now,
            last_used_at: None,
        };
        self.store.create_oauth_client(inst, &row).await?;
        let mut resp = serde_json::to_value(&stored_meta).unwrap_or_else(|_| json!({}));
        resp["client_id"] = json!(client_id);
        resp["client_id_issued_at"] = json!(now / 1000);
        resp["registration_access_token"] = json!(registration_token);
        if let Some(s) = client_secret {
            resp["client_secret"] = json!(s);
            resp["client_secret_expires_at"] = json!(0);
        }
        Ok(resp)
    }

    /// Checks an authorization request before the consent page is shown.
    pub async fn validate_authorize(
        &self,
        inst: &InstanceId,
        p: &AuthorizeParams,
    ) -> Result<ValidAuthorize, AuthorizeError> {
        let client_id = p
            .client_id
            .as_deref()
            .ok_or_else(|| AuthorizeError::NoRedirect("the request names no client_id".into()))?;
        let client = self
            .store
            .oauth_client(inst, client_id)
            .await
            .map_err(|e| AuthorizeError::Store(e.into()))?
            .ok_or_else(|| {
                AuthorizeError::NoRedirect(format!(
                    "no application is registered with the id `{client_id}` on this cloud; the application must register first"
                ))
            })?;
        let registered: Vec<String> =
            serde_json::from_str(&client.redirect_uris).unwrap_or_default();
        let redirect_uri = match (&p.redirect_uri, registered.as_slice()) {
            (Some(u), _) if redirect_matches(&registered, u) => u.clone(),
            (None, [only]) => only.clone(),
            (Some(u), _) => {
                return Err(AuthorizeError::NoRedirect(format!(
                    "the redirect URI `{u}` is not one this application registered"
                )));
            }
            (None, _) => {
                return Err(AuthorizeError::NoRedirect(
                    "the request names no redirect_uri and the application registered several"
                        .into(),
                ));
            }
        };
        let fail = |e: OAuthError| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            error: e,
            state: p.state.clone(),
        };
        if p.response_type.as_deref() != Some("code") {
            return Err(fail(OAuthError::new(
                "unsupported_response_type",
                "only response_type=code is supported",
            )));
        }
        let challenge = match (
            p.code_challenge.as_deref(),
            p.code_challenge_method.as_deref(),
        ) {
            // RFC 7636 §4.2: BASE64URL(SHA256(verifier)), 43 characters;
            // anything else could never match, and a NUL can't even be stored.
            (Some(c), Some("S256"))
                if c.len() == 43
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                c.to_owned()
            }
            (Some(_), Some("S256")) => {
                return Err(fail(OAuthError::invalid_request(
                    "code_challenge must be 43 characters of base64url (RFC 7636 §4.2)",
                )));
            }
            _ => {
                return Err(fail(OAuthError::invalid_request(
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                )));
            }
        };
        let scope_text = p.scope.clone().or_else(|| {
            serde_json::from_str::<ClientMetadata>(&client.metadata)
                .ok()
                .and_then(|m| m.scope)
        });
        let Some(scope_text) = scope_text else {
            return Err(fail(OAuthError::new(
                "invalid_scope",
                "ask for a scope, such as io.nuage.contacts:GET",
            )));
        };
        let permissions = parse_scope(&scope_text)
            .map_err(|e| fail(OAuthError::new("invalid_scope", e.to_string())))?;
        Ok(ValidAuthorize {
            scope: format_scope(&permissions),
            permissions,
            redirect_uri,
            state: p.state.clone(),
            code_challenge: challenge,
            client,
        })
    }

    /// The owner said yes: makes a code for the client to exchange.
    pub async fn grant_code(
        &self,
        inst: &InstanceId,
        v: &ValidAuthorize,
    ) -> Result<String, AuthError> {
        let code = secret::generate("noc_");
        self.store
            .create_auth_code(
                inst,
                &AuthCodeRow {
                    code_hash: secret::hash(&code),
                    client_id: v.client.client_id.clone(),
                    redirect_uri: v.redirect_uri.clone(),
                    scope: v.scope.clone(),
                    code_challenge: v.code_challenge.clone(),
                    expires_at: now_ms() + CODE_TTL_MS,
                },
            )
            .await?;
        Ok(code)
    }

    /// Authenticates the client at the token and revocation endpoints
    /// (RFC 6749 §2.3): confidential clients by secret (Basic or form),
    /// public clients by id alone.
    async fn authenticate_client(
        &self,
        inst: &InstanceId,
        p: &TokenParams,
        basic: Option<(String, String)>,
    ) -> Result<OAuthClientRow, OAuthError> {
        let (id, given_secret) = match basic {
            Some((id, s)) => (Some(id), Some(s)),
            None => (p.client_id.clone(), p.client_secret.clone()),
        };
        let id = id.ok_or_else(|| {
            OAuthError::invalid_client("send client_id (or HTTP Basic client credentials)")
        })?;
        let client = self
            .store
            .oauth_client(inst, &id)
            .await
            .map_err(|e| OAuthError::new("server_error", e.to_string()))?
            .ok_or_else(|| OAuthError::invalid_client("unknown client; register it first"))?;
        match (&client.client_secret_hash, given_secret) {
            (None, _) => Ok(client),
            (Some(h), Some(s)) if secret::equal(h, &secret::hash(&s)) => Ok(client),
            (Some(_), _) => Err(OAuthError::invalid_client("wrong or missing client_secret")),
        }
    }

    /// The token endpoint: exchanges a code or a refresh token.
    pub async fn token(
        &self,
        inst: &InstanceId,
        p: &TokenParams,
        basic: Option<(String, String)>,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(inst, p, basic).await?;
        let server = |e: nuage_store::StoreError| OAuthError::new("server_error", e.to_string());
        match p.grant_type.as_deref() {
            Some("authorization_code") => {
                let code = p
                    .code
                    .as_deref()
                    .ok_or_else(|| OAuthError::invalid_request("send the code"))?;
                let family = secret::id();
                let now = now_ms();
                let exchange = self
                    .store
                    .exchange_auth_code(inst, &secret::hash(code), &family, now, |row| {
                        match check_code(row, &client, p, now) {
                            Ok(()) => {
                                let (tokens, pair) =
                                    self.new_pair(&client.client_id, &row.scope, &family);
                                (tokens, Ok(pair))
                            }
                            Err(e) => (Vec::new(), Err(e)),
                        }
                    })
                    .await
                    .map_err(server)?;
                match exchange {
                    CodeExchange::Taken(outcome) => outcome,
                    CodeExchange::Replayed { family } => {
                        // RFC 6749 §4.1.2: a code used twice was seen by
                        // someone else; what it gave is no longer trusted.
                        let gone = self
                            .store
                            .delete_token_family(inst, &family)
                            .await
                            .map_err(server)?;
                        self.cache.forget(inst, &gone);
                        tracing::warn!(instance = %inst, client = %client.client_id, revoked = gone.len(), "authorization code replayed; the tokens it gave are revoked");
                        Err(OAuthError::invalid_grant(
                            "this code was already used; the tokens it gave are now revoked, start the authorization again",
                        ))
                    }
                    CodeExchange::Unknown => Err(OAuthError::invalid_grant(
                        "the code is unknown or expired; start the authorization again",
                    )),
                }
            }
            Some("refresh_token") => {
                let given = p
                    .refresh_token
                    .as_deref()
                    .ok_or_else(|| OAuthError::invalid_request("send the refresh_token"))?;
                let hash = secret::hash(given);
                let row = self
                    .store
                    .token(inst, &hash)
                    .await
                    .map_err(server)?
                    .filter(|t| {
                        t.kind == TokenKind::Refresh
                            && t.client_id.as_deref() == Some(&client.client_id)
                    })
                    .ok_or_else(|| {
                        OAuthError::invalid_grant("unknown refresh token; authorize again")
                    })?;
                if row.expires_at <= now_ms() {
                    return Err(OAuthError::invalid_grant(
                        "the refresh token has expired; authorize again",
                    ));
                }
                if !self
                    .store
                    .use_refresh_token(inst, &hash, now_ms())
                    .await
                    .map_err(server)?
                {
                    // A used refresh token came back: it was stolen, or the
                    // client lost a response. Either way the chain is no
                    // longer trusted (RFC 9700 §4.14.2).
                    let gone = self
                        .store
                        .delete_token_family(inst, &row.family)
                        .await
                        .map_err(server)?;
                    self.cache.forget(inst, &gone);
                    tracing::warn!(instance = %inst, client = %client.client_id, "refresh token replayed; token family revoked");
                    return Err(OAuthError::invalid_grant(
                        "this refresh token was already used; every token of this grant is now revoked, authorize again",
                    ));
                }
                let scope = match &p.scope {
                    Some(asked) => narrow_scope(&row.scope, asked)?,
                    None => row.scope.clone(),
                };
                self.issue_pair(inst, &client.client_id, &scope, &row.family)
                    .await
                    .map_err(server)
            }
            Some(other) => Err(OAuthError::new(
                "unsupported_grant_type",
                format!(
                    "grant_type `{other}` is not supported: use authorization_code or refresh_token"
                ),
            )),
            None => Err(OAuthError::invalid_request("send grant_type")),
        }
    }

    /// A new access and refresh token of `family`: the rows to store, and
    /// the answer that hands them out (RFC 6749 §5.1).
    fn new_pair(
        &self,
        client_id: &str,
        scope: &str,
        family: &str,
    ) -> (Vec<TokenRow>, TokenResponse) {
        let now = now_ms();
        let access = secret::generate("nat_");
        let refresh = secret::generate("nrt_");
        let access_ttl = self.config.access_token_ttl;
        let rows = [
            (&access, TokenKind::Access, access_ttl),
            (&refresh, TokenKind::Refresh, self.config.refresh_token_ttl),
        ]
        .map(|(token, kind, ttl)| TokenRow {
            token_hash: secret::hash(token),
            kind,
            client_id: Some(client_id.to_owned()),
            family: family.to_owned(),
            scope: scope.to_owned(),
            created_at: now,
            expires_at: now + ttl.as_millis() as i64,
            used_at: None,
        });
        let response = TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: access_ttl.as_secs(),
            refresh_token: refresh,
            scope: scope.to_owned(),
        };
        (rows.into(), response)
    }

    async fn issue_pair(
        &self,
        inst: &InstanceId,
        client_id: &str,
        scope: &str,
        family: &str,
    ) -> Result<TokenResponse, nuage_store::StoreError> {
        let (rows, response) = self.new_pair(client_id, scope, family);
        for row in &rows {
            self.store.insert_token(inst, row).await?;
        }
        Ok(response)
    }

    /// RFC 7009: revokes a token of the calling client. Unknown tokens and
    /// tokens of other clients are answered the same (§2.2), and left alone.
    pub async fn revoke_token(
        &self,
        inst: &InstanceId,
        token: &str,
        p: &TokenParams,
        basic: Option<(String, String)>,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate_client(inst, p, basic).await?;
        let server = |e: nuage_store::StoreError| OAuthError::new("server_error", e.to_string());
        let hash = secret::hash(token);
        let Some(row) = self.store.token(inst, &hash).await.map_err(server)? else {
            return Ok(());
        };
        if row.client_id.as_deref() != Some(&client.client_id) {
            return Ok(());
        }
        // Revoking a refresh token ends the grant: its access tokens too
        // (RFC 7009 §2.1 "SHOULD").
        let gone = if row.kind == TokenKind::Refresh {
            self.store.delete_token_family(inst, &row.family).await
        } else {
            self.store.delete_token(inst, &hash).await
        }
        .map_err(server)?;
        self.cache.forget(inst, &gone);
        Ok(())
    }

    pub async fn list_oauth_clients(
        &self,
        inst: &InstanceId,
    ) -> Result<Vec<OAuthClientRow>, AuthError> {
        Ok(self.store.list_oauth_clients(inst).await?)
    }

    /// Removes a client and every token it holds.
    pub async fn revoke_oauth_client(
        &self,
        inst: &InstanceId,
        client_id: &str,
    ) -> Result<(), AuthError> {
        let gone = self
            .store
            .delete_oauth_client(inst, client_id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("OAuth client {client_id}")))?;
        self.cache.forget(inst, &gone);
        Ok(())
    }
}

/// May `client` exchange this code, as `p` presents it? RFC 6749 §4.1.3
/// and RFC 7636 §4.6.
fn check_code(
    row: &AuthCodeRow,
    client: &OAuthClientRow,
    p: &TokenParams,
    now: i64,
) -> Result<(), OAuthError> {
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the code has expired; start the authorization again",
        ));
    }
    if row.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    // RFC 6749 §4.1.3: the redirect_uri must be the one used to get the code.
    if p.redirect_uri
        .as_deref()
        .is_some_and(|u| u != row.redirect_uri)
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    let verifier = p
        .code_verifier
        .as_deref()
        .filter(|v| valid_verifier(v))
        .ok_or_else(|| {
            OAuthError::invalid_request(
                "send code_verifier: 43 to 128 unreserved characters (RFC 7636 §4.1)",
            )
        })?;
    if !secret::equal(&pkce_s256(verifier), &row.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match code_challenge",
        ));
    }
    Ok(())
}

/// RFC 6749 §6: a refreshed token may ask for less, never more.
fn narrow_scope(granted: &str, asked: &str) -> Result<String, OAuthError> {
    let granted =
        parse_scope(granted).map_err(|e| OAuthError::new("invalid_scope", e.to_string()))?;
    let asked = parse_scope(asked).map_err(|e| OAuthError::new("invalid_scope", e.to_string()))?;
    if asked.iter().all(|a| granted.contains(a)) {
        Ok(format_scope(&asked))
    } else {
        Err(OAuthError::new(
            "invalid_scope",
            "a refreshed token may only narrow the scope first granted",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn redirect_uris_follow_rfc_8252() {
        assert!(check_redirect_uri("https://app.example/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://evil.example/cb").is_err());
        assert!(check_redirect_uri("https://app.example/cb#x").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        let reg = vec![
            "http://127.0.0.1/cb".to_owned(),
            "https://a.example/cb".to_owned(),
        ];
        assert!(redirect_matches(&reg, "http://127.0.0.1:53111/cb"));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:53111/other"));
        assert!(redirect_matches(&reg, "https://a.example/cb"));
        assert!(!redirect_matches(&reg, "https://a.example:444/cb"));
    }

    #[test]
    fn a_refresh_may_narrow_but_not_widen() {
        assert_eq!(
            narrow_scope(
                "io.nuage.contacts:GET io.nuage.files:GET",
                "io.nuage.files:GET"
            )
            .unwrap(),
            "io.nuage.files:GET"
        );
        assert!(narrow_scope("io.nuage.files:GET", "io.nuage.files:ALL").is_err());
    }
}
