//! Documents as CouchDB returns them: the stored body with `_id`, `_rev`,
//! `_deleted` and whatever meta members were asked for.

use crate::attachments;
use crate::error::DocResult;
use nuage_blob::Blobs;
use nuage_core::InstanceId;
use nuage_core::revs::{Rev, RevTree};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// The meta members a request may ask for.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub conflicts: bool,
    pub deleted_conflicts: bool,
    pub revs: bool,
    pub revs_info: bool,
    pub attachments: bool,
    /// Only attachments newer than the newest of these are sent inline.
    pub atts_since: Vec<Rev>,
}

impl Meta {
    pub fn needs_tree(&self) -> bool {
        self.conflicts || self.deleted_conflicts || self.revs || self.revs_info
    }
}

/// Parses a stored body; a corrupt one becomes an empty object rather than
/// a failed replication (and is logged).
pub fn parse_body(body: &str) -> Map<String, Value> {
    match serde_json::from_str(body) {
        Ok(Value::Object(m)) => m,
        _ => {
            tracing::error!("a stored document body is not a JSON object");
            Map::new()
        }
    }
}

/// A JSON object of `members`, moved in: `json!` would copy each member
/// value by serializing it again, which for a page of documents costs more
/// than everything else the page needs.
pub fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// A document rendered, or spliced from its stored text.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Rendered {
    Value(Value),
    Text(Box<RawValue>),
}

/// The document as JSON text made from its stored body without parsing
/// it: the stored text is a JSON object of the user's fields (and
/// `_attachments`, if any), so the members CouchDB adds can be written
/// before its own. `None` where something in it needs rendering (its
/// attachments, a meta member other than `_revisions`) or where the
/// stored text is not a valid object: the caller then renders it as
/// [`document`] does. Parsing and re-serializing every body was most of a
/// `_bulk_get`'s own work.
pub fn spliced(
    id: &str,
    rev: &Rev,
    deleted: bool,
    stored: &str,
    tree: &RevTree,
    meta: &Meta,
) -> Option<Box<RawValue>> {
    // A nested member of that name sends the document the slow way too;
    // the answer is the same.
    if meta.conflicts
        || meta.deleted_conflicts
        || meta.revs_info
        || stored.contains("\"_attachments\"")
    {
        return None;
    }
    let inner = stored.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let mut out = Vec::with_capacity(stored.len() + 128);
    out.extend_from_slice(b"{\"_id\":");
    serde_json::to_writer(&mut out, id).ok()?;
    out.extend_from_slice(b",\"_rev\":");
    serde_json::to_writer(&mut out, &rev.to_string()).ok()?;
    if deleted {
        out.extend_from_slice(b",\"_deleted\":true");
    }
    if meta.revs {
        out.extend_from_slice(b",\"_revisions\":");
        serde_json::to_writer(&mut out, &revisions(tree, rev)).ok()?;
    }
    if !inner.is_empty() {
        out.push(b',');
        out.extend_from_slice(inner.as_bytes());
    }
    out.push(b'}');
    // Checks the whole (a stored body cut or corrupt is rendered the slow
    // way, which logs it): a scan, without building anything.
    RawValue::from_string(String::from_utf8(out).ok()?).ok()
}

pub fn revisions(tree: &RevTree, rev: &Rev) -> Value {
    let path = tree.path(rev);
    let ids: Vec<&str> = path.iter().map(|r| r.id.as_str()).collect();
    json!({"start": rev.pos, "ids": ids})
}

