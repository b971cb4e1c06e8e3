//! The OAuth consent page: what an application asks for, in plain words.

use super::layout::{esc, page};
use nuage_auth::oauth::AuthorizeParams;
use nuage_core::Permission;
use nuage_core::words::describe;

pub fn consent_page(
    domain: &str,
    csrf: &str,
    client_name: &str,
    redirect_uri: &str,
    permissions: &[Permission],
    params: &AuthorizeParams,
) -> String {
    let items: String = permissions
        .iter()
        .map(|p| format!("<li>{}</li>", esc(&describe(p))))
        .collect();
    let hidden = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    esc(v)
                )
            })
            .unwrap_or_default()
    };
    let fields = [
        hidden("response_type", &params.response_type),
        hidden("client_id", &params.client_id),
        hidden("redirect_uri", &params.redirect_uri),
        hidden("scope", &params.scope),
        hidden("state", &params.state),
        hidden("code_challenge", &params.code_challenge),
        hidden("code_challenge_method", &params.code_challenge_method),
    ]
    .concat();
    let host = url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| redirect_uri.to_owned());
    let body = format!(
        "<h1>Allow {name}?</h1><p class=\"muted\"><strong>{name}</strong> asks to use {domain}. \
         If you allow it, it will be able to:</p><ul class=\"perms\">{items}</ul>\
         <p class=\"muted\">You will be sent back to {host}. You can revoke this access at any \
         time in Settings → Connected apps.</p>\
         <form method=\"post\" action=\"/auth/authorize\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{fields}\
         <div class=\"row\"><button class=\"secondary\" name=\"decision\" value=\"deny\">Deny</button>\
         <button name=\"decision\" value=\"allow\">Allow</button></div></form>",
        name = esc(client_name),
        domain = esc(domain),
        host = esc(&host),
        csrf = esc(csrf),
    );
    page("Allow access", &body)
}
