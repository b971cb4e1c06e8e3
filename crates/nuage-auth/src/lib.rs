//! Who may do what: the owner's passphrase and sessions, TOTP, login
//! throttling, the OAuth 2 authorization server, app passwords and bearer
//! tokens. Everything a request presents ends up as one
//! [`nuage_core::Access`], checked by the one permission function.
//!
//! Must stay true: secrets are only ever stored hashed (argon2id for the
//! passphrase, SHA-256 for random tokens, which have 256 bits of entropy);
//! every lookup is scoped by instance, so a credential of one instance is
//! unknown on every other.

mod app_passwords;
mod cache;
mod cli_tokens;
mod config;
mod error;
pub mod instances;
mod login;
pub mod oauth;
pub mod passphrase;
mod resolve;
pub mod secret;
mod sessions;
pub mod throttle;
pub mod totp;
mod two_factor;

pub use app_passwords::NewAppPassword;
pub use config::AuthConfig;
pub use error::{AuthError, OAuthError};
pub use login::LoginOutcome;
pub use resolve::Presented;
pub use sessions::NewSession;
pub use two_factor::TotpEnrolment;

use cache::CredentialCache;
use nuage_store::Store;
use std::sync::Arc;

/// The authentication service of one server process; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    store: Store,
    config: Arc<AuthConfig>,
    cache: Arc<CredentialCache>,
    /// One login attempt at a time per instance in this process, so a
    /// burst of guesses cannot all pass the throttle before any failure is
    /// counted (see `throttle.rs`).
    attempts: Arc<
        std::sync::Mutex<
            std::collections::HashMap<nuage_core::InstanceId, Arc<tokio::sync::Mutex<()>>>,
        >,
    >,
}

impl Auth {
    pub fn new(store: Store, config: AuthConfig) -> Auth {
        let cache = Arc::new(CredentialCache::new(config.cache_ttl));
        Auth {
            store,
            config: Arc::new(config),
            cache,
            attempts: Default::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }
}
