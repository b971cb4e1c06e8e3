//! Permissions: `{doctype, verbs, values?, selector?}`, and the one check
//! function that sessions, OAuth tokens, app passwords, app tokens and share
//! links all go through.
//!
//! Must stay true: a permission never widens another. `check` answers yes
//! only if one single permission covers the whole request.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// An HTTP-style verb a permission may grant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 5] = [Verb::Get, Verb::Post, Verb::Put, Verb::Patch, Verb::Delete];

    fn bit(self) -> u8 {
        match self {
            Verb::Get => 1,
            Verb::Post => 2,
            Verb::Put => 4,
            Verb::Patch => 8,
            Verb::Delete => 16,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Verb> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "PUT" => Verb::Put,
            "PATCH" => Verb::Patch,
            "DELETE" => Verb::Delete,
            _ => return None,
        })
    }

    /// Maps an HTTP method to the verb a permission must grant. `HEAD`,
    /// `OPTIONS` and DAV's read methods count as reads; everything else
    /// that changes state is a write of some kind.
    pub fn from_method(method: &str) -> Verb {
        match method {
            "GET" | "HEAD" | "OPTIONS" | "PROPFIND" | "REPORT" => Verb::Get,
            "PUT" | "PROPPATCH" | "MOVE" | "COPY" | "LOCK" | "UNLOCK" => Verb::Put,
            "PATCH" => Verb::Patch,
            "DELETE" => Verb::Delete,
            _ => Verb::Post,
        }
    }
}

/// A set of verbs.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Verbs(u8);

impl Verbs {
    pub const ALL: Verbs = Verbs(31);

    pub fn empty() -> Self {
        Verbs(0)
    }
    pub fn with(mut self, v: Verb) -> Self {
        self.0 |= v.bit();
        self
    }
    pub fn contains(self, v: Verb) -> bool {
        self.0 & v.bit() != 0
    }
    pub fn is_all(self) -> bool {
        self == Verbs::ALL
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Verb> {
        Verb::ALL.into_iter().filter(move |v| self.contains(*v))
    }
}

impl fmt::Debug for Verbs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Verbs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("ALL");
        }
        let names: Vec<&str> = self.iter().map(Verb::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// One permission. `values` limits it to documents whose `selector` field
/// (`_id` when no selector is given) holds one of the values.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Permission {
    pub doctype: String,
    pub verbs: Verbs,
    pub values: Option<Vec<String>>,
    pub selector: Option<String>,
}

impl Permission {
    /// Does this permission's doctype cover `doctype`? `io.nuage.calendar.*`
    /// covers `io.nuage.calendar` and every doctype below it.
    pub fn covers_doctype(&self, doctype: &str) -> bool {
        match self.doctype.strip_suffix(".*") {
            Some(prefix) => {
                doctype == prefix
                    || (doctype.len() > prefix.len()
                        && doctype.starts_with(prefix)
                        && doctype.as_bytes()[prefix.len()] == b'.')
            }
            None => self.doctype == doctype,
        }
    }

    fn covers_target(&self, target: &Target<'_>) -> bool {
        let Some(values) = &self.values else {
            return true;
        };
        match target {
            // A limited permission never covers a whole collection.
            Target::Doctype => false,
            Target::Doc { id, body } => {
                let field = self.selector.as_deref().unwrap_or("_id");
                if field == "_id" {
                    return values.iter().any(|v| v == id);
                }
                let Some(body) = body else { return false };
                match body.pointer(&json_pointer(field)) {
                    Some(Value::String(s)) => values.iter().any(|v| v == s),
                    Some(other) => {
                        let text = other.to_string();
                        values.contains(&text)
                    }
                    None => false,
                }
            }
        }
    }
}

/// Scope values of at most this many bytes see deletions (see
/// [`deletion_projection`]).
pub const MAX_KEPT_VALUE_BYTES: usize = 256;

