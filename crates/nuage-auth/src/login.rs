//! Logging in: onboarding, passphrase, second factor, changing the
//! passphrase. Every failure is counted by the throttle.

use crate::{Auth, AuthError, NewSession, passphrase, secret, totp};
use nuage_core::InstanceId;
use nuage_store::{InstanceRow, SessionRow, TokenKind, TokenRow, now_ms};

/// A second-factor ticket is valid this long after the passphrase step.
const TICKET_TTL_MS: i64 = 5 * 60 * 1000;

#[derive(Debug)]
pub enum LoginOutcome {
    /// Logged in: the cookie value and the session.
    Session { token: String, session: SessionRow },
    /// The passphrase was right; now a TOTP or recovery code is needed,
    /// presented with this ticket.
    NeedsSecondFactor { ticket: String },
}

impl Auth {
    /// Makes a fresh onboarding link token for an instance without a
    /// passphrase (or to reset one from the command line).
    pub async fn new_onboarding_token(&self, inst: &InstanceId) -> Result<String, AuthError> {
        let token = secret::generate("nob_");
        let expires = now_ms() + self.config.onboarding_ttl.as_millis() as i64;
        self.store
            .set_onboarding(inst, &secret::hash(&token), expires)
            .await?;
        Ok(token)
    }

    /// Is `token` the instance's current, unexpired onboarding token?
    pub fn onboarding_valid(&self, inst: &InstanceRow, token: &str) -> bool {
        match (&inst.onboarding_hash, inst.onboarding_expires_at) {
            (Some(h), Some(exp)) => exp > now_ms() && secret::equal(h, &secret::hash(token)),
            _ => false,
        }
    }

    /// Sets the first passphrase through the onboarding link and logs in.
    pub async fn onboard(
        &self,
        inst: &InstanceRow,
        token: &str,
        new_passphrase: &str,
        meta: &NewSession,
    ) -> Result<(String, SessionRow), AuthError> {
        if inst.onboarded() || !self.onboarding_valid(inst, token) {
            return Err(AuthError::Invalid(
                "this onboarding link is no longer valid: it was used already or has expired. \
                 Log in with your passphrase, or make a new link with `nuage instance onboarding DOMAIN`"
                    .into(),
            ));
        }
        passphrase::check_strength(new_passphrase)?;
        let hash = passphrase::hash(new_passphrase).await?;
        if !self
            .store
            .complete_onboarding(&inst.id, &secret::hash(token), &hash)
            .await?
        {
            return Err(AuthError::Invalid(
                "this onboarding link was just used; log in with your passphrase".into(),
            ));
        }
        self.start_session(&inst.id, meta).await
    }

    /// The passphrase step of logging in.
    pub async fn login(
        &self,
        inst: &InstanceRow,
        given: &str,
        meta: &NewSession,
    ) -> Result<LoginOutcome, AuthError> {
        let stored = inst
            .passphrase_hash
            .as_deref()
            .ok_or(AuthError::NotOnboarded)?;
        let _attempt = self.check_throttle(&inst.id, &meta.address).await?;
        if !passphrase::verify(given, stored).await? {
            self.record_failure(&inst.id, &meta.address).await?;
            tracing::info!(instance = %inst.id, address = %meta.address, "login failed: wrong passphrase");
            return Err(AuthError::WrongPassphrase);
        }
        if inst.totp_enabled {
            let ticket = secret::generate("ntk_");
            let now = now_ms();
            self.store
                .insert_token(
                    &inst.id,
                    &TokenRow {
                        token_hash: secret::hash(&ticket),
                        kind: TokenKind::LoginTicket,
                        client_id: None,
                        family: secret::id(),
                        scope: String::new(),
                        created_at: now,
                        expires_at: now + TICKET_TTL_MS,
                        used_at: None,
                    },
                )
                .await?;
            return Ok(LoginOutcome::NeedsSecondFactor { ticket });
        }
        self.clear_failures(&inst.id, &meta.address).await?;
        let (token, session) = self.start_session(&inst.id, meta).await?;
        Ok(LoginOutcome::Session { token, session })
    }

    /// The second-factor step: a TOTP code or a recovery code.
    pub async fn login_second_factor(
        &self,
        inst: &InstanceRow,
        ticket: &str,
        code: &str,
        meta: &NewSession,
    ) -> Result<(String, SessionRow), AuthError> {
        let ticket_hash = secret::hash(ticket);
        let valid = self
            .store
            .token(&inst.id, &ticket_hash)
            .await?
            .is_some_and(|t| t.kind == TokenKind::LoginTicket && t.expires_at > now_ms());
        if !valid {
            return Err(AuthError::Invalid(
                "this login step has expired; enter your passphrase again".into(),
            ));
        }
        let _attempt = self.check_throttle(&inst.id, &meta.address).await?;
        if let Err(e) = self.verify_second_factor(inst, code).await {
            self.record_failure(&inst.id, &meta.address).await?;
            return Err(e);
        }
        if self
            .store
            .delete_token(&inst.id, &ticket_hash)
            .await?
            .is_empty()
        {
            return Err(AuthError::Invalid(
                "this login step was already completed".into(),
            ));
        }
        self.clear_failures(&inst.id, &meta.address).await?;
        self.start_session(&inst.id, meta).await
    }

    /// Checks a TOTP code (each time step once) or a recovery code (once).
    pub(crate) async fn verify_second_factor(
        &self,
        inst: &InstanceRow,
        code: &str,
    ) -> Result<(), AuthError> {
        let code = code.trim();
        if code.len() > totp::DIGITS as usize + 2 {
            let normalized = crate::two_factor::normalize_recovery_code(code);
            if self
                .store
                .use_recovery_code(&inst.id, &secret::hash(&normalized), now_ms())
                .await?
            {
                tracing::info!(instance = %inst.id, "recovery code used");
                return Ok(());
            }
            return Err(AuthError::WrongCode);
        }
        let secret = inst.totp_secret.as_deref().ok_or(AuthError::WrongCode)?;
        let now_secs = (now_ms() / 1000) as u64;
        let step = totp::matching_step(secret, code, now_secs).ok_or(AuthError::WrongCode)?;
        if !self.store.claim_totp_step(&inst.id, step).await? {
            return Err(AuthError::WrongCode);
        }
        Ok(())
    }

    /// Changes the passphrase and ends every other session: whoever might
    /// have known the old one is logged out.
    pub async fn change_passphrase(
        &self,
        inst: &InstanceRow,
        current: &str,
        new: &str,
        keep_session: &str,
        address: &str,
    ) -> Result<usize, AuthError> {
        let stored = inst
            .passphrase_hash
            .as_deref()
            .ok_or(AuthError::NotOnboarded)?;
        let _attempt = self.check_throttle(&inst.id, address).await?;
        if !passphrase::verify(current, stored).await? {
            self.record_failure(&inst.id, address).await?;
            return Err(AuthError::WrongPassphrase);
        }
        passphrase::check_strength(new)?;
        let hash = passphrase::hash(new).await?;
        self.store.set_passphrase_hash(&inst.id, &hash).await?;
        self.revoke_other_sessions(&inst.id, Some(keep_session))
            .await
    }

    /// Sets the passphrase without knowing the old one: for the admin
    /// command line, which has the database in hand anyway.
    pub async fn set_passphrase(&self, inst: &InstanceId, new: &str) -> Result<(), AuthError> {
        passphrase::check_strength(new)?;
        let hash = passphrase::hash(new).await?;
        self.store.set_passphrase_hash(inst, &hash).await?;
        self.revoke_other_sessions(inst, None).await?;
        Ok(())
    }
}
