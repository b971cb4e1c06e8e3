//! Permissions in plain words, for consent pages and settings lists: a person
//! must understand what they grant without knowing what a doctype is.

use crate::permission::{Permission, Verb};

fn doctype_words(doctype: &str) -> String {
    let known = [
        ("io.nuage.contacts", "your contacts"),
        ("io.nuage.calendar", "your calendars and events"),
        ("io.nuage.files", "your files and folders"),
        ("io.nuage.photos", "your photos and albums"),
        ("io.nuage.mail", "your mail"),
        ("io.nuage.settings", "your cloud's settings"),
        ("io.nuage.apps", "your installed apps"),
        ("io.nuage.permissions", "the permissions you granted"),
    ];
    let base = doctype.strip_suffix(".*").unwrap_or(doctype);
    for (name, words) in known {
        if base == name {
            return words.to_owned();
        }
        if let Some(rest) = base.strip_prefix(name).and_then(|r| r.strip_prefix('.')) {
            return format!("{words} ({rest})");
        }
    }
    if base != doctype {
        format!("all data of type {base} and its sub-types")
    } else {
        format!("data of type {doctype}")
    }
}

/// "See and change your contacts", "Delete your files and folders", …
pub fn describe(p: &Permission) -> String {
    let what = doctype_words(&p.doctype);
    let action = if p.verbs.is_all() {
        "See, create, change and delete".to_owned()
    } else {
        let mut acts = Vec::new();
        if p.verbs.contains(Verb::Get) {
            acts.push("see");
        }
        if p.verbs.contains(Verb::Post) {
            acts.push("create");
        }
        if p.verbs.contains(Verb::Put) || p.verbs.contains(Verb::Patch) {
            acts.push("change");
        }
        if p.verbs.contains(Verb::Delete) {
            acts.push("delete");
        }
        let mut s = match acts.len() {
            0 => String::new(),
            1 => acts[0].to_owned(),
            n => format!("{} and {}", acts[..n - 1].join(", "), acts[n - 1]),
        };
        if let Some(first) = s.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        s
    };
    let limit = match (&p.values, &p.selector) {
        (Some(v), None) => format!(", limited to {} chosen item(s)", v.len()),
        (Some(v), Some(sel)) => format!(", limited to items whose {sel} is {}", v.join(" or ")),
        _ => String::new(),
    };
    format!("{action} {what}{limit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::parse_permission;

    #[test]
    fn permissions_read_as_plain_sentences() {
        let d = |s| describe(&parse_permission(s).unwrap());
        assert_eq!(d("io.nuage.contacts:GET"), "See your contacts");
        assert_eq!(
            d("io.nuage.contacts:GET,PUT"),
            "See and change your contacts"
        );
        assert_eq!(
            d("io.nuage.calendar.*:ALL"),
            "See, create, change and delete your calendars and events"
        );
        assert_eq!(
            d("com.example.recipes:GET,POST,DELETE"),
            "See, create and delete data of type com.example.recipes"
        );
        assert_eq!(
            d("io.nuage.files:GET:a,b"),
            "See your files and folders, limited to 2 chosen item(s)"
        );
    }
}