/// What a deletion keeps of the revision it deleted (its last live one),
/// so that a permission limited by a selector judges the tombstone as it
/// judged that revision: a reader who saw a document learns it was
/// deleted, and a writer who may change it may delete it.
///
/// Law: for every permission whose values are at most
/// [`MAX_KEPT_VALUE_BYTES`] long, a document is covered when judged by
/// `deletion_projection(body)` exactly when it is covered judged by `body`.
/// It holds because a scope value never contains whitespace, `,` or `:`
/// (the scope syntax splits on them): every string that could equal one is
/// kept, every other becomes `" "`, which equals none, and numbers,
/// booleans, null and the shape of objects and arrays are kept (an object
/// or array whose text a value could equal has only kept members). What a
/// deletion keeps is thus short single-word strings, numbers and the
/// document's shape — not its text, nor `_attachments`.
pub fn deletion_projection(body: &Value) -> Value {
    fn keep(v: &Value) -> Value {
        match v {
            Value::String(s)
                if s.len() <= MAX_KEPT_VALUE_BYTES
                    && !s.contains(|c: char| c == ',' || c == ':' || c.is_whitespace()) =>
            {
                v.clone()
            }
            Value::String(_) => Value::String(" ".into()),
            Value::Array(a) => Value::Array(a.iter().map(keep).collect()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), keep(v))).collect())
            }
            other => other.clone(),
        }
    }
    match body {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "_attachments")
                .map(|(k, v)| (k.clone(), keep(v)))
                .collect(),
        ),
        other => keep(other),
    }
}

fn json_pointer(dotted: &str) -> String {
    let mut p = String::with_capacity(dotted.len() + 1);
    for part in dotted.split('.') {
        p.push('/');
        p.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    p
}

/// What a request touches.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// The doctype as a whole (list, create, changes feed).
    Doctype,
    /// One document; `body` is needed only for selector-limited permissions.
    Doc {
        id: &'a str,
        body: Option<&'a Value>,
    },
}

/// The permissions a credential carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Permissions {
    /// The owner: everything on their own instance.
    Owner,
    /// A list; a request is allowed if one entry covers it.
    List(Vec<Permission>),
}

/// Who is making a request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// The owner, through a login session.
    Session { session_id: String },
    /// An OAuth client acting for the owner.
    OAuthClient { client_id: String },
    /// An app password (HTTP Basic).
    AppPassword { id: String },
    /// A short-lived token made on the command line.
    CliToken,
}

/// The result of authenticating a request: who, and what they may do.
#[derive(Clone, Debug)]
pub struct Access {
    pub subject: Subject,
    pub permissions: Permissions,
}

/// Why `check` said no; `needed` is written as a scope so the error message
/// can tell the caller exactly what to ask for.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error(
    "this credential may not {verb} {doctype}; ask for a token with the scope `{doctype}:{verb}`"
)]
pub struct Denied {
    pub doctype: String,
    pub verb: &'static str,
}

impl Access {
    /// The owner's access through `subject`: everything.
    pub fn owner(subject: Subject) -> Access {
        Access {
            subject,
            permissions: Permissions::Owner,
        }
    }

    pub fn is_owner(&self) -> bool {
        matches!(self.permissions, Permissions::Owner)
    }

