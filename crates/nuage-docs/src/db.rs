//! The doctype as a database: info, create, revs limit (its deletion is
//! doctype_removal.rs).

use crate::Db;
use crate::error::{DocError, DocResult};
use nuage_core::Verb;
use serde_json::{Value, json};

impl Db<'_> {
    /// `GET /{doctype}/`. Every valid doctype answers, with zeros until a
    /// first document is written: apps need not create their doctypes.
    pub async fn info(&self) -> DocResult<Value> {
        self.check_some(Verb::Get)?;
        let info = self
            .docs
            .store
            .doctype_info(self.inst, self.doctype)
            .await?;
        let (seq, mut count, mut del) =
            info.map_or((0, 0, 0), |i| (i.update_seq, i.doc_count, i.doc_del_count));
        if !self.sees_all(Verb::Get) {
            // A permission limited to some documents must not learn how
            // many others exist. (The sequence stays: replication needs it,
            // and it only counts changes.)
            (count, del) = (0, 0);
        }
        Ok(json!({
            "db_name": self.doctype,
            "update_seq": seq,
            "doc_count": count,
            "doc_del_count": del,
            "purge_seq": 0,
            "compact_running": false,
            "disk_format_version": 8,
            "instance_start_time": "0",
            "sizes": {"active": 0, "external": 0, "file": 0},
            "props": {},
        }))
    }

    /// `PUT /{doctype}/`: 201, or 412 `file_exists` as CouchDB answers.
    pub async fn create(&self) -> DocResult<()> {
        self.check_some(Verb::Put)?;
        if self
            .docs
            .store
            .ensure_doctype(self.inst, self.doctype)
            .await?
        {
            Ok(())
        } else {
            Err(DocError::DoctypeExists)
        }
    }

    /// `GET /_revs_limit`: how many revisions of each branch are kept.
    pub async fn revs_limit(&self) -> DocResult<i64> {
        self.check_some(Verb::Get)?;
        let info = self
            .docs
            .store
            .doctype_info(self.inst, self.doctype)
            .await?;
        Ok(info.map_or(1000, |i| i.revs_limit))
    }

    /// `POST /_compact`: nothing to do (bodies of revisions that are no
    /// longer leaves are dropped as they are replaced), for a caller who
    /// may change the whole doctype, as CouchDB asks a database admin.
    pub async fn compact(&self) -> DocResult<()> {
        self.check_all(Verb::Put)
    }

    /// `PUT /_revs_limit`: needs the right to change the whole doctype.
    pub async fn set_revs_limit(&self, limit: i64) -> DocResult<()> {
        self.check_all(Verb::Put)?;
        // CouchDB takes any positive integer; a bound keeps every stored
        // branch, and every path taken from a client, bounded too.
        if !(1..=nuage_core::revs::MAX_REVS_LIMIT as i64).contains(&limit) {
            return Err(DocError::bad_request(format!(
                "Limit must be a positive integer of at most {}.",
                nuage_core::revs::MAX_REVS_LIMIT
            )));
        }
        self.docs
            .store
            .ensure_doctype(self.inst, self.doctype)
            .await?;
        self.docs
            .store
            .set_revs_limit(self.inst, self.doctype, limit)
            .await?;
        Ok(())
    }
}
