//! The auth layer's errors. nuage-web maps them to HTTP in one place.

use nuage_core::{Denied, ScopeError};
use nuage_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no valid credential was presented: log in, or send a bearer token or an app password")]
    Unauthenticated,
    #[error("the passphrase is wrong; try again, or check the keyboard layout")]
    WrongPassphrase,
    #[error(
        "the code is wrong or was already used; enter the current code from your authenticator app, or a recovery code"
    )]
    WrongCode,
    #[error("too many failed attempts; wait {retry_after_secs} s before trying again")]
    Throttled { retry_after_secs: u64 },
    #[error(
        "this instance has no passphrase yet: open the onboarding link printed when it was created, or make a new one with `nuage instance onboarding DOMAIN`"
    )]
    NotOnboarded,
    #[error("{0}")]
    Forbidden(#[from] Denied),
    #[error("only the owner, logged in with the passphrase, may do this")]
    OwnerOnly,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Scope(#[from] ScopeError),
    #[error("{0}")]
    Exists(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// An OAuth error, shaped as RFC 6749 §5.2 (token endpoint) and §4.1.2.1
/// (authorization endpoint) define: a code and a description.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
}