    /// The one permission check. Every route that touches data calls it.
    pub fn check(&self, doctype: &str, verb: Verb, target: Target<'_>) -> Result<(), Denied> {
        let allowed = match &self.permissions {
            Permissions::Owner => true,
            Permissions::List(list) => list.iter().any(|p| {
                p.verbs.contains(verb) && p.covers_doctype(doctype) && p.covers_target(&target)
            }),
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied {
                doctype: doctype.to_owned(),
                verb: verb.as_str(),
            })
        }
    }

    /// Can the id alone already refuse `verb` on document `id`? True when
    /// every permission that could allow it lists ids and none lists this
    /// one. Checking this before looking a document up means a refusal
    /// never depends on whether the document exists.
    pub fn refused_by_id(&self, doctype: &str, verb: Verb, id: &str) -> bool {
        match &self.permissions {
            Permissions::Owner => false,
            Permissions::List(list) => list
                .iter()
                .filter(|p| p.verbs.contains(verb) && p.covers_doctype(doctype))
                .all(|p| {
                    let by_id = p.selector.as_deref().is_none_or(|s| s == "_id");
                    by_id
                        && p.values
                            .as_ref()
                            .is_some_and(|v| !v.iter().any(|x| x == id))
                }),
        }
    }

    /// May this credential do `verb` on at least some documents of `doctype`?
    /// Used to filter lists and feeds down to what a limited permission covers.
    pub fn may_some(&self, doctype: &str, verb: Verb) -> bool {
        match &self.permissions {
            Permissions::Owner => true,
            Permissions::List(list) => list
                .iter()
                .any(|p| p.verbs.contains(verb) && p.covers_doctype(doctype)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::parse_scope;
    use serde_json::json;

    fn access(scope: &str) -> Access {
        Access {
            subject: Subject::CliToken,
            permissions: Permissions::List(parse_scope(scope).unwrap()),
        }
    }

    #[test]
    fn a_read_only_contacts_token_reads_contacts_and_nothing_else() {
        let a = access("io.nuage.contacts:GET");
        assert!(
            a.check("io.nuage.contacts", Verb::Get, Target::Doctype)
                .is_ok()
        );
        let err = a
            .check("io.nuage.contacts", Verb::Put, Target::Doctype)
            .unwrap_err();
        assert!(err.to_string().contains("io.nuage.contacts:PUT"));
        assert!(
            a.check("io.nuage.files", Verb::Get, Target::Doctype)
                .is_err()
        );
        assert!(
            a.check("io.nuage.contacts.groups", Verb::Get, Target::Doctype)
                .is_err()
        );
    }

    #[test]
    fn a_wildcard_covers_the_doctype_and_its_children_only() {
        let a = access("io.nuage.calendar.*:ALL");
        for d in [
            "io.nuage.calendar",
            "io.nuage.calendar.events",
            "io.nuage.calendar.todos",
        ] {
            assert!(a.check(d, Verb::Delete, Target::Doctype).is_ok(), "{d}");
        }
        assert!(
            a.check("io.nuage.calendars", Verb::Get, Target::Doctype)
                .is_err()
        );
        assert!(a.check("io.nuage", Verb::Get, Target::Doctype).is_err());
    }

    #[test]
    fn values_limit_a_permission_to_some_documents() {
        let a = access("io.nuage.files:GET:abc,def");
        let doc = |id| Target::Doc { id, body: None };
        assert!(a.check("io.nuage.files", Verb::Get, doc("abc")).is_ok());
        assert!(a.check("io.nuage.files", Verb::Get, doc("xyz")).is_err());
        assert!(
            a.check("io.nuage.files", Verb::Get, Target::Doctype)
                .is_err()
        );
        assert!(a.may_some("io.nuage.files", Verb::Get));
    }

    #[test]
    fn a_selector_matches_a_field_of_the_document() {
        let a = access("io.nuage.files:GET,PUT:dir1:dir_id");
        let inside = json!({"dir_id": "dir1"});
        let outside = json!({"dir_id": "dir2"});
        let t = |b| Target::Doc {
            id: "x",
            body: Some(b),
        };
        assert!(a.check("io.nuage.files", Verb::Put, t(&inside)).is_ok());
        assert!(a.check("io.nuage.files", Verb::Put, t(&outside)).is_err());
        assert!(
            a.check(
                "io.nuage.files",
                Verb::Put,
                Target::Doc {
                    id: "x",
                    body: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn an_id_list_refuses_before_any_lookup_and_a_selector_cannot() {
        let ids = access("io.nuage.files:GET:abc");
        assert!(ids.refused_by_id("io.nuage.files", Verb::Get, "xyz"));
        assert!(!ids.refused_by_id("io.nuage.files", Verb::Get, "abc"));
        let sel = access("io.nuage.files:GET:dir1:dir_id");
        assert!(
            !sel.refused_by_id("io.nuage.files", Verb::Get, "xyz"),
            "needs the body"
        );
        let both = access("io.nuage.files:GET:abc io.nuage.files:GET:dir1:dir_id");
        assert!(!both.refused_by_id("io.nuage.files", Verb::Get, "xyz"));
    }

    #[test]
    fn a_deletion_keeps_what_every_selector_can_match() {
        let body = json!({
            "owner": "alice", "dir": {"id": "d1"}, "n": 3, "ok": true, "tags": ["a", "b c"],
            "title": "a long title with spaces", "key": "x:y", "_attachments": {"f": {"digest": "md5-x"}}
        });
        let kept = deletion_projection(&body);
        assert_eq!(
            kept,
            json!({"owner": "alice", "dir": {"id": "d1"}, "n": 3, "ok": true, "tags": ["a", " "],
                   "title": " ", "key": " "})
        );
        // Judged by either, every selector answers the same.
        for scope in [
            "t:GET:alice:owner",
            "t:GET:bob:owner",
            "t:GET:d1:dir.id",
            "t:GET:3:n",
            "t:GET:true:ok",
            "t:GET:a:tags.0",
            "t:GET:b:tags.1",
            "t:GET:x:key",
        ] {
            let a = access(scope);
            let judge = |b: &Value| {
                a.check(
                    "t",
                    Verb::Get,
                    Target::Doc {
                        id: "x",
                        body: Some(b),
                    },
                )
                .is_ok()
            };
            assert_eq!(judge(&kept), judge(&body), "{scope}");
        }
    }

    #[test]
    fn the_owner_may_do_anything() {
        let a = Access {
            subject: Subject::Session {
                session_id: "s".into(),
            },
            permissions: Permissions::Owner,
        };
        assert!(
            a.check("anything.at.all", Verb::Delete, Target::Doctype)
                .is_ok()
        );
    }
}
