//! Which index answers a `_find` (docs.couchdb.org, "/{db}/_find" → "Index
//! selection"). The choice decides more than speed: rows come back in the
//! chosen index's order, and a json index only holds documents that have all
//! its fields, so a sorted query never returns a document lacking a sort
//! field.
//!
//! The rules, in CouchDB's order:
//! 1. Partial indexes are only candidates when `use_index` names them.
//! 2. A json index is usable when the selector guarantees all its fields
//!    exist (sort fields, `_id` and `_rev` need no guarantee), and the sort
//!    is a prefix of its fields, once leading fields pinned by `$eq` are
//!    skipped. `_all_docs` is usable with no sort or a sort on `_id` alone.
//! 3. A usable index named by `use_index` wins. If the named one is not
//!    usable, we fall back with a warning, or fail when `allow_fallback` is
//!    false.
//! 4. Otherwise the best usable json index: the longest prefix of fields the
//!    selector restricts to a range, then the fewest fields, then the first
//!    name in alphabetical order.
//! 5. Otherwise `_all_docs`, with CouchDB's warning — or `no_usable_index`
//!    when a sort needs an index that does not exist.

use crate::MangoError;
use crate::index::IndexDefinition;
use crate::path::FieldPath;
use crate::request::{FindRequest, UseIndex};
use crate::selector::Selector;
use crate::sort::{Direction, direction};

/// CouchDB's warning when no index fits (3.x wording).
pub const NO_INDEX_WARNING: &str =
    "No matching index found, create an index to optimize query time.";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IndexChoice<'a> {
    /// The primary index: every document, in raw `_id` order.
    AllDocs,
    Json(&'a IndexDefinition),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan<'a> {
    pub index: IndexChoice<'a>,
    /// The direction the index is read in: the sort's.
    pub direction: Direction,
    /// For the response's `warning` member.
    pub warning: Option<String>,
}

impl QueryPlan<'_> {
    /// The fields whose values form each row's key, in order (none for
    /// `_all_docs`, whose rows are keyed by `_id` alone).
    pub fn key_fields(&self) -> Vec<&FieldPath> {
        match self.index {
            IndexChoice::AllDocs => Vec::new(),
            IndexChoice::Json(index) => index.fields.iter().map(|f| &f.path).collect(),
        }
    }
}

/// Chooses the index for `request` among the database's json `indexes`.
pub fn choose_index<'a>(
    indexes: &'a [IndexDefinition],
    request: &FindRequest,
) -> Result<QueryPlan<'a>, MangoError> {
    let sort: Vec<&FieldPath> = request.sort.iter().map(|f| &f.path).collect();
    let plan = |index, warning| QueryPlan {
        index,
        direction: direction(&request.sort),
        warning,
    };
    let usable = |index: &&IndexDefinition| is_usable(index, &request.selector, &sort);

    let mut warning = None;
    if let Some(wanted) = &request.use_index {
        let named: Vec<&IndexDefinition> = indexes.iter().filter(|i| names(wanted, i)).collect();
        if let Some(best) = best(named.into_iter().filter(usable), &request.selector) {
            return Ok(plan(IndexChoice::Json(best), None));
        }
        if !request.allow_fallback {
            return Err(MangoError::NoUsableIndex(
                "The index specified with \"use_index\" is not usable for the query.",
            ));
        }
        warning = Some(format!(
            "{}{} was not used because it does not contain a valid index for this query.",
            wanted.ddoc,
            wanted
                .name
                .as_ref()
                .map(|n| format!(", {n}"))
                .unwrap_or_default()
        ));
    }

    let candidates = indexes.iter().filter(|i| !i.is_partial()).filter(usable);
    if let Some(best) = best(candidates, &request.selector) {
        return Ok(plan(IndexChoice::Json(best), warning));
    }
    let all_docs_usable = sort.is_empty() || (sort.len() == 1 && sort[0].is_id());
    if !all_docs_usable {
        return Err(MangoError::NoIndexForSort);
    }
    if !request.allow_fallback {
        return Err(MangoError::NoUsableIndex(
            "No index exists for this query and allow_fallback is false; create an index on the selector's fields.",
        ));
    }
    Ok(plan(
        IndexChoice::AllDocs,
        Some(warning.unwrap_or_else(|| NO_INDEX_WARNING.to_owned())),
    ))
}

