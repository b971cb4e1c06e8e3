//! Mango: `_index` (create, list, delete), `_find` and `_explain`.
//!
//! Indexes live where CouchDB keeps them, in design documents with
//! `"language": "query"`, so they replicate with the data; the store derives
//! from them the index entries it maintains (nuage-store `docs/indexes.rs`),
//! in shared tables, without DDL. A query reads only the key ranges its
//! selector needs (nuage-mango `index_ranges`), page by page in index order,
//! applies the exact selector to each document and stops once it has its
//! page: the work follows the rows returned, not the doctype's size. Until
//! a new index is built, the query scans (correct, slower), and says so in
//! `_explain`.
//!
//! Every `_find` is bounded twice: by the rows it reads that the caller may
//! read ([`MAX_FIND_EXAMINED`]), and by time (`Docs::find_budget`), checked
//! at every row read, readable or not. The first bound never depends on
//! documents outside a limited permission; the second bounds what such a
//! caller makes the server read past them.

use crate::Db;
use crate::attachments::BLOB_KEY;
use crate::error::{DocError, DocResult};
use crate::render::parse_body;
use nuage_core::Verb;
use nuage_mango::{
    Bookmark, Direction, FindRequest, IndexChoice, IndexDefinition, KeyRange, NO_BOOKMARK,
    QueryPlan, all_docs_index_json, choose_index, encode_key, find_in_memory, index_ranges,
    project, query_indexes,
};
use nuage_store::{AllDocsQuery, DocHead, IndexScan, MAX_STORED_KEY_BYTES, stored_key};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::time::{Duration, Instant};

/// Rows read per page of a scan, at first and at most.
const FIRST_PAGE: usize = 25;
const MAX_PAGE: usize = 1000;
/// Rows (documents or index entries) one `_find` reads at most: a query
/// its index does not answer is refused past this, not left to scan a
/// whole doctype with a selector of a thousand nodes.
pub const MAX_FIND_EXAMINED: usize = 10_000;
/// Documents a POST `_index` indexes before answering; a bigger doctype's
/// index is built in the background.
const INLINE_BUILD_DOCS: i64 = 5000;

