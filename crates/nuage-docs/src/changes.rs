//! `_changes`: pages of the feed, filtered by the caller's permission and
//! the request's filter. The HTTP layer strings pages together into the
//! normal, longpoll, continuous or eventsource shapes, and waits on events
//! for the live ones; reading page by page keeps memory constant however
//! long the feed.
//!
//! Work is bounded by what the client reads, except for the changes a
//! page examines and leaves out (the caller's permission does not cover
//! them, or the request's filter drops them): a selector that matches
//! nothing would otherwise make one request read the whole doctype. So an
//! answer leaves out at most [`MAX_CHANGES_LEFT_OUT`] changes; the HTTP
//! layer then answers what it found, with `last_seq` at the last change
//! examined, from where the client goes on (as CouchDB clients do after a
//! longpoll's timeout), and a continuous feed goes on in steps of that
//! size, yielding between.

use crate::Db;
use crate::error::DocResult;
use crate::render::{self, Meta, parse_body};
use nuage_core::Verb;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    Normal,
    Longpoll,
    Continuous,
    EventSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    MainOnly,
    AllDocs,
}

/// Changes one answer may examine and leave out (see the module
/// documentation); a page asked for [`Page::left_out`] stays within what is
/// left of it by reading no more changes than that.
pub const MAX_CHANGES_LEFT_OUT: usize = 10_000;

/// A predicate over a document's winning body (a Mango selector).
pub type DocPredicate = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

#[derive(Clone)]
pub enum Filter {
    None,
    DocIds(HashSet<String>),
    Selector(DocPredicate),
}

#[derive(Clone)]
pub struct ChangesQuery {
    pub since: i64,
    pub limit: Option<u64>,
    pub include_docs: bool,
    pub style: Style,
    pub filter: Filter,
    pub feed: Feed,
    pub heartbeat_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub descending: bool,
    pub meta: Meta,
}

impl Default for ChangesQuery {
    fn default() -> Self {
        ChangesQuery {
            since: 0,
            limit: None,
            include_docs: false,
            style: Style::MainOnly,
            filter: Filter::None,
            feed: Feed::Normal,
            heartbeat_ms: None,
            timeout_ms: None,
            descending: false,
            meta: Meta::default(),
        }
    }
}

/// One page of the feed.
pub struct Page {
    pub rows: Vec<Value>,
    /// The sequence of each row.
    pub seqs: Vec<i64>,
    /// The sequence of the last change examined (kept or filtered out).
    pub last_seq: i64,
    /// True when the feed had fewer changes than asked for.
    pub exhausted: bool,
    /// Changes examined and not kept in `rows` (not the caller's to see,
    /// or not the filter's).
    pub left_out: usize,
}

impl Db<'_> {
    /// The doctype's current sequence (`since=now`).
    pub async fn update_seq(&self) -> DocResult<i64> {
        self.check_some(Verb::Get)?;
        Ok(self
            .docs
            .store
            .doctype_info(self.inst, self.doctype)
            .await?
            .map_or(0, |i| i.update_seq))
    }

    /// Up to `max` changes examined after `since`.
    pub async fn changes_page(&self, q: &ChangesQuery, since: i64, max: usize) -> DocResult<Page> {
        self.check_some(Verb::Get)?;
        let store = &self.docs.store;
        let limited = !self.sees_all(Verb::Get);
        let need_bodies = limited || q.include_docs || matches!(q.filter, Filter::Selector(_));
        let raw = store
            .changes(
                self.inst,
                self.doctype,
                since,
                max as i64,
                q.descending,
                need_bodies,
            )
            .await?;
        let exhausted = raw.len() < max;
        let examined = raw.len();
        let last_seq = raw.last().map_or(since, |c| c.seq);
        // First what the caller sees and the filter keeps; then the trees
        // of those only (a limited caller's come with their leaves' bodies,
        // which a hidden document must not cost).
        let mut kept = Vec::with_capacity(raw.len());
        for c in raw {
            if let Filter::DocIds(ids) = &q.filter
                && !ids.contains(&c.id)
            {
                continue;
            }
            let body = c.body.as_deref().map(parse_body);
            // A deletion is seen by whoever could read what it deleted.
            if limited
                && self
                    .check_doc(
                        Verb::Get,
                        &c.id,
                        c.judged_body()
                            .map(|b| Value::Object(parse_body(b)))
                            .as_ref(),
                    )
                    .is_err()
            {
                continue;
            }
            if let Filter::Selector(pred) = &q.filter {
                // Deleted documents never match a selector.
                let mut full = body.clone().map(Value::Object).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut full {
                    m.insert("_id".into(), json!(c.id));
                    m.insert("_rev".into(), json!(c.rev.to_string()));
                }
                if c.deleted || !pred(&full) {
                    continue;
                }
            }
            kept.push((c, body));
        }
        let need_trees = q.style == Style::AllDocs || (q.include_docs && q.meta.needs_tree());
        let trees = if need_trees && !kept.is_empty() {
            let ids: Vec<String> = kept.iter().map(|(c, _)| c.id.clone()).collect();
            self.known_trees(&ids).await?
        } else {
            Default::default()
        };
        let mut rows = Vec::with_capacity(kept.len());
        let mut rows_seq = Vec::with_capacity(kept.len());
        for (c, body) in kept {
            let changes: Vec<Value> = match (q.style, trees.get(&c.id)) {
                (Style::AllDocs, Some(t)) => t
                    .leaves()
                    .iter()
                    .map(|n| json!({"rev": n.rev.to_string()}))
                    .collect(),
                _ => vec![json!({"rev": c.rev.to_string()})],
            };
            let mut row = json!({"seq": c.seq, "id": c.id, "changes": changes});
            rows_seq.push(c.seq);
            if c.deleted {
                row["deleted"] = json!(true);
            }
            if q.include_docs {
                let doc = render::document(
                    &self.docs.blobs,
                    self.inst,
                    &c.id,
                    &c.rev,
                    c.deleted,
                    body.unwrap_or_default(),
                    trees.get(&c.id),
                    &q.meta,
                )
                .await?;
                row["doc"] = doc;
            }
            rows.push(row);
        }
        Ok(Page {
            left_out: examined - rows.len(),
            rows,
            seqs: rows_seq,
            last_seq,
            exhausted,
        })
    }

    /// How many changes come after `since`, for `pending`.
    pub async fn pending_after(&self, since: i64) -> DocResult<i64> {
        Ok(self
            .docs
            .store
            .count_changes_after(self.inst, self.doctype, since)
            .await?)
    }
}
