//! Login throttling: a growing delay per client address and per instance,
//! answered with `Retry-After`. The delay is capped, so the owner is never
//! locked out for good, not even by an attacker hammering from many
//! addresses.

use crate::{Auth, AuthConfig, AuthError};
use nuage_core::InstanceId;
use nuage_store::now_ms;
use std::sync::Arc;
use std::time::Duration;

/// The wait imposed after `failures` failures, when `free` are allowed.
pub fn delay(cfg: &AuthConfig, failures: i64, free: i64) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = (failures - free).min(30) as u32;
    cfg.throttle_base
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(cfg.throttle_max)
}

pub(crate) const INSTANCE_KEY: &str = "*";

/// Held while one login attempt is checked and its outcome recorded.
pub(crate) struct AttemptGuard(
    #[expect(
        dead_code,
        reason = "held for its Drop: the lock is released when the attempt is recorded"
    )]
    tokio::sync::OwnedMutexGuard<()>,
);

pub(crate) fn address_key(address: &str) -> String {
    format!("ip:{address}")
}

impl Auth {
    /// Refuses an attempt made before the current delay has passed.
    /// Waits for this instance's attempt lock, then refuses an attempt made
    /// before the current delay has passed. The caller keeps the returned
    /// guard until it has recorded the outcome.
    pub(crate) async fn check_throttle(
        &self,
        inst: &InstanceId,
        address: &str,
    ) -> Result<AttemptGuard, AuthError> {
        let lock = {
            let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 10_000 {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(inst.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        let now = now_ms();
        let cfg = self.config();
        let mut wait_ms = 0i64;
        for (key, free) in [
            (address_key(address), cfg.throttle_free_failures),
            (INSTANCE_KEY.to_owned(), cfg.throttle_free_failures_instance),
        ] {
            let row = self.store.throttle(inst, &key).await?;
            let d = delay(cfg, row.failures, free).as_millis() as i64;
            wait_ms = wait_ms.max(row.last_failure_at + d - now);
        }
        if wait_ms > 0 {
            return Err(AuthError::Throttled {
                retry_after_secs: (wait_ms as u64).div_ceil(1000),
            });
        }
        Ok(AttemptGuard(guard))
    }

    pub(crate) async fn record_failure(
        &self,
        inst: &InstanceId,
        address: &str,
    ) -> Result<(), AuthError> {
        let now = now_ms();
        self.store
            .record_login_failure(inst, &address_key(address), now)
            .await?;
        self.store
            .record_login_failure(inst, INSTANCE_KEY, now)
            .await?;
        Ok(())
    }

    pub(crate) async fn clear_failures(
        &self,
        inst: &InstanceId,
        address: &str,
    ) -> Result<(), AuthError> {
        self.store
            .clear_login_failures(inst, &address_key(address))
            .await?;
        self.store.clear_login_failures(inst, INSTANCE_KEY).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_and_is_capped() {
        let cfg = AuthConfig::default();
        assert_eq!(delay(&cfg, 4, 5), Duration::ZERO);
        assert_eq!(delay(&cfg, 5, 5), Duration::from_secs(1));
        assert_eq!(delay(&cfg, 7, 5), Duration::from_secs(4));
        assert_eq!(delay(&cfg, 1_000, 5), cfg.throttle_max);
    }
}
