//! Reading documents: the winner (one row), the revision tree, the bodies
//! of given revisions, ranges of ids.

use super::{placeholders, rev_node_from_row};
use crate::{InstanceId, Result, Store};
use nuage_core::revs::{Rev, RevNode, RevTree};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// Ids bound per query when reading many documents at once.
const CHUNK: usize = 400;

/// A document's winning revision, as the `docs` table holds it.
#[derive(Clone, Debug)]
pub struct DocHead {
    pub id: String,
    pub rev: Rev,
    pub deleted: bool,
    pub seq: i64,
    /// JSON object without `_id`, `_rev`, `_deleted`.
    pub body: String,
    /// For a deleted winner, what its last live revision held that a
    /// selector can match (migration 0007), if known. Read by `doc_head`
    /// and `doc_heads`; `None` from reads of live documents only.
    pub gone_fields: Option<String>,
}

impl DocHead {
    /// The body a permission judges this document by: the tombstone's
    /// own body is empty, so a deleted one is judged by the revision its
    /// deletion removed, when known.
    pub fn judged_body(&self) -> &str {
        judged_body(self.deleted, &self.body, self.gone_fields.as_deref())
    }
}

pub(crate) fn judged_body<'a>(deleted: bool, body: &'a str, gone: Option<&'a str>) -> &'a str {
    match gone {
        Some(g) if deleted => g,
        _ => body,
    }
}

/// A revision with its body, if it still has one (leaves do).
#[derive(Clone, Debug)]
pub struct RevRow {
    pub node: RevNode,
    pub body: Option<String>,
}

/// A range of `_all_docs` (ids compare by code point, CouchDB's raw order).
#[derive(Clone, Debug, Default)]
pub struct AllDocsQuery {
    pub start: Option<String>,
    pub end: Option<String>,
    pub inclusive_end: bool,
    pub descending: bool,
    pub limit: Option<i64>,
    pub skip: i64,
    /// A keyset cursor: only ids strictly after this one (before it when
    /// `descending`). Reading a range page by page this way costs the same
    /// per page however deep into the range it is, unlike a growing OFFSET.
    pub after: Option<String>,
    /// Reads the id and revision only, leaving `body` empty: listing ids
    /// need not carry every body out of the database.
    pub ids_only: bool,
}

pub(crate) fn head_from_row(r: &AnyRow) -> Result<DocHead, sqlx::Error> {
    let rev: String = r.try_get("rev")?;
    Ok(DocHead {
        id: r.try_get("id")?,
        rev: Rev::parse(&rev)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad stored rev {rev}").into()))?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
        seq: r.try_get("seq")?,
        body: r.try_get("body")?,
        // Reads of live winners (indexes, `_all_docs` ranges) leave the
        // column out.
        gone_fields: r.try_get("gone_fields").ok().flatten(),
    })
}

/// Can `id` be stored, and so found? No stored id holds U+0000: writes
/// refuse it, and PostgreSQL's text cannot hold it, failing any statement
/// that binds it. A lookup of such an id finds nothing, on both engines,
/// without asking the database.
pub(crate) fn storable(id: &str) -> bool {
    !id.contains('\0')
}

/// The ids of `ids` that may be stored ([`storable`]).
fn storable_ids(ids: &[String]) -> Vec<&String> {
    ids.iter().filter(|id| storable(id)).collect()
}

/// A comparison of ids with a bound that holds U+0000, as one that
/// PostgreSQL can run, with the same answer over NUL-free ids: such a bound
/// `p\0…` lies after `p` and before every other id that starts with `p`,
/// so `≥`/`>` it is `> p` and `≤`/`<` it is `≤ p`.
pub(crate) fn nul_free_bound<'b>(bound: &'b str, op: &'static str) -> (&'b str, &'static str) {
    match bound.find('\0') {
        None => (bound, op),
        Some(i) if op.starts_with('>') => (&bound[..i], ">"),
        Some(i) => (&bound[..i], "<="),
    }
}