fn names(wanted: &UseIndex, index: &IndexDefinition) -> bool {
    wanted.ddoc == index.ddoc && wanted.name.as_ref().is_none_or(|n| *n == index.name)
}

fn is_usable(index: &IndexDefinition, selector: &Selector, sort: &[&FieldPath]) -> bool {
    let columns: Vec<&FieldPath> = index.fields.iter().map(|f| &f.path).collect();
    let needed: Vec<&FieldPath> = columns
        .iter()
        .copied()
        .filter(|c| !sort.contains(c) && !c.is_id() && !is_rev(c))
        .collect();
    selector.requires_fields(&needed) && can_use_sort(&columns, sort, selector)
}

fn is_rev(path: &FieldPath) -> bool {
    matches!(path.segments(), [only] if only == "_rev")
}

/// The sort must be a prefix of the columns once leading columns pinned by an
/// `$eq` are dropped (such a column does not disturb the order).
fn can_use_sort(columns: &[&FieldPath], sort: &[&FieldPath], selector: &Selector) -> bool {
    if sort.is_empty() {
        return true;
    }
    let mut rest = columns;
    while let Some((first, tail)) = rest.split_first() {
        if *first == sort[0] {
            return rest.starts_with(sort);
        }
        if !selector.is_constant(first) {
            return false;
        }
        rest = tail;
    }
    false
}

