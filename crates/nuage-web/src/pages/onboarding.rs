//! Choosing the owner's first passphrase.

use super::layout::{error_block, esc, page};

pub fn onboarding_page(domain: &str, csrf: &str, token: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>Welcome to your cloud</h1><p class=\"muted\">{domain} is yours. Choose the passphrase \
         that will protect it: at least 10 characters; four unrelated words are easy to remember \
         and hard to guess.</p>{err}\
         <form method=\"post\" action=\"/auth/onboarding\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"passphrase\">Passphrase</label>\
         <input id=\"passphrase\" name=\"passphrase\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required autofocus>\
         <label for=\"passphrase_confirm\">The same again</label>\
         <input id=\"passphrase_confirm\" name=\"passphrase_confirm\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required>\
         <button type=\"submit\">Start using my cloud</button></form>",
        domain = esc(domain),
        err = error_block(error),
        csrf = esc(csrf),
        token = esc(token),
    );
    page("Welcome", &body)
}
