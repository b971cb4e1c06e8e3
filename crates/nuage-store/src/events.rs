//! Document events: every committed write, in commit order.
//!
//! On SQLite the writer publishes after commit, under the write lock. On
//! PostgreSQL the write transaction calls `pg_notify`, which PostgreSQL
//! delivers at commit, in commit order, to every process listening; a
//! listener task republishes them here. So subscribers of a process on
//! PostgreSQL see the writes of every process, their own included, once.

use crate::{Engine, InstanceId, Store};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

/// The channel PostgreSQL notifications travel on.
pub(crate) const PG_CHANNEL: &str = "nuage_docs";

/// How many events a slow subscriber may fall behind before it is told it
/// lagged (it then resynchronises from the changes feed).
const CAPACITY: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocEvent {
    #[serde(rename = "i")]
    pub instance: String,
    #[serde(rename = "t")]
    pub doctype: String,
    #[serde(rename = "d")]
    pub id: String,
    #[serde(rename = "r")]
    pub rev: String,
    #[serde(rename = "s")]
    pub seq: i64,
    #[serde(rename = "x")]
    pub deleted: bool,
    /// The winner existed before this write (UPDATED rather than CREATED).
    #[serde(rename = "u")]
    pub existed: bool,
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<DocEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DocEvent>> {
        self.tx.subscribe()
    }

    pub(crate) fn publish(&self, e: DocEvent) {
        // No subscriber is not an error.
        let _ = self.tx.send(Arc::new(e));
    }
}

/// PostgreSQL notification payloads must stay under 8,000 bytes: events are
/// sent as JSON arrays of at most this many bytes each.
const PG_PAYLOAD_BYTES: usize = 7000;

/// Groups events into notification payloads (JSON arrays), in order.
pub(crate) fn pg_payloads(events: &[DocEvent]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut size = 2;
    for e in events {
        let one = serde_json::to_string(e).unwrap_or_default();
        if !cur.is_empty() && size + one.len() + 1 > PG_PAYLOAD_BYTES {
            out.push(format!("[{}]", cur.join(",")));
            cur.clear();
            size = 2;
        }
        size += one.len() + 1;
        cur.push(one);
    }
    if !cur.is_empty() {
        out.push(format!("[{}]", cur.join(",")));
    }
    out
}

impl DocEvent {
    pub fn instance_id(&self) -> InstanceId {
        InstanceId::new(self.instance.clone())
    }
}

impl Store {
    /// On PostgreSQL, starts listening for notifications from every server
    /// process and republishing them here; returns once the first LISTEN is
    /// in place (or failed, logged), so a server announced as ready misses
    /// nothing. Reconnects after a lost connection. Does nothing on SQLite,
    /// where all writers are in this process.
    /// On PostgreSQL, starts the task that LISTENs for other processes'
    /// writes (in place before this returns, so nothing committed after it
    /// is missed); `None` on SQLite, whose events never leave the process.
    pub async fn start_event_listener(&self) -> Option<crate::Task> {
        if self.engine != Engine::Postgres {
            return None;
        }
        let url = self.url.to_string();
        let bus = self.events.clone();
        let first = listen(&url).await;
        Some(crate::Task::spawn(
            "pg_event_listener",
            |mut stopping| async move {
                let mut next = first;
                loop {
                    if let Some(mut listener) = next.take() {
                        loop {
                            let received = tokio::select! {
                                r = listener.recv() => r,
                                _ = stopping.changed() => return,
                            };
                            match received {
                                Ok(n) => match serde_json::from_str::<Vec<DocEvent>>(n.payload()) {
                                    Ok(list) => list.into_iter().for_each(|e| bus.publish(e)),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "bad document event payload")
                                    }
                                },
                                Err(e) => {
                                    tracing::warn!(error = %e, "document event listener lost its connection; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                    if crate::sleep_or_stop(&mut stopping, std::time::Duration::from_secs(1)).await
                    {
                        return;
                    }
                    next = listen(&url).await;
                }
            },
        ))
    }
}

async fn listen(url: &str) -> Option<sqlx::postgres::PgListener> {
    match sqlx::postgres::PgListener::connect(url).await {
        Ok(mut l) => match l.listen(PG_CHANNEL).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for document events; retrying");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot connect the document event listener; retrying");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_small_and_keep_order() {
        let events: Vec<DocEvent> = (0..500)
            .map(|i| DocEvent {
                instance: "i".into(),
                doctype: "com.example.notes".into(),
                id: format!("doc-{i:05}"),
                rev: "1-0123456789abcdef0123456789abcdef".into(),
                seq: i,
                deleted: false,
                existed: false,
            })
            .collect();
        let payloads = pg_payloads(&events);
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < 8000, "{}", p.len());
            back.extend(serde_json::from_str::<Vec<DocEvent>>(p).unwrap());
        }
        assert_eq!(back, events);
    }
}