fn best<'a>(
    usable: impl Iterator<Item = &'a IndexDefinition>,
    selector: &Selector,
) -> Option<&'a IndexDefinition> {
    let ranged = selector.indexable_fields();
    let prefix = |index: &IndexDefinition| {
        index
            .fields
            .iter()
            .take_while(|f| ranged.contains(&f.path))
            .count()
    };
    usable.min_by(|a, b| {
        prefix(b)
            .cmp(&prefix(a))
            .then_with(|| a.fields.len().cmp(&b.fields.len()))
            .then_with(|| a.name.cmp(&b.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn index(v: Value) -> IndexDefinition {
        IndexDefinition::parse(&v).unwrap()
    }

    fn indexes() -> Vec<IndexDefinition> {
        vec![
            index(
                json!({"index": {"fields": ["year", "name"]}, "ddoc": "by-year", "name": "year-name"}),
            ),
            index(json!({"index": {"fields": ["rating"]}, "ddoc": "by-rating", "name": "rating"})),
            index(
                json!({"index": {"fields": ["name"], "partial_filter_selector": {"status": "draft"}}, "ddoc": "drafts", "name": "draft-names"}),
            ),
        ]
    }

    fn choose(indexes: &[IndexDefinition], body: Value) -> Result<QueryPlan<'_>, MangoError> {
        choose_index(indexes, &FindRequest::parse(&body).unwrap())
    }

    fn chosen<'a>(plan: &QueryPlan<'a>) -> &'a str {
        match plan.index {
            IndexChoice::AllDocs => "_all_docs",
            IndexChoice::Json(i) => &i.name,
        }
    }

    #[test]
    fn an_index_serves_only_selectors_that_require_all_its_fields() {
        let idx = indexes();
        let p = choose(&idx, json!({"selector": {"year": {"$gt": 1990}}})).unwrap();
        assert_eq!(chosen(&p), "_all_docs");
        assert_eq!(p.warning.as_deref(), Some(NO_INDEX_WARNING));
        let p = choose(
            &idx,
            json!({"selector": {"year": {"$gt": 1990}, "name": {"$gt": null}}}),
        )
        .unwrap();
        assert_eq!(chosen(&p), "year-name");
        assert_eq!(p.warning, None);
        let p = choose(&idx, json!({"selector": {"rating": {"$exists": false}}})).unwrap();
        assert_eq!(chosen(&p), "_all_docs");
    }

    #[test]
    fn sort_fields_need_no_guarantee_but_need_an_index() {
        let idx = indexes();
        let p = choose(
            &idx,
            json!({"selector": {"year": {"$gt": 0}}, "sort": [{"year": "desc"}, {"name": "desc"}]}),
        )
        .unwrap();
        assert_eq!((chosen(&p), p.direction), ("year-name", Direction::Desc));
        // Every index field must be in the selector or the sort: `name` is
        // in neither, so the index cannot serve a sort on `year` alone.
        let err = choose(
            &idx,
            json!({"selector": {"year": {"$gt": 0}}, "sort": ["year"]}),
        )
        .unwrap_err();
        assert_eq!(err.error(), "no_usable_index");
        let p = choose(
            &idx,
            json!({"selector": {"year": {"$gt": 0}, "name": {"$gt": null}}, "sort": ["year"]}),
        )
        .unwrap();
        assert_eq!(chosen(&p), "year-name");
        let err = choose(
            &idx,
            json!({"selector": {"year": {"$gt": 0}}, "sort": ["name"]}),
        )
        .unwrap_err();
        assert_eq!(err.error(), "no_usable_index");
        let p = choose(&idx, json!({"selector": {}, "sort": [{"_id": "desc"}]})).unwrap();
        assert_eq!((chosen(&p), p.direction), ("_all_docs", Direction::Desc));
    }

    #[test]
    fn a_leading_equality_lets_a_later_column_sort() {
        let idx = indexes();
        let p = choose(&idx, json!({"selector": {"year": 1995}, "sort": ["name"]})).unwrap();
        assert_eq!(chosen(&p), "year-name");
    }

    #[test]
    fn partial_indexes_are_used_only_when_named() {
        let idx = indexes();
        let p = choose(&idx, json!({"selector": {"name": {"$gt": null}}})).unwrap();
        assert_eq!(chosen(&p), "_all_docs");
        let p = choose(
            &idx,
            json!({"selector": {"name": {"$gt": null}}, "use_index": ["drafts", "draft-names"]}),
        )
        .unwrap();
        assert_eq!(chosen(&p), "draft-names");
    }

    #[test]
    fn an_unusable_named_index_falls_back_with_a_warning_or_fails() {
        let idx = indexes();
        let p = choose(
            &idx,
            json!({"selector": {"rating": 8}, "use_index": "by-year"}),
        )
        .unwrap();
        assert_eq!(chosen(&p), "rating");
        assert!(p.warning.unwrap().contains("_design/by-year"));
        let err = choose(
            &idx,
            json!({"selector": {"rating": 8}, "use_index": "by-year", "allow_fallback": false}),
        )
        .unwrap_err();
        assert_eq!(err.error(), "no_usable_index");
    }

    #[test]
    fn the_best_index_restricts_most_then_has_fewest_fields_then_sorts_first() {
        let idx = vec![
            index(json!({"index": {"fields": ["a", "b"]}, "name": "ab"})),
            index(json!({"index": {"fields": ["b"]}, "name": "b"})),
            index(json!({"index": {"fields": ["a"]}, "name": "a2"})),
            index(json!({"index": {"fields": ["a"]}, "name": "a1"})),
        ];
        let p = choose(&idx, json!({"selector": {"a": 1, "b": {"$gt": 2}}})).unwrap();
        assert_eq!(chosen(&p), "ab");
        let p = choose(
            &idx,
            json!({"selector": {"a": {"$ne": 1}, "b": {"$gt": 2}}}),
        )
        .unwrap();
        assert_eq!(chosen(&p), "b");
        let p = choose(&idx, json!({"selector": {"a": 1, "b": {"$ne": 2}}})).unwrap();
        assert_eq!(chosen(&p), "a1");
    }
}
