//! Tunables of the auth layer, filled from the server configuration.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Failures from one client address allowed before delays start.
    pub throttle_free_failures: i64,
    /// Failures on one instance, from all addresses, before delays start.
    pub throttle_free_failures_instance: i64,
    /// The first delay; each further failure doubles it.
    pub throttle_base: Duration,
    /// The longest delay: nobody is ever locked out for good.
    pub throttle_max: Duration,
    /// A session ends after this long without use.
    pub session_idle: Duration,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long an onboarding link stays valid.
    pub onboarding_ttl: Duration,
    /// How long a validated credential is trusted from memory before the
    /// store is asked again; bounds how late a revocation made by another
    /// server process takes effect here (revocations made by this process
    /// take effect at once).
    pub cache_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            throttle_free_failures: 5,
            throttle_free_failures_instance: 30,
            throttle_base: Duration::from_secs(1),
            throttle_max: Duration::from_secs(15 * 60),
            session_idle: Duration::from_secs(30 * 24 * 3600),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(90 * 24 * 3600),
            onboarding_ttl: Duration::from_secs(7 * 24 * 3600),
            cache_ttl: Duration::from_secs(10),
        }
    }
}
