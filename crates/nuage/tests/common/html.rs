//! Just enough HTML to fill forms as a browser does: each `<form>` with its
//! `action` and its named inputs. Not a general parser; the server's pages
//! are simple and generated, and a test that can't find a form fails loudly.

use super::Reply;

/// A page fetched by a browser, with the forms on it.
#[derive(Debug, Clone)]
pub struct Page {
    pub reply: Reply,
    pub forms: Vec<Form>,
}

#[derive(Debug, Clone, Default)]
pub struct Form {
    /// The `action` attribute as written; `None` posts back to the page.
    pub action: Option<String>,
    pub method: Option<String>,
    /// Named inputs a browser submits (text, password, hidden; checkboxes
    /// only when checked), in page order.
    pub fields: Vec<(String, String)>,
    /// Submit buttons with a name, as (name, value): only the one clicked is
    /// sent.
    pub buttons: Vec<(String, String)>,
}

impl Page {
    pub fn new(reply: Reply) -> Page {
        let forms = forms(&reply.body);
        Page { reply, forms }
    }

    pub fn body(&self) -> &str {
        &self.reply.body
    }

    /// The form carrying a `csrf` field: the one form a page of ours is for.
    pub fn form(&self) -> &Form {
        self.forms
            .iter()
            .find(|f| f.field("csrf").is_some())
            .unwrap_or_else(|| panic!("no form with a csrf field on the page: {}", self.reply))
    }
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_input(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    /// The fields a browser would send after the person filled in `filled`
    /// (replacing the page's values, adding fields the page lacks).
    pub fn filled(&self, filled: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(n, _)| !filled.iter().any(|(f, _)| f == n))
            .cloned()
            .collect();
        out.extend(
            filled
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        out
    }
}

/// Every form in `html`, with the inputs that follow its opening tag.
pub fn forms(html: &str) -> Vec<Form> {
    let mut forms: Vec<Form> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let Some(end) = tag_end(rest) else { break };
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let attrs = attributes(&tag[name.len()..]);
        let attr = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        match name.as_str() {
            "form" => forms.push(Form {
                action: attr("action"),
                method: attr("method"),
                ..Form::default()
            }),
            "input" | "button" | "textarea" | "select" => {
                let (Some(form), Some(field)) = (forms.last_mut(), attr("name")) else {
                    continue;
                };
                let kind = attr("type").unwrap_or_default().to_ascii_lowercase();
                let value = attr("value").unwrap_or_default();
                if name == "button" || kind == "submit" {
                    form.buttons.push((field, value));
                } else if kind == "checkbox" || kind == "radio" {
                    if attr("checked").is_some() {
                        form.fields.push((field, value));
                    }
                } else {
                    form.fields.push((field, value));
                }
            }
            _ => {}
        }
    }
    forms
}

/// Where the tag opened just before `s` ends: the first `>` outside quotes.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// `name="value" name='value' name=value name`, names lowercased, values
/// with entities decoded.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.trim_end_matches('/').chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == '/').is_some() {}
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '=' && *c != '/'))
                .collect();
        if name.is_empty() {
            break;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.peek().copied() {
                Some(q @ ('"' | '\'')) => {
                    chars.next();
                    value = std::iter::from_fn(|| chars.next_if(|c| *c != q)).collect();
                    chars.next();
                }
                _ => value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect(),
            }
        }
        out.push((name.to_ascii_lowercase(), decode_entities(&value)));
    }
    out
}

pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn forms_are_read_as_a_browser_reads_them() {
    let html = r#"<html><form method="post" action="/auth/login?x=1&amp;y=2">
        <input type="hidden" name="csrf" value="a&#x2F;b">
        <input name=passphrase type=password>
        <input type='checkbox' name='remember' value='yes'>
        <button type="submit" name="decision" value="allow">Allow</button>
        <button name="decision" value="deny">Deny</button>
        </form><p>after</p>"#;
    let f = forms(html);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].action.as_deref(), Some("/auth/login?x=1&y=2"));
    assert_eq!(
        f[0].fields,
        vec![
            ("csrf".to_owned(), "a/b".to_owned()),
            ("passphrase".to_owned(), String::new())
        ]
    );
    assert_eq!(f[0].buttons.len(), 2);
}
