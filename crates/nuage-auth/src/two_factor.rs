//! TOTP enrolment and recovery codes.

use crate::{Auth, AuthError, secret, totp};
use nuage_store::InstanceRow;
use rand::RngCore;

pub const RECOVERY_CODES: usize = 10;

/// What the owner needs to set up an authenticator app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Recovery codes are typed by people: case, spaces and dashes don't matter.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let s = totp::base32_encode(&bytes).to_ascii_lowercase();
    // 80 bits as four groups of four: xxxx-xxxx-xxxx-xxxx.
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

impl Auth {
    /// Starts enrolment: stores a pending secret, returns it with its URI.
    /// Nothing changes for logins until `confirm_totp`.
    pub async fn begin_totp(&self, inst: &InstanceRow) -> Result<TotpEnrolment, AuthError> {
        if inst.totp_enabled {
            return Err(AuthError::Invalid(
                "two-factor login is already on; turn it off first to enrol a new device".into(),
            ));
        }
        let secret = totp::new_secret();
        self.store.set_totp(&inst.id, Some(&secret), false).await?;
        let account = inst.domain.split(':').next().unwrap_or(&inst.domain);
        Ok(TotpEnrolment {
            otpauth_uri: totp::otpauth_uri(&secret, "nuage", account),
            secret,
        })
    }

    /// Confirms enrolment with a first code; returns the recovery codes,
    /// which are shown this once and stored only hashed.
    pub async fn confirm_totp(
        &self,
        inst: &InstanceRow,
        code: &str,
    ) -> Result<Vec<String>, AuthError> {
        if inst.totp_enabled {
            return Err(AuthError::Invalid("two-factor login is already on".into()));
        }
        let pending = inst.totp_secret.as_deref().ok_or_else(|| {
            AuthError::Invalid("start enrolment first (POST /settings/totp)".into())
        })?;
        let now_secs = (nuage_store::now_ms() / 1000) as u64;
        let step = totp::matching_step(pending, code, now_secs).ok_or(AuthError::WrongCode)?;
        if !self.store.claim_totp_step(&inst.id, step).await? {
            return Err(AuthError::WrongCode);
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| secret::hash(&normalize_recovery_code(c)))
            .collect();
        self.store.replace_recovery_codes(&inst.id, &hashes).await?;
        self.store.set_totp(&inst.id, Some(pending), true).await?;
        Ok(codes)
    }

    /// Turns TOTP off; needs a current code or a recovery code.
    /// Guessing codes here is throttled exactly like logging in: a stolen
    /// session must not be able to try every code.
    pub async fn disable_totp(
        &self,
        inst: &InstanceRow,
        code: &str,
        address: &str,
    ) -> Result<(), AuthError> {
        if !inst.totp_enabled {
            return Err(AuthError::Invalid("two-factor login is not on".into()));
        }
        let _attempt = self.check_throttle(&inst.id, address).await?;
        if let Err(e) = self.verify_second_factor(inst, code).await {
            self.record_failure(&inst.id, address).await?;
            return Err(e);
        }
        self.store.set_totp(&inst.id, None, false).await?;
        self.store.replace_recovery_codes(&inst.id, &[]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recovery_codes_are_four_groups_and_normalise() {
        let c = super::new_recovery_code();
        assert_eq!(c.len(), 19, "{c}");
        assert_eq!(c.matches('-').count(), 3);
        assert_eq!(super::normalize_recovery_code(" AbC-d e "), "abcde");
    }
}
