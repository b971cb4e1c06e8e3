//! The frame every page shares.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root{color-scheme:light dark;--accent:#3b6fd8;--bg:#f4f6fb;--card:#fff;--text:#1d2433;--muted:#5b6475;--err:#b3261e}
@media (prefers-color-scheme:dark){:root{--bg:#141821;--card:#1e2430;--text:#e8ecf4;--muted:#a4adbf;--err:#ffb4ab}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;background:var(--bg);color:var(--text);display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:var(--card);padding:2rem 2.2rem;border-radius:14px;box-shadow:0 4px 24px #0002;width:min(26rem,94vw)}
h1{font-size:1.35rem;margin:0 0 .3rem}.brand{color:var(--accent);font-weight:700;letter-spacing:.02em;margin-bottom:1rem}
p.muted{color:var(--muted);margin-top:0}label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=password],input[type=text]{width:100%;padding:.65rem .75rem;border:1px solid #8884;border-radius:8px;font-size:1rem;background:transparent;color:inherit}
button{margin-top:1.2rem;width:100%;padding:.7rem;border:0;border-radius:8px;background:var(--accent);color:#fff;font-size:1rem;font-weight:600;cursor:pointer}
button.secondary{background:transparent;color:var(--text);border:1px solid #8886}
.error{color:var(--err);background:#b3261e14;border-radius:8px;padding:.6rem .8rem;margin:.8rem 0}
ul.perms{padding-left:1.2rem}ul.perms li{margin:.3rem 0}.row{display:flex;gap:.7rem}.row button{flex:1}
";

/// A whole page around `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · nuage</title><style>{STYLE}</style></head>\
         <body><main><div class=\"brand\">☁ nuage</div>{body}</main></body></html>",
        esc(title)
    )
}

pub fn error_block(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default()
}

/// A page that only says something (an error, a finished action).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!("<h1>{}</h1><p>{}</p>", esc(title), esc(message));
    (status, Html(page(title, &body))).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            super::esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
