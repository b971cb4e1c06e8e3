//! SQL support for Mango `_find`: expression indexes on JSON fields and the
//! candidate query that uses them.
//!
//! The SQL only narrows: it returns a superset of the matching documents
//! (equality on indexed fields), and nuage-mango applies the exact selector,
//! collation, sort and paging in memory. So SQL's type rules never decide
//! an answer; they only decide how much is read.
//!
//! Each index is partial, for one instance and one doctype, with the
//! instance id and doctype written as literals: both engines' planners only
//! use a partial index when the query repeats its predicate literally. The
//! literals are safe by construction (hex ids, checked doctype names, field
//! names of `[A-Za-z0-9_]` only; values are always bound).

use super::read::DocHead;
use crate::{Engine, InstanceId, Result, Store, StoreError};
use nuage_core::scope::valid_doctype;
use serde_json::Value;
use sqlx::Row;

/// Equality of one JSON field (by path segments) with one scalar.
#[derive(Clone, Debug)]
pub struct FieldEq {
    pub path: Vec<String>,
    pub value: Value,
    /// `=` unless set: `>` or `>=` narrow a numeric range, on SQLite only.
    pub op: FieldOp,
}

/// How a field is compared with its value in the candidate query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldOp {
    #[default]
    Eq,
    /// For a number: every value CouchDB collates after it is also greater
    /// in SQLite's ordering (numbers compare as numbers; text — strings,
    /// arrays, objects as JSON — sorts after every number; null never
    /// matches), so `>` keeps a superset. Not so on PostgreSQL, whose jsonb
    /// order puts strings before numbers: there it is skipped.
    Gt,
    Gte,
}

/// Can this path be written into SQL text?
pub fn sql_safe_path(path: &[String]) -> bool {
    !path.is_empty()
        && path.len() <= 8
        // `_id` and `_rev` are not in the stored body; an all-digit segment
        // is an array position to Mango but an object key to a JSON path.
        && !path[0].starts_with('_')
        && path.iter().all(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !s.bytes().all(|b| b.is_ascii_digit())
        })
}

fn check_literals(inst: &InstanceId, doctype: &str) -> Result<()> {
    let id_ok =
        !inst.as_str().is_empty() && inst.as_str().bytes().all(|b| b.is_ascii_alphanumeric());
    if id_ok && valid_doctype(doctype) && !doctype.contains('*') {
        Ok(())
    } else {
        Err(StoreError::Db(sqlx::Error::Protocol(format!(
            "refusing to inline {inst}/{doctype} into SQL"
        ))))
    }
}

impl Engine {
    /// The SQL expression reading a JSON field of `docs.body`.
    fn json_field(self, path: &[String]) -> String {
        match self {
            Engine::Sqlite => format!("json_extract(body, '$.{}')", path.join(".")),
            Engine::Postgres => format!("((body::jsonb) #> '{{{}}}')", path.join(",")),
        }
    }
}