impl Store {
    pub async fn doc_head(
        &self,
        inst: &InstanceId,
        doctype: &str,
        id: &str,
    ) -> Result<Option<DocHead>> {
        if !storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, rev, deleted, seq, body, gone_fields FROM docs WHERE instance_id = $1 AND doctype = $2 AND id = $3",
        )
        .bind(inst.as_str())
        .bind(doctype)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(head_from_row).transpose()?)
    }

    /// The winners of many documents; missing ids are absent from the map.
    pub async fn doc_heads(
        &self,
        inst: &InstanceId,
        doctype: &str,
        ids: &[String],
    ) -> Result<HashMap<String, DocHead>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in storable_ids(ids).chunks(CHUNK) {
            let mut q = sqlx::query(sql!(
                "SELECT id, rev, deleted, seq, body, gone_fields FROM docs WHERE instance_id = $1 AND doctype = $2 AND id IN ({})",
                placeholders(3, chunk.len())
            ))
            .bind(inst.as_str())
            .bind(doctype);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(self.pool()).await? {
                let h = head_from_row(&r)?;
                out.insert(h.id.clone(), h);
            }
        }
        Ok(out)
    }

    pub async fn rev_tree(&self, inst: &InstanceId, doctype: &str, id: &str) -> Result<RevTree> {
        Ok(self
            .rev_trees(inst, doctype, std::slice::from_ref(&id.to_owned()))
            .await?
            .remove(id)
            .unwrap_or_default())
    }

    /// The revision trees of many documents (empty trees are absent).
    pub async fn rev_trees(
        &self,
        inst: &InstanceId,
        doctype: &str,
        ids: &[String],
    ) -> Result<HashMap<String, RevTree>> {
        let mut conn = self.pool().acquire().await?;
        let trees = rev_trees_on(&mut conn, inst, doctype, ids).await?;
        conn.clean();
        Ok(trees)
    }

    /// The given revisions of one document, with their bodies where kept.
    pub async fn revs_with_bodies(
        &self,
        inst: &InstanceId,
        doctype: &str,
        id: &str,
        revs: &[Rev],
    ) -> Result<Vec<RevRow>> {
        let mut out = Vec::with_capacity(revs.len());
        if !storable(id) {
            return Ok(out);
        }
        for chunk in revs.chunks(CHUNK) {
            let mut q = sqlx::query(sql!(
                "SELECT rev, parent, deleted, body FROM revs WHERE instance_id = $1 AND doctype = $2 \
                 AND doc_id = $3 AND rev IN ({})",
                placeholders(4, chunk.len())
            ))
            .bind(inst.as_str())
            .bind(doctype)
            .bind(id);
            for r in chunk {
                q = q.bind(r.to_string());
            }
            for r in q.fetch_all(self.pool()).await? {
                out.push(RevRow {
                    node: rev_node_from_row(&r)?,
                    body: r.try_get("body")?,
                });
            }
        }
        Ok(out)
    }

    /// The revision trees of `ids` and the bodies their revisions keep
    /// (only leaves keep one), in one pass over their rows: what
    /// `_bulk_get` needs, for the price of one query per 500 documents (a
    /// plain `doc_id IN` that every planner serves from the primary key).
    pub async fn trees_with_bodies(
        &self,
        inst: &InstanceId,
        doctype: &str,
        ids: &[String],
    ) -> Result<(HashMap<String, RevTree>, HashMap<(String, Rev), String>)> {
        let mut nodes: HashMap<String, Vec<RevNode>> = HashMap::new();
        let mut bodies = HashMap::with_capacity(ids.len());
        for chunk in storable_ids(ids).chunks(CHUNK) {
            let mut q = sqlx::query(sql!(
                "SELECT doc_id, rev, parent, deleted, body FROM revs WHERE instance_id = $1 \
                 AND doctype = $2 AND doc_id IN ({})",
                placeholders(3, chunk.len())
            ))
            .bind(inst.as_str())
            .bind(doctype);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(self.pool()).await? {
                let doc_id: String = r.try_get("doc_id")?;
                let node = rev_node_from_row(&r)?;
                if let Some(body) = r.try_get::<Option<String>, _>("body")? {
                    bodies.insert((doc_id.clone(), node.rev.clone()), body);
                }
                nodes.entry(doc_id).or_default().push(node);
            }
        }
        let trees = nodes
            .into_iter()
            .map(|(k, v)| (k, RevTree::from_nodes(v)))
            .collect();
        Ok((trees, bodies))
    }

    /// Live documents in id order (`_all_docs`): at most `q.limit` of
    /// them, after passing over `q.skip` in the database.
    pub async fn all_docs(
        &self,
        inst: &InstanceId,
        doctype: &str,
        q: &AllDocsQuery,
    ) -> Result<Vec<DocHead>> {
        // Ascending: start ≤ id ≤ end; descending: end ≤ id ≤ start. The
        // end bound is exclusive when inclusive_end=false; the cursor is.
        let end_op = match (q.descending, q.inclusive_end) {
            (false, true) => "<=",
            (false, false) => "<",
            (true, true) => ">=",
            (true, false) => ">",
        };
        let (start_op, after_op) = if q.descending {
            ("<=", "<")
        } else {
            (">=", ">")
        };
        let mut conds = String::new();
        let mut binds: Vec<&str> = Vec::new();
        for (bound, op) in [
            (q.start.as_deref(), start_op),
            (q.end.as_deref(), end_op),
            (q.after.as_deref(), after_op),
        ] {
            if let Some(b) = bound {
                let (b, op) = nul_free_bound(b, op);
                binds.push(b);
                conds.push_str(&format!(" AND id {op} ${}", binds.len() + 2));
            }
        }
        let order = if q.descending { "DESC" } else { "ASC" };
        let limit = q.limit.unwrap_or(i64::MAX / 2).max(0);
        // `''` keeps the row shape `head_from_row` reads.
        let body = if q.ids_only { "'' AS body" } else { "body" };
        let mut query = sqlx::query(sql!(
            "SELECT id, rev, deleted, seq, {body} FROM docs WHERE instance_id = $1 AND doctype = $2 \
             AND deleted = 0{conds} ORDER BY id {order} LIMIT {limit} OFFSET {}",
            q.skip.max(0)
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(head_from_row).collect::<Result<_, _>>()?)
    }
}

