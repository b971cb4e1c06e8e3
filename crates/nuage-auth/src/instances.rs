//! Creating instances: shared by the command line and the admin API so both
//! apply the same rules. Removing one is nuage-docs' `Docs::remove_instance`
//! (its documents and blobs go too); this process's credential cache is
//! told with [`Auth::forget_instance`].

use crate::{Auth, AuthError, passphrase};
use nuage_store::{InstanceRow, NewInstance, StoreError};

/// A domain names an instance: a host name (letters, digits, `-`, `.`), an
/// optional `:port`, lowercase. Checked here so a typo is refused with a
/// reason instead of creating an instance nobody can reach.
pub fn normalize_domain(raw: &str) -> Result<String, AuthError> {
    let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d.as_str(), None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(d)
    } else {
        Err(AuthError::Invalid(format!(
            "`{raw}` is not a domain: use a host name such as alice.example.net (optionally with :PORT)"
        )))
    }
}

impl Auth {
    /// Creates an instance; with no passphrase, returns an onboarding token
    /// for the link the owner will open.
    pub async fn create_instance(
        &self,
        domain: &str,
        quota_bytes: Option<i64>,
        initial_passphrase: Option<&str>,
    ) -> Result<(InstanceRow, Option<String>), AuthError> {
        let domain = normalize_domain(domain)?;
        if quota_bytes.is_some_and(|q| q < 0) {
            return Err(AuthError::Invalid(
                "the quota must be a number of bytes, 0 or more".into(),
            ));
        }
        let passphrase_hash = match initial_passphrase {
            Some(p) => {
                passphrase::check_strength(p)?;
                Some(passphrase::hash(p).await?)
            }
            None => None,
        };
        let row = self
            .store
            .create_instance(NewInstance {
                domain: domain.clone(),
                quota_bytes,
                passphrase_hash,
                ..Default::default()
            })
            .await
            .map_err(|e| match e {
                StoreError::Exists(_) => AuthError::Exists(format!(
                    "an instance for {domain} already exists; see it with `nuage instance show {domain}`"
                )),
                other => other.into(),
            })?;
        let token = if row.passphrase_hash.is_none() {
            Some(self.new_onboarding_token(&row.id).await?)
        } else {
            None
        };
        tracing::info!(instance = %row.id, domain = %row.domain, "instance created");
        Ok((row, token))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_domain;

    #[test]
    fn domains_are_checked_and_lowercased() {
        assert_eq!(
            normalize_domain("Alice.Example.NET.").unwrap(),
            "alice.example.net"
        );
        assert_eq!(
            normalize_domain("localhost:8080").unwrap(),
            "localhost:8080"
        );
        for bad in ["", "a..b", "-a.b", "a b", "a:0", "a:99999", "a/b", "a.b:x"] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
    }
}
