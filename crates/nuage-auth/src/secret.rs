//! Random secrets and their hashes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random secret of 256 bits, URL-safe, with a readable prefix naming
/// what it is (`nat_` access token, `nrt_` refresh token, …) so a leaked one
/// is recognisable by secret scanners and people alike.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a random secret: SHA-256, hex. Enough for secrets of
/// 256 bits; a slow hash is only needed for secrets people choose.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A short random id (128 bits), for rows people see in lists.
pub fn id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time string equality for secrets compared in memory.
pub fn equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let a = super::generate("nat_");
        let b = super::generate("nat_");
        assert_ne!(a, b);
        assert!(a.starts_with("nat_") && a.len() == 4 + 43);
        assert_eq!(super::hash("x"), super::hash("x"));
        assert_eq!(super::hash("abc").len(), 64);
        assert!(
            super::equal("abc", "abc") && !super::equal("abc", "abd") && !super::equal("a", "ab")
        );
    }
}
