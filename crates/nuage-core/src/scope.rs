//! The scope syntax: permissions written as text, space-separated, as OAuth
//! scopes are (RFC 6749 §3.3).
//!
//! `DOCTYPE[:VERBS[:VALUES[:SELECTOR]]]`, e.g. `io.nuage.contacts:GET,PUT`,
//! `io.nuage.calendar.*:ALL`, `io.nuage.files:GET:id1,id2` or
//! `io.nuage.files:GET:dir1:dir_id`. Omitted verbs mean `ALL`.

use crate::permission::{Permission, Verb, Verbs};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope is empty; write at least one permission such as `io.nuage.contacts:GET`")]
    Empty,
    #[error(
        "`{0}` is not a valid doctype: use a reverse-domain name of lowercase letters, digits, `.`, `_` and `-`, optionally ending in `.*`"
    )]
    Doctype(String),
    #[error("`{0}` is not a verb: use GET, POST, PUT, PATCH, DELETE or ALL")]
    Verb(String),
    #[error("`{0}` has too many `:` parts: the form is DOCTYPE[:VERBS[:VALUES[:SELECTOR]]]")]
    Shape(String),
}

/// Is `s` a doctype name (or a wildcard ending in `.*`)? CouchDB's database
/// name rules plus dots: starts with a lowercase letter, then lowercase
/// letters, digits and `_ $ ( ) + -`, and `.` between parts. CouchDB's `/`
/// is left out: it would need escaping in every URL.
pub fn valid_doctype(s: &str) -> bool {
    let s = s.strip_suffix(".*").unwrap_or(s);
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 200
        && chars
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-' | '$' | '(' | ')' | '+'))
        && !s.ends_with('.')
        && !s.contains("..")
}

pub fn parse_permission(item: &str) -> Result<Permission, ScopeError> {
    let mut parts = item.split(':');
    let doctype = parts.next().unwrap_or_default();
    if !valid_doctype(doctype) {
        return Err(ScopeError::Doctype(doctype.to_owned()));
    }
    let verbs = match parts.next() {
        None | Some("") | Some("ALL") | Some("all") => Verbs::ALL,
        Some(list) => list.split(',').try_fold(Verbs::empty(), |acc, v| {
            Verb::parse(v)
                .map(|verb| acc.with(verb))
                .ok_or_else(|| ScopeError::Verb(v.to_owned()))
        })?,
    };
    let values = parts
        .next()
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(str::to_owned).collect());
    let selector = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    if parts.next().is_some() {
        return Err(ScopeError::Shape(item.to_owned()));
    }
    Ok(Permission {
        doctype: doctype.to_owned(),
        verbs,
        values,
        selector,
    })
}

/// Parses a space-separated scope into its permissions.
pub fn parse_scope(scope: &str) -> Result<Vec<Permission>, ScopeError> {
    let list: Vec<Permission> = scope
        .split_whitespace()
        .map(parse_permission)
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(ScopeError::Empty);
    }
    Ok(list)
}

/// Writes permissions back as a scope; `parse_scope(&format_scope(p)) == p`.
pub fn format_scope(perms: &[Permission]) -> String {
    let items: Vec<String> = perms
        .iter()
        .map(|p| {
            let mut s = format!("{}:{}", p.doctype, p.verbs);
            if let Some(values) = &p.values {
                s.push(':');
                s.push_str(&values.join(","));
                if let Some(sel) = &p.selector {
                    s.push(':');
                    s.push_str(sel);
                }
            }
            s
        })
        .collect();
    items.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for s in [
            "io.nuage.contacts:GET,PUT",
            "io.nuage.calendar.*:ALL",
            "io.nuage.files:GET:a,b io.nuage.files:PUT:dir1:dir_id",
        ] {
            let parsed = parse_scope(s).unwrap();
            assert_eq!(format_scope(&parsed), s);
            assert_eq!(parse_scope(&format_scope(&parsed)).unwrap(), parsed);
        }
    }

    #[test]
    fn omitted_verbs_mean_all() {
        let p = parse_permission("com.example.recipes").unwrap();
        assert!(p.verbs.is_all());
    }

    #[test]
    fn bad_scopes_say_what_is_wrong() {
        assert_eq!(parse_scope("  "), Err(ScopeError::Empty));
        assert!(matches!(
            parse_scope("IO.nuage:GET"),
            Err(ScopeError::Doctype(_))
        ));
        assert!(
            matches!(parse_scope("io.nuage.x:FETCH"), Err(ScopeError::Verb(v)) if v == "FETCH")
        );
        assert!(matches!(
            parse_scope("io.nuage.x:GET:a:b:c"),
            Err(ScopeError::Shape(_))
        ));
        assert!(matches!(
            parse_scope("io..nuage"),
            Err(ScopeError::Doctype(_))
        ));
        assert!(matches!(parse_scope("_users"), Err(ScopeError::Doctype(_))));
        assert!(matches!(parse_scope("a/b"), Err(ScopeError::Doctype(_))));
        assert!(parse_scope("com.example.notes$(v2)+x:GET").is_ok());
    }
}
