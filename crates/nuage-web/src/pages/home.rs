//! The owner's landing page until the home app exists.

use super::layout::{esc, page};

pub fn home_page(domain: &str, csrf: &str) -> String {
    let body = format!(
        "<h1>{domain}</h1><p class=\"muted\">You are logged in to your cloud.</p>\
         <form method=\"post\" action=\"/auth/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"secondary\" type=\"submit\">Log out</button></form>",
        domain = esc(domain),
        csrf = esc(csrf),
    );
    page(domain, &body)
}