#[expect(
    clippy::too_many_arguments,
    reason = "a document is assembled from this many independent parts; a struct for one call would only rename them"
)]
pub async fn document(
    blobs: &Blobs,
    inst: &InstanceId,
    id: &str,
    rev: &Rev,
    deleted: bool,
    mut body: Map<String, Value>,
    tree: Option<&RevTree>,
    meta: &Meta,
) -> DocResult<Value> {
    body.insert("_id".into(), json!(id));
    body.insert("_rev".into(), json!(rev.to_string()));
    if deleted {
        body.insert("_deleted".into(), json!(true));
    }
    if let Some(Value::Object(atts)) = body.remove("_attachments") {
        let since = meta.atts_since.iter().map(|r| r.pos).max();
        let rendered = attachments::render(blobs, inst, &atts, meta.attachments, since).await?;
        if !rendered.is_empty() {
            body.insert("_attachments".into(), Value::Object(rendered));
        }
    }
    if let Some(tree) = tree {
        let is_winner = tree.winner().is_some_and(|w| w.rev == *rev);
        if meta.conflicts && is_winner {
            let c: Vec<String> = tree.conflicts().iter().map(Rev::to_string).collect();
            if !c.is_empty() {
                body.insert("_conflicts".into(), json!(c));
            }
        }
        if meta.deleted_conflicts && is_winner {
            let c: Vec<String> = tree
                .deleted_conflicts()
                .iter()
                .map(Rev::to_string)
                .collect();
            if !c.is_empty() {
                body.insert("_deleted_conflicts".into(), json!(c));
            }
        }
        if meta.revs {
            body.insert("_revisions".into(), revisions(tree, rev));
        }
        if meta.revs_info {
            let leaves: Vec<Rev> = tree.leaves().iter().map(|n| n.rev.clone()).collect();
            let info: Vec<Value> = tree
                .path(rev)
                .iter()
                .map(|r| {
                    let node = tree.get(r);
                    // Only leaves keep their bodies (non-leaf ones are pruned).
                    let status = match node {
                        Some(n) if n.deleted => "deleted",
                        Some(_) if leaves.contains(r) => "available",
                        _ => "missing",
                    };
                    json!({"rev": r.to_string(), "status": status})
                })
                .collect();
            body.insert("_revs_info".into(), json!(info));
        }
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nuage_core::revs::RevNode;

    fn tree() -> (RevTree, Rev) {
        let (one, two) = (Rev::new(1, "aa"), Rev::new(2, "bb"));
        let tree = RevTree::from_nodes([
            RevNode {
                rev: one.clone(),
                parent: None,
                deleted: false,
            },
            RevNode {
                rev: two.clone(),
                parent: Some(one),
                deleted: false,
            },
        ]);
        (tree, two)
    }

    /// What `document` renders, for the same stored body.
    async fn rendered(id: &str, rev: &Rev, deleted: bool, stored: &str, meta: &Meta) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let (tree, _) = tree();
        let body = parse_body(stored);
        document(
            &blobs,
            &InstanceId::new("i"),
            id,
            rev,
            deleted,
            body,
            Some(&tree),
            meta,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_spliced_document_is_the_rendered_one() {
        let (tree, rev) = tree();
        let revs = Meta {
            revs: true,
            ..Meta::default()
        };
        for (id, stored, deleted, meta) in [
            (
                "a",
                r#"{"n":1,"t":"x \"q\" é","o":{"_attachments":1}}"#,
                false,
                &Meta::default(),
            ),
            ("a", r#"{"n":1,"tags":["b"]}"#, false, &revs),
            ("we\"ird\u{1}", "{}", true, &revs),
            ("d", " { } ", false, &Meta::default()),
        ] {
            let spliced = spliced(id, &rev, deleted, stored, &tree, meta);
            // A nested `_attachments` member sends it the slow way.
            if stored.contains("_attachments") {
                assert!(spliced.is_none());
                continue;
            }
            let spliced: Value = serde_json::from_str(spliced.unwrap().get()).unwrap();
            assert_eq!(spliced, rendered(id, &rev, deleted, stored, meta).await);
        }
    }

    #[test]
    fn what_needs_rendering_is_not_spliced() {
        let (tree, rev) = tree();
        let stub = r#"{"_attachments":{"a.txt":{"stub":true,"digest":"md5-x","length":1}}}"#;
        assert!(spliced("a", &rev, false, stub, &tree, &Meta::default()).is_none());
        for meta in [
            Meta {
                conflicts: true,
                ..Meta::default()
            },
            Meta {
                revs_info: true,
                ..Meta::default()
            },
        ] {
            assert!(spliced("a", &rev, false, "{}", &tree, &meta).is_none());
        }
        // A stored body that is not an object is rendered (and logged).
        for corrupt in ["[1]", "{\"a\":", "{\"a\":1}}"] {
            assert!(spliced("a", &rev, false, corrupt, &tree, &Meta::default()).is_none());
        }
    }
}