/// How a query reads its rows.
enum Source<'i> {
    /// `_all_docs` in raw id order.
    AllDocs,
    /// A built json index: these key ranges, in order.
    Index(&'i IndexDefinition, Vec<KeyRange>),
    /// A json index still being built: every document, then sorted in
    /// memory as the index would have them.
    Building(&'i IndexDefinition, u8),
}

/// What a scan found.
struct Found {
    docs: Vec<Value>,
    last: Option<(Vec<Value>, String)>,
    keys_examined: usize,
    docs_examined: usize,
    /// Rows read that the caller may read, against [`MAX_FIND_EXAMINED`].
    /// Rows it may not read are not counted: the refusal must not depend
    /// on documents outside its permission, or its arrival would tell
    /// that they exist. What a limited caller makes the server read past
    /// them is bounded by the query's time budget instead.
    read: usize,
    /// When the query's time budget runs out.
    deadline: Instant,
    budget: Duration,
}

impl Found {
    fn new(budget: Duration) -> Found {
        Found {
            docs: Vec::new(),
            last: None,
            keys_examined: 0,
            docs_examined: 0,
            read: 0,
            deadline: Instant::now() + budget,
            budget,
        }
    }

    /// Refuses the query once its time budget is spent: called for every
    /// row read, before knowing whether the caller may read it.
    fn in_time(&self) -> DocResult<()> {
        if Instant::now() >= self.deadline {
            return Err(nuage_mango::MangoError::Timeout(self.budget.as_secs()).into());
        }
        Ok(())
    }

    fn read_one(&mut self) -> DocResult<()> {
        self.read += 1;
        if self.read > MAX_FIND_EXAMINED {
            return Err(nuage_mango::MangoError::TooManyExamined(MAX_FIND_EXAMINED).into());
        }
        Ok(())
    }
}

/// A stored document as `_find` shows it (blob keys are ours, not the
/// client's).
fn find_doc(h: &DocHead) -> Value {
    let mut body = parse_body(&h.body);
    if let Some(Value::Object(atts)) = body.get_mut("_attachments") {
        for meta in atts.values_mut() {
            if let Value::Object(m) = meta {
                m.remove(BLOB_KEY);
            }
        }
    }
    body.insert("_id".into(), json!(h.id));
    body.insert("_rev".into(), json!(h.rev.to_string()));
    Value::Object(body)
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
    pub async fn indexes(&self) -> DocResult<Vec<IndexDefinition>> {
        let q = AllDocsQuery {
            start: Some("_design/".into()),
            end: Some("_design0".into()),
            inclusive_end: false,
            ..Default::default()
        };
        let mut out = Vec::new();
        for head in self
            .docs
            .store
            .all_docs(self.inst, self.doctype, &q)
            .await?
        {
            let (found, skipped) = query_indexes(&head.id, &Value::Object(parse_body(&head.body)));
            for s in skipped {
                tracing::warn!(view = %s, "ignoring an unreadable query index");
            }
            out.extend(found);
        }
        out.sort_by(|a, b| {
            (a.ddoc.as_str(), a.name.as_str()).cmp(&(b.ddoc.as_str(), b.name.as_str()))
        });
        Ok(out)
    }

    /// Builds the doctype's new indexes now, up to a budget; what is left
    /// is the background builder's.
    async fn build_inline(&self) -> DocResult<()> {
        let mut budget = INLINE_BUILD_DOCS;
        while budget > 0 {
            let left = self
                .docs
                .store
                .build_step(self.inst, self.doctype, nuage_store::BUILD_STEP_DOCS)
                .await?;
            if left == 0 {
                break;
            }
            budget -= nuage_store::BUILD_STEP_DOCS;
        }
        Ok(())
    }

    /// `POST /_index`.
    pub async fn create_index(&self, body: Value) -> DocResult<Value> {
        // The index is maintained for every document of the doctype: it
        // needs the whole doctype (as writing its design document does).
        self.check_all(Verb::Post)?;
        let index = IndexDefinition::parse(&body)?;
        let existing = self.indexes().await?;
        if existing.iter().any(|i| {
            i.ddoc == index.ddoc && i.name == index.name && i.def_json() == index.def_json()
        }) {
            return Ok(json!({"result": "exists", "id": index.ddoc, "name": index.name}));
        }
        // Add the view to the design document (creating it if needed).
        let ddoc_id = index.ddoc.clone();
        let head = self
            .docs
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
            return Err(DocError::bad_request(format!(
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
        self.build_inline().await?;
        tracing::info!(instance = %self.inst, doctype = self.doctype, ddoc = %ddoc_id, name = %index.name, "Mango index created");
        Ok(json!({"result": "created", "id": ddoc_id, "name": index.name}))
    }

    /// An index as this caller may see it. A partial filter is a selector
    /// someone wrote about the doctype's documents (`{"owner": "bob"}`),
    /// kept in a design document, which only a caller reading the whole
    /// doctype may read: a limited reader sees the index's name and fields,
    /// enough to name it in `use_index`, and not its filter.
    fn index_json(&self, index: &IndexDefinition) -> Value {
        let mut json = index.to_json();
        if !self.sees_all(Verb::Get)
            && let Some(Value::Object(def)) = json.get_mut("def")
        {
            def.remove("partial_filter_selector");
        }
        json
    }

    /// `GET /_index`.
    pub async fn list_indexes(&self) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let mut list = vec![all_docs_index_json()];
        list.extend(self.indexes().await?.iter().map(|i| self.index_json(i)));
        Ok(json!({"total_rows": list.len(), "indexes": list}))
    }

    /// `DELETE /_index/{ddoc}/json/{name}`.
    pub async fn delete_index(&self, ddoc: &str, name: &str) -> DocResult<Value> {
        self.check_all(Verb::Delete)?;
        let ddoc_id = if ddoc.starts_with("_design/") {
            ddoc.to_owned()
        } else {
            format!("_design/{ddoc}")
        };
        let indexes = self.indexes().await?;
        if !indexes.iter().any(|i| i.ddoc == ddoc_id && i.name == name) {
            return Err(DocError::not_found("Index not found"));
        }
        let head = self
            .docs
            .store
            .doc_head(self.inst, self.doctype, &ddoc_id)
            .await?
            .filter(|h| !h.deleted)
            .ok_or_else(|| DocError::not_found("Index not found"))?;
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
        // The store drops the index's entries with the design document's
        // change, unless another design document defines the same index.
        Ok(json!({"ok": true}))
    }

    /// How `plan` reads its rows, given the state of the index builds.
    async fn source<'i>(
        &self,
        plan: &QueryPlan<'i>,
        request: &FindRequest,
    ) -> DocResult<Source<'i>> {
        let IndexChoice::Json(index) = plan.index else {
            return Ok(Source::AllDocs);
        };
        let builds = self
            .docs
            .store
            .index_builds(self.inst, self.doctype)
            .await?;
        Ok(match builds.get(&index.entries_id()) {
            Some(b) if b.ready() => Source::Index(index, index_ranges(&request.selector, index)),
            Some(b) => Source::Building(index, b.percent()),
            // Registered with the design document's write; missing only
            // for a moment, or if the definition could not be registered.
            None => Source::Building(index, 0),
        })
    }

    /// Reads rows in the plan's order and keeps the page: the bookmark's
    /// successors that the caller may read and the selector matches, after
    /// `skip`, up to `limit`. Stops as soon as the page is full.
    async fn scan(
        &self,
        request: &FindRequest,
        plan: &QueryPlan<'_>,
        source: &Source<'_>,
    ) -> DocResult<Found> {
        let limited = !self.sees_all(Verb::Get);
        let descending = plan.direction == Direction::Desc;
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let mut skip = usize::try_from(request.skip).unwrap_or(usize::MAX);
        let mut found = Found::new(self.docs.find_budget);
        if limit == 0 {
            return Ok(found);
        }
        let mut page = (skip.saturating_add(limit).saturating_add(1)).clamp(FIRST_PAGE, MAX_PAGE);
        // A row the caller may not read is passed over before anything
        // counts it: the stats of a limited caller are those of a doctype
        // holding only what it may read, or they would tell which values
        // documents outside its permission hold.
        let hidden = |id: &str, doc: &Value| -> bool {
            limited && self.check_doc(Verb::Get, id, Some(doc)).is_err()
        };
        // A bookmark whose key is longer than the index stores resumes in
        // the order the rows are read: by stored key, then id.
        let mark_stored: Option<Vec<u8>> = request.bookmark.as_ref().and_then(|b| {
            let key = encode_key(&b.key);
            (key.len() > MAX_STORED_KEY_BYTES).then(|| stored_key(&key).to_vec())
        });
        // Keeps a readable row (with its key as the index stores it, when
        // read from one) if it belongs to the page; true once the page is
        // full.
        let mut keep = |found: &mut Found,
                        key: Vec<Value>,
                        stored: Option<&[u8]>,
                        id: &str,
                        doc: Value|
         -> bool {
            found.docs_examined += 1;
            if let Some(mark) = &request.bookmark {
                let position = match (&mark_stored, stored) {
                    (Some(m), Some(s)) => (s, id).cmp(&(m.as_slice(), mark.id.as_str())),
                    _ => mark.compare_row(&key, id),
                };
                let after = match plan.direction {
                    Direction::Asc => position == Ordering::Greater,
                    Direction::Desc => position == Ordering::Less,
                };
                if !after {
                    return false;
                }
            }
            if !request.selector.matches(&doc) {
                return false;
            }
            if skip > 0 {
                skip -= 1;
                return false;
            }
            found.docs.push(match &request.fields {
                Some(fields) => project(&doc, fields),
                None => doc,
            });
            found.last = Some((key, id.to_owned()));
            found.docs.len() >= limit
        };
        match source {
            Source::AllDocs => {
                let mut start = request.bookmark.as_ref().map(|b| b.id.clone());
                loop {
                    let q = AllDocsQuery {
                        start: start.clone(),
                        descending,
                        limit: Some(page as i64),
                        ..Default::default()
                    };
                    let heads = self
                        .docs
                        .store
                        .all_docs(self.inst, self.doctype, &q)
                        .await?;
                    let full = heads.len() == page;
                    for h in &heads {
                        if start.as_deref() == Some(h.id.as_str()) || h.id.starts_with("_design/") {
                            continue;
                        }
                        found.in_time()?;
                        let doc = find_doc(h);
                        if hidden(&h.id, &doc) {
                            continue;
                        }
                        found.read_one()?;
                        if keep(&mut found, Vec::new(), None, &h.id, doc) {
                            return Ok(found);
                        }
                    }
                    match heads.last() {
                        Some(h) if full => start = Some(h.id.clone()),
                        _ => return Ok(found),
                    }
                    page = (page * 2).min(MAX_PAGE);
                }
            }
            Source::Index(index, ranges) => {
                let entries_id = index.entries_id();
                let resume = request
                    .bookmark
                    .as_ref()
                    .map(|b| (encode_key(&b.key), b.id.clone()));
                let ordered: Vec<&KeyRange> = if descending {
                    ranges.iter().rev().collect()
                } else {
                    ranges.iter().collect()
                };
                for range in ordered {
                    let mut after = resume.clone();
                    loop {
                        let scan = IndexScan {
                            entries_id: &entries_id,
                            start: &range.start,
                            end: range.end.as_deref(),
                            after: after.as_ref().map(|(k, id)| (k.as_slice(), id.as_str())),
                            descending,
                            limit: page as i64,
                        };
                        let rows = self
                            .docs
                            .store
                            .scan_index(self.inst, self.doctype, &scan)
                            .await?;
                        let full = rows.len() == page;
                        for row in &rows {
                            found.in_time()?;
                            let doc = find_doc(&row.head);
                            if hidden(&row.head.id, &doc) {
                                continue;
                            }
                            found.read_one()?;
                            found.keys_examined += 1;
                            let Some(key) = index.key_of(&doc) else {
                                continue;
                            };
                            if keep(&mut found, key, Some(&row.key), &row.head.id, doc) {
                                return Ok(found);
                            }
                        }
                        match rows.last() {
                            Some(r) if full => after = Some((r.key.clone(), r.head.id.clone())),
                            _ => break,
                        }
                        page = (page * 2).min(MAX_PAGE);
                    }
                }
                Ok(found)
            }
            Source::Building(..) => Ok(found),
        }
    }

    /// `POST /_find`.
    pub async fn find(&self, body: Value) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let started = Instant::now();
        let request = FindRequest::parse(&body)?;
        let indexes = self.indexes().await?;
        let plan = choose_index(&indexes, &request)?;
        let source = self.source(&plan, &request).await?;
        let (docs, bookmark, keys, examined) = match source {
            Source::Building(..) => {
                // The reference pipeline over the readable documents that
                // match, read a page at a time: memory follows the matches,
                // not the doctype.
                let limited = !self.sees_all(Verb::Get);
                let mut docs: Vec<Value> = Vec::new();
                let mut read = Found::new(self.docs.find_budget);
                let mut after: Option<String> = None;
                loop {
                    let q = AllDocsQuery {
                        after: after.clone(),
                        limit: Some(MAX_PAGE as i64),
                        ..Default::default()
                    };
                    let page = self
                        .docs
                        .store
                        .all_docs(self.inst, self.doctype, &q)
                        .await?;
                    for h in &page {
                        read.in_time()?;
                        let d = find_doc(h);
                        if limited && self.check_doc(Verb::Get, &h.id, Some(&d)).is_err() {
                            continue;
                        }
                        read.read_one()?;
                        if request.selector.matches(&d) {
                            docs.push(d);
                        }
                    }
                    match page.last() {
                        Some(h) if page.len() == MAX_PAGE => after = Some(h.id.clone()),
                        _ => break,
                    }
                }
                // Projected here, within the budget: a `fields` list is as
                // long as the caller makes it, and every document answered
                // goes through every one of its paths.
                let whole = FindRequest {
                    fields: None,
                    ..request.clone()
                };
                let result = find_in_memory(&docs, &indexes, &whole)?;
                let docs = match &request.fields {
                    Some(fields) => result
                        .docs
                        .iter()
                        .map(|d| read.in_time().map(|()| project(d, fields)))
                        .collect::<DocResult<Vec<_>>>()?,
                    None => result.docs,
                };
                (docs, result.bookmark, 0, read.read)
            }
            _ => {
                let found = self.scan(&request, &plan, &source).await?;
                let bookmark = match (found.last, &request.bookmark) {
                    (Some((key, id)), _) => Bookmark { key, id }.encode(),
                    (None, Some(given)) => given.encode(),
                    (None, None) => NO_BOOKMARK.to_owned(),
                };
                (
                    found.docs,
                    bookmark,
                    found.keys_examined,
                    found.docs_examined,
                )
            }
        };
        let returned = docs.len();
        let mut out = crate::render::object([
            ("docs", Value::Array(docs)),
            ("bookmark", Value::String(bookmark)),
        ]);
        if let Some(w) = &plan.warning {
            out["warning"] = json!(w);
        }
        if request.execution_stats {
            out["execution_stats"] = json!({
                "total_keys_examined": keys,
                "total_docs_examined": examined,
                "total_quorum_docs_examined": 0,
                "results_returned": returned,
                "execution_time_ms": started.elapsed().as_secs_f64() * 1000.0,
            });
        }
        Ok(out)
    }

    /// `POST /_explain`: the index chosen, the key ranges read, and the SQL
    /// with the engine's plan for it, so a person can see that the index
    /// is used (and whether it is still being built).
    pub async fn explain(&self, body: Value) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let request = FindRequest::parse(&body)?;
        let indexes = self.indexes().await?;
        let plan = choose_index(&indexes, &request)?;
        let source = self.source(&plan, &request).await?;
        // What the engine says of its plan (PostgreSQL's row estimates come
        // from statistics over every document, MCV lists and histograms of
        // the keys) and how far a build has gone (a share of the doctype's
        // documents) are counts of documents: only a caller reading the
        // whole doctype gets them.
        let limited = !self.sees_all(Verb::Get);
        let index_json = match plan.index {
            IndexChoice::Json(index) => self.index_json(index),
            IndexChoice::AllDocs => all_docs_index_json(),
        };
        let sql = match &source {
            Source::Index(index, ranges) => {
                let entries_id = index.entries_id();
                let (query, engine_plan) = match ranges.first() {
                    Some(first) => {
                        let scan = IndexScan {
                            entries_id: &entries_id,
                            start: &first.start,
                            end: first.end.as_deref(),
                            after: None,
                            descending: plan.direction == Direction::Desc,
                            limit: FIRST_PAGE as i64,
                        };
                        self.docs
                            .store
                            .explain_scan(self.inst, self.doctype, &scan)
                            .await?
                    }
                    None => (String::new(), Vec::new()),
                };
                let uses_index = engine_plan.iter().any(|l| {
                    l.contains("index_entries_pkey") || l.contains("sqlite_autoindex_index_entries")
                });
                let mut sql = json!({
                    "index": entries_id,
                    "state": "ready",
                    "ranges": ranges.len(),
                    "query": query,
                    "uses_index": uses_index || ranges.is_empty(),
                });
                if !limited {
                    sql["plan"] = json!(engine_plan);
                }
                sql
            }
            Source::Building(index, percent) => json!({
                "index": index.entries_id(),
                "state": if limited {
                    "building: the query reads every document until the index is built".to_owned()
                } else {
                    format!("building ({percent} %): the query reads every document until the index is built")
                },
                "uses_index": false,
            }),
            Source::AllDocs => {
                json!({"index": null, "state": "primary index", "uses_index": false})
            }
        };
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
            "sql": sql,
        }))
    }
}
