//! New revision ids: deterministic, so the same edit of the same parent
//! gives the same id on every replica (as CouchDB's do): MD5 over the
//! parent, the deletion flag and the canonical body, in hex.

use md5::{Digest, Md5};
use nuage_core::revs::Rev;

pub fn new_rev_id(parent: Option<&Rev>, deleted: bool, body: &str) -> String {
    let mut h = Md5::new();
    if let Some(p) = parent {
        h.update(p.to_string().as_bytes());
    }
    h.update([0, u8::from(deleted), 0]);
    h.update(body.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_parent_deletion_and_body() {
        let p = Rev::new(1, "a");
        let a = new_rev_id(Some(&p), false, "{}");
        assert_eq!(a.len(), 32);
        assert_eq!(a, new_rev_id(Some(&p), false, "{}"));
        assert_ne!(a, new_rev_id(None, false, "{}"));
        assert_ne!(a, new_rev_id(Some(&p), true, "{}"));
        assert_ne!(a, new_rev_id(Some(&p), false, "{\"x\":1}"));
    }
}
