//! The login form and its second-factor step.

use super::layout::{error_block, esc, page};

pub fn login_page(domain: &str, csrf: &str, next: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>Log in</h1><p class=\"muted\">to {domain}</p>{err}\
         <form method=\"post\" action=\"/auth/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"passphrase\">Passphrase</label>\
         <input id=\"passphrase\" name=\"passphrase\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\">Log in</button></form>",
        domain = esc(domain),
        err = error_block(error),
        csrf = esc(csrf),
        next = esc(next),
    );
    page("Log in", &body)
}

pub fn second_factor_page(csrf: &str, ticket: &str, next: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>Two-step login</h1><p class=\"muted\">Enter the 6-digit code from your authenticator app, \
         or one of your recovery codes.</p>{err}\
         <form method=\"post\" action=\"/auth/login/second-factor\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"code\">Code</label>\
         <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus>\
         <button type=\"submit\">Continue</button></form>",
        err = error_block(error),
        csrf = esc(csrf),
        ticket = esc(ticket),
        next = esc(next),
    );
    page("Two-step login", &body)
}
