//! Mango indexes as CouchDB keeps them: views of design documents with
//! `"language": "query"`, each carrying its definition in `options.def`.
//! Reading them here, in one place, lets the store derive the index entries
//! it maintains from exactly the definitions `_find` chooses among.

use serde_json::{Value, json};

use crate::index::IndexDefinition;

/// The json indexes a design document defines, in view-name order; views
/// whose definition does not parse are skipped (a replicated design document
/// may come from a newer CouchDB), and reported in the second list.
pub fn query_indexes(ddoc_id: &str, body: &Value) -> (Vec<IndexDefinition>, Vec<String>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    if body.get("language").and_then(Value::as_str) != Some("query") {
        return (found, skipped);
    }
    let Some(Value::Object(views)) = body.get("views") else {
        return (found, skipped);
    };
    for (name, view) in views {
        let Some(def) = view.pointer("/options/def") else {
            continue;
        };
        match IndexDefinition::parse(
            &json!({"index": def, "ddoc": ddoc_id, "name": name, "type": "json"}),
        ) {
            Ok(index) => found.push(index),
            Err(e) => skipped.push(format!("{ddoc_id}/{name}: {}", e.reason())),
        }
    }
    (found, skipped)
}

impl IndexDefinition {
    /// The identity of the entries this index needs: its fields (without
    /// direction: a descending index reads the same keys backwards) and its
    /// partial filter. Two design documents defining the same index share
    /// one set of entries. Stable across processes and versions (FNV-1a).
    pub fn entries_id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes.iter().copied().chain(std::iter::once(0xff)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for field in &self.fields {
            for segment in field.path.segments() {
                feed(segment.as_bytes());
            }
            feed(b"");
        }
        if let Some(partial) = &self.partial_filter_json {
            feed(partial.to_string().as_bytes());
        }
        format!("j{h:016x}")
    }

    /// The key of `doc` in this index, or `None` when the index leaves the
    /// document out: a design document, a missing field, or a partial
    /// filter it fails (CouchDB's json index map function).
    pub fn key_of(&self, doc: &Value) -> Option<Vec<Value>> {
        let id = doc.get("_id").and_then(Value::as_str)?;
        if id.starts_with("_design/") {
            return None;
        }
        if let Some(partial) = &self.partial_filter_selector
            && !partial.matches(doc)
        {
            return None;
        }
        self.fields
            .iter()
            .map(|f| f.path.get(doc).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(def: Value) -> IndexDefinition {
        IndexDefinition::parse(&json!({"index": def})).expect("valid")
    }

    #[test]
    fn entries_ignore_direction_but_not_fields_or_filter() {
        let asc = index(json!({"fields": [{"a": "asc"}, {"b": "asc"}]}));
        let desc = index(json!({"fields": [{"a": "desc"}, {"b": "desc"}]}));
        let other = index(json!({"fields": ["a.b"]}));
        let ab = index(json!({"fields": ["a", "b"]}));
        let partial = index(json!({"fields": ["a", "b"], "partial_filter_selector": {"x": 1}}));
        assert_eq!(asc.entries_id(), desc.entries_id());
        assert_eq!(asc.entries_id(), ab.entries_id());
        assert_ne!(ab.entries_id(), other.entries_id());
        assert_ne!(ab.entries_id(), partial.entries_id());
    }

    #[test]
    fn keys_leave_out_what_couchdb_leaves_out() {
        let i = index(json!({"fields": ["a", "b"], "partial_filter_selector": {"x": {"$ne": 0}}}));
        let key = i.key_of(&json!({"_id": "d", "a": 1, "b": [2], "x": 1}));
        assert_eq!(key, Some(vec![json!(1), json!([2])]));
        assert_eq!(i.key_of(&json!({"_id": "d", "a": 1, "x": 1})), None);
        assert_eq!(i.key_of(&json!({"_id": "d", "a": 1, "b": 2, "x": 0})), None);
        assert_eq!(
            i.key_of(&json!({"_id": "_design/d", "a": 1, "b": 2, "x": 1})),
            None
        );
    }

    #[test]
    fn only_query_design_documents_define_indexes() {
        let body = json!({"language": "query", "views": {
            "by-a": {"map": {"fields": {"a": "asc"}}, "reduce": "_count", "options": {"def": {"fields": ["a"]}}},
            "broken": {"options": {"def": {"fields": []}}},
        }});
        let (found, skipped) = query_indexes("_design/x", &body);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].ddoc.as_str(), found[0].name.as_str()),
            ("_design/x", "by-a")
        );
        assert_eq!(skipped.len(), 1);
        let js = json!({"language": "javascript", "views": {"v": {"map": "function(d){}"}}});
        assert!(query_indexes("_design/y", &js).0.is_empty());
    }
}
