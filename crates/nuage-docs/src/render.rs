//! Documents as CouchDB returns them: the stored body with `_id`, `_rev`,
//! `_deleted` and whatever meta members were asked for.

use crate::attachments;
use crate::error::DocResult;
use nuage_blob::Blobs;
use nuage_core::InstanceId;
use nuage_core::revs::{Rev, RevTree};
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
