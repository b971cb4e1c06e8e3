//! Mango: `_index` (create, list, delete), `_find` and `_explain`.
//!
//! Indexes live where CouchDB keeps them, in design documents with
//! `"language": "query"`, so they replicate with the data; each also gets a
//! real SQL expression index (nuage-store `ensure_mango_index`). A query
//! reads the candidates the SQL index narrows to, and nuage-mango's
//! reference pipeline (`find_in_memory`) gives the exact CouchDB answer.

use crate::Db;
use crate::attachments::BLOB_KEY;
use crate::error::{CouchError, CouchResult};
use crate::render::parse_body;
use nuage_core::Verb;
use nuage_mango::{
    Condition, FindRequest, IndexChoice, IndexDefinition, MangoError, QueryPlan, Selector,
    all_docs_index_json, choose_index, find_in_memory,
};
use nuage_store::{AllDocsQuery, FieldEq, FieldOp};
use serde_json::{Map, Value, json};
use std::time::Instant;

impl From<MangoError> for CouchError {
    fn from(e: MangoError) -> Self {
        CouchError::new(e.status(), e.error(), e.reason())
    }
}

/// Conditions on the leading fields of the chosen index, from the top-level
/// conjunction of the selector: what SQL can narrow on without ever
/// excluding a match (scalar `$eq`, which Mango compares exactly, then a
/// numeric lower bound).
fn index_equalities(selector: &Selector, plan: &QueryPlan<'_>) -> Vec<FieldEq> {
    let IndexChoice::Json(index) = plan.index else {
        return Vec::new();
    };
    let top: Vec<&Selector> = match selector {
        Selector::And(all) => all.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for field in &index.fields {
        let eq = top.iter().find_map(|s| match s {
            Selector::Field {
                path,
                condition: Condition::Eq(v),
            } if *path == field.path && (v.is_string() || v.is_number() || v.is_boolean()) => {
                Some(v.clone())
            }
            _ => None,
        });
        match eq {
            Some(value) => out.push(FieldEq {
                path: field.path.segments().to_vec(),
                value,
                op: FieldOp::Eq,
            }),
            None => {
                // After the equalities, one lower bound on a number can
                // narrow a range (the store applies it where it keeps a
                // superset). Only a prefix of the index's columns helps.
                let range = top.iter().find_map(|s| match s {
                    Selector::Field {
                        path,
                        condition: Condition::Gt(v),
                    } if *path == field.path && v.is_number() => Some((FieldOp::Gt, v.clone())),
                    Selector::Field {
                        path,
                        condition: Condition::Gte(v),
                    } if *path == field.path && v.is_number() => Some((FieldOp::Gte, v.clone())),
                    _ => None,
                });
                if let Some((op, value)) = range {
                    out.push(FieldEq {
                        path: field.path.segments().to_vec(),
                        value,
                        op,
                    });
                }
                break;
            }
        }
    }
    out
}

fn segments(index: &IndexDefinition) -> Vec<Vec<String>> {
    index
        .fields
        .iter()
        .map(|f| f.path.segments().to_vec())
        .collect()
}

/// The design document's `views` entry for an index, in CouchDB's shape.
fn view_json(index: &IndexDefinition) -> Value {
    let def = index.def_json();
    let fields: Map<String, Value> = index
        .fields
        .iter()
        .map(|f| (f.path.to_string(), json!(f.direction.as_str())))
        .collect();
    let mut map = json!({"fields": fields});
    if let Some(p) = &index.partial_filter_json {
        map["partial_filter_selector"] = p.clone();
    }
    json!({"map": map, "reduce": "_count", "options": {"def": def}})
}

impl Db<'_> {
    /// The doctype's json indexes, read from its query design documents.
    pub async fn indexes(&self) -> CouchResult<Vec<IndexDefinition>> {
        let q = AllDocsQuery {
            start: Some("_design/".into()),
            end: Some("_design0".into()),
            inclusive_end: false,
            ..Default::default()
        };
        let mut out = Vec::new();
        for head in self
            .couch
            .store
            .all_docs(self.inst, self.doctype, &q)
            .await?
        {
            let body = parse_body(&head.body);
            if body.get("language").and_then(Value::as_str) != Some("query") {
                continue;
            }
            let Some(Value::Object(views)) = body.get("views") else {
                continue;
            };
            for (name, view) in views {
                let Some(def) = view.pointer("/options/def") else {
                    continue;
                };
                let parsed = IndexDefinition::parse(
                    &json!({"index": def, "ddoc": head.id, "name": name, "type": "json"}),
                );
                match parsed {
                    Ok(i) => out.push(i),
                    Err(e) => {
                        tracing::warn!(ddoc = %head.id, view = %name, error = %e.reason(), "ignoring an unreadable query index")
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            (a.ddoc.as_str(), a.name.as_str()).cmp(&(b.ddoc.as_str(), b.name.as_str()))
        });
        Ok(out)
    }

    /// `POST /_index`.
    pub async fn create_index(&self, body: Value) -> CouchResult<Value> {
        self.check_some(Verb::Post)?;
        let index = IndexDefinition::parse(&body)?;
        let existing = self.indexes().await?;
        if existing.iter().any(|i| {
            i.ddoc == index.ddoc && i.name == index.name && i.def_json() == index.def_json()
        }) {
            self.couch
                .store
                .ensure_mango_index(self.inst, self.doctype, &segments(&index))
                .await?;
            return Ok(json!({"result": "exists", "id": index.ddoc, "name": index.name}));
        }
        // Add the view to the design document (creating it if needed).
        let ddoc_id = index.ddoc.clone();
        let head = self
            .couch
            .store
            .doc_head(self.inst, self.doctype, &ddoc_id)
            .await?;
        let (mut ddoc, rev) = match head.filter(|h| !h.deleted) {
            Some(h) => (parse_body(&h.body), Some(h.rev)),
            None => (Map::new(), None),
        };
        if ddoc
            .get("language")
            .and_then(Value::as_str)
            .is_some_and(|l| l != "query")
        {
            return Err(CouchError::bad_request(format!(
                "{ddoc_id} is not a query design document; choose another ddoc"
            )));
        }
        ddoc.insert("language".into(), json!("query"));
        let views = ddoc.entry("views").or_insert_with(|| json!({}));
        if let Value::Object(v) = views {
            v.insert(index.name.clone(), view_json(&index));
        }
        if let Some(r) = rev {
            ddoc.insert("_rev".into(), json!(r.to_string()));
        }
        self.put(&ddoc_id, Value::Object(ddoc), None, true).await?;
        self.couch
            .store
            .ensure_mango_index(self.inst, self.doctype, &segments(&index))
            .await?;
        tracing::info!(instance = %self.inst, doctype = self.doctype, ddoc = %ddoc_id, name = %index.name, "Mango index created");
        Ok(json!({"result": "created", "id": ddoc_id, "name": index.name}))
    }

    /// `GET /_index`.
    pub async fn list_indexes(&self) -> CouchResult<Value> {
        self.check_some(Verb::Get)?;
        let mut list = vec![all_docs_index_json()];
        list.extend(self.indexes().await?.iter().map(IndexDefinition::to_json));
        Ok(json!({"total_rows": list.len(), "indexes": list}))
    }

    /// `DELETE /_index/{ddoc}/json/{name}`.
    pub async fn delete_index(&self, ddoc: &str, name: &str) -> CouchResult<Value> {
        self.check_some(Verb::Delete)?;
        let ddoc_id = if ddoc.starts_with("_design/") {
            ddoc.to_owned()
        } else {
            format!("_design/{ddoc}")
        };
        let indexes = self.indexes().await?;
        let Some(index) = indexes.iter().find(|i| i.ddoc == ddoc_id && i.name == name) else {
            return Err(CouchError::not_found("Index not found"));
        };
        let head = self
            .couch
            .store
            .doc_head(self.inst, self.doctype, &ddoc_id)
            .await?
            .filter(|h| !h.deleted)
            .ok_or_else(|| CouchError::not_found("Index not found"))?;
        let mut body = parse_body(&head.body);
        let remaining = match body.get_mut("views") {
            Some(Value::Object(v)) => {
                v.remove(name);
                v.len()
            }
            _ => 0,
        };
        if remaining == 0 {
            self.delete_doc(&ddoc_id, Some(head.rev)).await?;
        } else {
            body.insert("_rev".into(), json!(head.rev.to_string()));
            self.put(&ddoc_id, Value::Object(body), None, true).await?;
        }
        let fields = segments(index);
        if !indexes
            .iter()
            .any(|i| !(i.ddoc == ddoc_id && i.name == name) && segments(i) == fields)
        {
            let sql_name = nuage_store::Store::mango_index_name(self.inst, self.doctype, &fields);
            self.couch.store.drop_mango_index(&sql_name).await?;
        }
        Ok(json!({"ok": true}))
    }

    /// `POST /_find`.
    pub async fn find(&self, body: Value) -> CouchResult<Value> {
        self.check_some(Verb::Get)?;
        let started = Instant::now();
        let request = FindRequest::parse(&body)?;
        let indexes = self.indexes().await?;
        let plan = choose_index(&indexes, &request)?;
        let eqs = index_equalities(&request.selector, &plan);
        let sql_index = match plan.index {
            IndexChoice::Json(index) => {
                self.couch
                    .store
                    .ensure_mango_index(self.inst, self.doctype, &segments(index))
                    .await?
            }
            IndexChoice::AllDocs => None,
        };
        let candidates = self
            .couch
            .store
            .find_candidates(self.inst, self.doctype, &eqs, sql_index.as_deref())
            .await?;
        let examined = candidates.len();
        let limited = !self.sees_all(Verb::Get);
        let docs: Vec<Value> = candidates
            .into_iter()
            .filter_map(|h| {
                let mut body = parse_body(&h.body);
                if let Some(Value::Object(atts)) = body.get_mut("_attachments") {
                    for meta in atts.values_mut() {
                        if let Value::Object(m) = meta {
                            m.remove(BLOB_KEY);
                        }
                    }
                }
                let plain = Value::Object(body.clone());
                if limited && self.check_doc(Verb::Get, &h.id, Some(&plain)).is_err() {
                    return None;
                }
                body.insert("_id".into(), json!(h.id));
                body.insert("_rev".into(), json!(h.rev.to_string()));
                Some(Value::Object(body))
            })
            .collect();
        // A limited caller is told only about documents it may read.
        let examined = if limited { docs.len() } else { examined };
        let result = find_in_memory(&docs, &indexes, &request)?;
        let mut out = json!({"docs": result.docs, "bookmark": result.bookmark});
        if let Some(w) = result.warning {
            out["warning"] = json!(w);
        }
        if request.execution_stats {
            let returned = out["docs"].as_array().map_or(0, Vec::len);
            out["execution_stats"] = json!({
                "total_keys_examined": if eqs.is_empty() { 0 } else { examined },
                "total_docs_examined": examined,
                "total_quorum_docs_examined": 0,
                "results_returned": returned,
                "execution_time_ms": started.elapsed().as_secs_f64() * 1000.0,
            });
        }
        Ok(out)
    }

    /// `POST /_explain`: the index chosen, and the SQL with the engine's
    /// plan for it, so a person can see whether the index is used.
    pub async fn explain(&self, body: Value) -> CouchResult<Value> {
        self.check_some(Verb::Get)?;
        let request = FindRequest::parse(&body)?;
        let indexes = self.indexes().await?;
        let plan = choose_index(&indexes, &request)?;
        let eqs = index_equalities(&request.selector, &plan);
        let (index_json, sql_index) = match plan.index {
            IndexChoice::Json(index) => (
                index.to_json(),
                self.couch
                    .store
                    .ensure_mango_index(self.inst, self.doctype, &segments(index))
                    .await?,
            ),
            IndexChoice::AllDocs => (all_docs_index_json(), None),
        };
        let (sql, engine_plan) = self
            .couch
            .store
            .explain_candidates(self.inst, self.doctype, &eqs, sql_index.as_deref())
            .await?;
        let uses_index = sql_index
            .as_ref()
            .is_some_and(|n| engine_plan.iter().any(|line| line.contains(n.as_str())));
        let fields = match &request.fields {
            Some(f) => json!(f.iter().map(ToString::to_string).collect::<Vec<_>>()),
            None => json!("all_fields"),
        };
        Ok(json!({
            "dbname": self.doctype,
            "index": index_json,
            "partitioned": false,
            "selector": body.get("selector").cloned().unwrap_or(Value::Null),
            "opts": {
                "use_index": body.get("use_index").cloned().unwrap_or(json!([])),
                "bookmark": body.get("bookmark").cloned().unwrap_or(json!("nil")),
                "limit": request.limit,
                "skip": request.skip,
                "sort": body.get("sort").cloned().unwrap_or(json!({})),
                "fields": fields,
                "conflicts": request.conflicts,
                "r": [request.r],
            },
            "limit": request.limit,
            "skip": request.skip,
            "fields": fields,
            "warning": plan.warning,
            "sql": {"query": sql, "plan": engine_plan, "index": sql_index, "uses_index": uses_index},
        }))
    }
}
