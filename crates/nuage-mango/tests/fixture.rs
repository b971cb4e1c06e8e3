//! Golden fixtures: every `tests/data/*.json` is a database (indexes and
//! documents) with `_find` queries and their answers, run here through
//! `find_in_memory`. The same files are meant to be replayed over HTTP
//! against the server, so their answers are CouchDB's; see each file's
//! `about` for the format.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use nuage_mango::{FindRequest, IndexDefinition, MangoError, find_in_memory};
use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixture in {}", dir.display());
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable fixture");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn list<'a>(fixture: &'a Value, key: &str) -> &'a [Value] {
    fixture[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn ids(docs: &[Value]) -> Vec<Value> {
    docs.iter().map(|d| d["_id"].clone()).collect()
}

/// Runs one query, with the bookmark of an earlier one when asked.
fn run(
    query: &Value,
    docs: &[Value],
    indexes: &[IndexDefinition],
    bookmarks: &HashMap<String, String>,
) -> Result<nuage_mango::FindResult, MangoError> {
    let mut request = query["request"].clone();
    if let Some(from) = query["bookmark_from"].as_str() {
        let bookmark = bookmarks
            .get(from)
            .unwrap_or_else(|| panic!("bookmark_from {from} names no earlier query"));
        request["bookmark"] = Value::from(bookmark.as_str());
    }
    find_in_memory(docs, indexes, &FindRequest::parse(&request)?)
}

#[test]
fn every_fixture_query_returns_what_couchdb_returns() {
    for path in fixtures() {
        let fixture = load(&path);
        let docs = list(&fixture, "docs");
        let indexes: Vec<IndexDefinition> = list(&fixture, "indexes")
            .iter()
            .map(|i| IndexDefinition::parse(i).unwrap_or_else(|e| panic!("index {i}: {e}")))
            .collect();
        let mut bookmarks = HashMap::new();
        let mut failures = Vec::new();
        for query in list(&fixture, "queries") {
            let name = query["name"].as_str().expect("every query has a name");
            let result = match run(query, docs, &indexes, &bookmarks) {
                Ok(result) => result,
                Err(e) => {
                    failures.push(format!("{name}: failed with {e:?}"));
                    continue;
                }
            };
            assert!(
                query.get("expected_ids").is_some() || query.get("expected_fields").is_some(),
                "{name} expects nothing"
            );
            if let Some(expected) = query.get("expected_ids") {
                let got = Value::Array(ids(&result.docs));
                if &got != expected {
                    failures.push(format!("{name}: ids {got}, expected {expected}"));
                }
            }
            if let Some(expected) = query.get("expected_fields") {
                let got = Value::Array(result.docs.clone());
                if &got != expected {
                    failures.push(format!("{name}: docs {got}, expected {expected}"));
                }
            }
            bookmarks.insert(name.to_owned(), result.bookmark);
        }
        assert!(
            failures.is_empty(),
            "{}:\n{}",
            path.display(),
            failures.join("\n")
        );
    }
}

#[test]
fn every_invalid_fixture_request_gets_couchdbs_error() {
    for path in fixtures() {
        let fixture = load(&path);
        let docs = list(&fixture, "docs");
        let indexes: Vec<IndexDefinition> = list(&fixture, "indexes")
            .iter()
            .map(|i| IndexDefinition::parse(i).expect("valid fixture index"))
            .collect();
        let mut failures = Vec::new();
        for case in list(&fixture, "invalid") {
            let outcome = FindRequest::parse(&case["request"])
                .and_then(|r| find_in_memory(docs, &indexes, &r));
            match outcome {
                Err(e) if e.error() == case["error"] && e.status() == 400 => {}
                other => failures.push(format!("{}: got {other:?}", case["request"])),
            }
        }
        for case in list(&fixture, "invalid_indexes") {
            match IndexDefinition::parse(&case["request"]) {
                Err(e) if e.error() == case["error"] && e.status() == 400 => {}
                other => failures.push(format!("index {}: got {other:?}", case["request"])),
            }
        }
        assert!(
            failures.is_empty(),
            "{}:\n{}",
            path.display(),
            failures.join("\n")
        );
    }
}

/// The fixture is only worth replaying if it exercises the whole language.
#[test]
fn the_fixtures_exercise_every_operator_and_option() {
    let mut seen = BTreeSet::new();
    fn walk(v: &Value, seen: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    seen.insert(k.clone());
                    walk(v, seen);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, seen)),
            _ => {}
        }
    }
    for path in fixtures() {
        let fixture = load(&path);
        for query in list(&fixture, "queries") {
            walk(&query["request"], &mut seen);
            if query.get("bookmark_from").is_some() {
                seen.insert("bookmark".into());
            }
        }
    }
    let wanted = [
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$exists",
        "$type",
        "$in",
        "$nin",
        "$size",
        "$mod",
        "$regex",
        "$beginsWith",
        "$and",
        "$or",
        "$nor",
        "$not",
        "$all",
        "$elemMatch",
        "$allMatch",
        "$keyMapMatch",
        "sort",
        "fields",
        "limit",
        "skip",
        "bookmark",
        "use_index",
    ];
    let missing: Vec<&str> = wanted.into_iter().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "no fixture query uses {missing:?}");
}
