//! Validated credentials kept in memory for a few seconds, so that an
//! authenticated request costs a hash and a map lookup, not a query.
//!
//! Must stay true: every revocation made by this process calls `forget`
//! before it returns, and entries expire after `ttl`, which bounds how long
//! a revocation made by another process goes unseen here.

use nuage_core::{Access, InstanceId};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// More entries than this and the cache is emptied: memory stays bounded
/// whatever the traffic, at the cost of a few store lookups.
const MAX_ENTRIES: usize = 50_000;

struct Entry {
    access: Access,
    checked_at: Instant,
    expires_at_ms: i64,
}

pub(crate) struct CredentialCache {
    ttl: Duration,
    /// Per instance, then per credential hash: lookups borrow, never allocate.
    map: RwLock<HashMap<InstanceId, HashMap<String, Entry>>>,
}

impl CredentialCache {
    pub fn new(ttl: Duration) -> Self {
        CredentialCache {
            ttl,
            map: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, inst: &InstanceId, hash: &str, now_ms: i64) -> Option<Access> {
        let map = self.map.read().ok()?;
        let e = map.get(inst)?.get(hash)?;
        (e.checked_at.elapsed() < self.ttl && e.expires_at_ms > now_ms).then(|| e.access.clone())
    }

    pub fn put(&self, inst: &InstanceId, hash: &str, access: &Access, expires_at_ms: i64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.map.write() {
            if map.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
                map.clear();
            }
            map.entry(inst.clone()).or_default().insert(
                hash.to_owned(),
                Entry {
                    access: access.clone(),
                    checked_at: Instant::now(),
                    expires_at_ms,
                },
            );
        }
    }

    pub fn forget(&self, inst: &InstanceId, hashes: &[String]) {
        if let Ok(mut map) = self.map.write()
            && let Some(creds) = map.get_mut(inst)
        {
            for h in hashes {
                creds.remove(h);
            }
        }
    }

    pub fn forget_instance(&self, inst: &InstanceId) {
        if let Ok(mut map) = self.map.write() {
            map.remove(inst);
        }
    }
}