impl Store {
    /// The name of the SQL index for these fields of this doctype.
    pub fn mango_index_name(inst: &InstanceId, doctype: &str, fields: &[Vec<String>]) -> String {
        // A stable hash (FNV-1a): the name must be the same in every process.
        let mut h: u64 = 0xcbf29ce484222325;
        let mut feed = |s: &str| {
            for b in s.bytes().chain(std::iter::once(0)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100000001b3);
            }
        };
        feed(inst.as_str());
        feed(doctype);
        for f in fields {
            feed(&f.join("."));
        }
        format!("mango_{h:016x}")
    }

    /// Creates the SQL index for these fields if it does not exist; fields
    /// that can't be written in SQL make no index (`None`).
    pub async fn ensure_mango_index(
        &self,
        inst: &InstanceId,
        doctype: &str,
        fields: &[Vec<String>],
    ) -> Result<Option<String>> {
        if fields.is_empty() || !fields.iter().all(|f| sql_safe_path(f)) {
            return Ok(None);
        }
        check_literals(inst, doctype)?;
        let name = Self::mango_index_name(inst, doctype, fields);
        let cols: Vec<String> = fields.iter().map(|f| self.engine().json_field(f)).collect();
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {name} ON docs ({}) WHERE instance_id = '{}' AND doctype = '{doctype}' AND deleted = 0",
            cols.join(", "),
            inst.as_str()
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(self.pool())
            .await?;
        Ok(Some(name))
    }

    pub async fn drop_mango_index(&self, name: &str) -> Result<()> {
        if !name.starts_with("mango_")
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Ok(());
        }
        sqlx::query(sql!("DROP INDEX IF EXISTS {name}"))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    fn candidates_sql(
        &self,
        inst: &InstanceId,
        doctype: &str,
        eqs: &[FieldEq],
        index: Option<&str>,
    ) -> Result<(String, Vec<Value>)> {
        check_literals(inst, doctype)?;
        let mut binds = Vec::new();
        let mut conds = String::new();
        for eq in eqs.iter().filter(|e| sql_safe_path(&e.path)) {
            let op = match (eq.op, self.engine()) {
                (FieldOp::Eq, _) => "=",
                (FieldOp::Gt, Engine::Sqlite) if eq.value.is_number() => ">",
                (FieldOp::Gte, Engine::Sqlite) if eq.value.is_number() => ">=",
                // Dropping a condition only widens the candidates.
                _ => continue,
            };
            let placeholder = format!("${}", binds.len() + 1);
            let rhs = match self.engine() {
                Engine::Sqlite => placeholder,
                Engine::Postgres => format!("CAST({placeholder} AS jsonb)"),
            };
            conds.push_str(&format!(
                " AND {} {op} {rhs}",
                self.engine().json_field(&eq.path)
            ));
            binds.push(eq.value.clone());
        }
        // Without statistics SQLite may prefer the sequence index (it
        // starts with instance and doctype too) for a range: name the Mango
        // index when the query narrows on it. Names are `mango_` + hex.
        let hint = match (self.engine(), index) {
            (Engine::Sqlite, Some(name))
                if !binds.is_empty()
                    && name.starts_with("mango_")
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                format!(" INDEXED BY {name}")
            }
            _ => String::new(),
        };
        let sql = format!(
            "SELECT id, rev, deleted, seq, body FROM docs{hint} WHERE instance_id = '{}' AND doctype = '{doctype}' AND deleted = 0{conds}",
            inst.as_str()
        );
        Ok((sql, binds))
    }

    fn bind_all<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        binds: &'q [Value],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for v in binds {
            q = match (self.engine(), v) {
                (Engine::Postgres, other) => q.bind(other.to_string()),
                (Engine::Sqlite, Value::String(s)) => q.bind(s.as_str()),
                (Engine::Sqlite, Value::Bool(b)) => q.bind(i64::from(*b)),
                (Engine::Sqlite, Value::Number(n)) => match n.as_i64() {
                    Some(i) => q.bind(i),
                    None => q.bind(n.as_f64().unwrap_or(f64::NAN)),
                },
                (Engine::Sqlite, other) => q.bind(other.to_string()),
            };
        }
        q
    }

    /// Live documents that may match: those whose fields equal `eqs`.
    pub async fn find_candidates(
        &self,
        inst: &InstanceId,
        doctype: &str,
        eqs: &[FieldEq],
        index: Option<&str>,
    ) -> Result<Vec<DocHead>> {
        let (sql, binds) = self.candidates_sql(inst, doctype, eqs, index)?;
        let q = self.bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds);
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(super::read::head_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The candidate query and the engine's plan for it, for `_explain`.
    pub async fn explain_candidates(
        &self,
        inst: &InstanceId,
        doctype: &str,
        eqs: &[FieldEq],
        index: Option<&str>,
    ) -> Result<(String, Vec<String>)> {
        let (sql, binds) = self.candidates_sql(inst, doctype, eqs, index)?;
        let explain = match self.engine() {
            Engine::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Engine::Postgres => format!("EXPLAIN {sql}"),
        };
        let q = self.bind_all(sqlx::query(sqlx::AssertSqlSafe(explain)), &binds);
        let rows = q.fetch_all(self.pool()).await?;
        let plan = rows
            .iter()
            .map(|r| match self.engine() {
                Engine::Sqlite => r.try_get::<String, _>("detail"),
                Engine::Postgres => r.try_get::<String, _>(0),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((sql, plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_field_names_reach_sql() {
        assert!(sql_safe_path(&["a".into(), "b_2".into()]));
        assert!(!sql_safe_path(&["a'b".into()]));
        assert!(!sql_safe_path(&["a.b".into()]));
        assert!(!sql_safe_path(&[]));
        assert!(!sql_safe_path(&["_id".into()]), "not in the body");
        assert!(
            !sql_safe_path(&["tags".into(), "0".into()]),
            "an array position"
        );
    }

    #[test]
    fn index_names_are_stable() {
        let i = InstanceId::new("abc");
        let a = Store::mango_index_name(&i, "x.y", &[vec!["a".into()]]);
        assert_eq!(a, Store::mango_index_name(&i, "x.y", &[vec!["a".into()]]));
        assert_ne!(a, Store::mango_index_name(&i, "x.z", &[vec!["a".into()]]));
        assert!(a.starts_with("mango_") && a.len() == 22);
    }
}
