//! The owner's passphrase: argon2id with OWASP's recommended parameters
//! (19 MiB, 2 iterations, 1 lane), in PHC string form so parameters can grow
//! later without breaking stored hashes.

use crate::AuthError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_CHARS: usize = 10;

/// Hashes computed at once: each takes 19 MiB, so a burst of logins must
/// queue rather than take gigabytes.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
pub const MAX_BYTES: usize = 1024;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Says why a new passphrase is refused, in words the user can act on.
pub fn check_strength(p: &str) -> Result<(), AuthError> {
    if p.chars().count() < MIN_CHARS {
        return Err(AuthError::Invalid(format!(
            "the passphrase is too short: use at least {MIN_CHARS} characters, for example four unrelated words"
        )));
    }
    if p.len() > MAX_BYTES {
        return Err(AuthError::Invalid(format!(
            "the passphrase is longer than {MAX_BYTES} bytes; choose a shorter one"
        )));
    }
    Ok(())
}

/// Hashes on a blocking thread: argon2 takes tens of milliseconds of CPU.
pub async fn hash(p: &str) -> Result<String, AuthError> {
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    let p = p.to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&p))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
}

pub fn hash_blocking(p: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub async fn verify(p: &str, stored: &str) -> Result<bool, AuthError> {
    if p.len() > MAX_BYTES {
        return Ok(false);
    }
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    let (p, stored) = (p.to_owned(), stored.to_owned());
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored).map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(hasher().verify_password(p.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| AuthError::Hash(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_passphrase_verifies_and_a_wrong_one_does_not() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h).await.unwrap());
        assert!(!verify("correct horse batterY", &h).await.unwrap());
    }

    #[test]
    fn short_passphrases_are_refused_with_advice() {
        let e = check_strength("short").unwrap_err().to_string();
        assert!(e.contains("at least 10"), "{e}");
        assert!(check_strength("four unrelated words here").is_ok());
    }
}