/// Which of `ids` the doctype holds (live or deleted).
pub(crate) async fn held_ids_on(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    ids: &[String],
) -> Result<std::collections::HashSet<String>> {
    let mut held = std::collections::HashSet::new();
    for chunk in storable_ids(ids).chunks(CHUNK) {
        let mut q = sqlx::query_scalar::<_, String>(sql!(
            "SELECT id FROM docs WHERE instance_id = $1 AND doctype = $2 AND id IN ({})",
            placeholders(3, chunk.len())
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for id in chunk {
            q = q.bind(id);
        }
        held.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(held)
}

pub(crate) async fn rev_trees_on(
    conn: &mut sqlx::AnyConnection,
    inst: &InstanceId,
    doctype: &str,
    ids: &[String],
) -> Result<HashMap<String, RevTree>> {
    let mut nodes: HashMap<String, Vec<RevNode>> = HashMap::new();
    for chunk in storable_ids(ids).chunks(CHUNK) {
        let mut q = sqlx::query(sql!(
            "SELECT doc_id, rev, parent, deleted FROM revs WHERE instance_id = $1 AND doctype = $2 AND doc_id IN ({})",
            placeholders(3, chunk.len())
        ))
        .bind(inst.as_str())
        .bind(doctype);
        for id in chunk {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let doc_id: String = r.try_get("doc_id")?;
            nodes
                .entry(doc_id)
                .or_default()
                .push(rev_node_from_row(&r)?);
        }
    }
    Ok(nodes
        .into_iter()
        .map(|(k, v)| (k, RevTree::from_nodes(v)))
        .collect())
}
