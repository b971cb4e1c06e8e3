//! A browser: a cookie jar, forms filled from the page (CSRF token
//! included), JSON calls with `X-CSRF-Token`, and redirects left to the test.

use super::{Page, Reply, Server, send};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Method, RequestBuilder, StatusCode};
use std::sync::Arc;

pub struct Browser {
    pub client: reqwest::Client,
    jar: Arc<Jar>,
    /// `http://HOST:PORT`, the instance this browser talks to.
    pub base: String,
}

impl Browser {
    pub(super) fn new(server: &Server, host: &str, user_agent: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = server
            .client_builder()
            .cookie_provider(jar.clone())
            .user_agent(user_agent)
            .build()
            .expect("browser client");
        Browser {
            client,
            jar,
            base: format!("http://{host}"),
        }
    }

    /// A path on this browser's instance, or a full URL left as is.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// The cookie `name` this browser would send to its instance.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = self.base.parse().expect("base URL");
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .expect("ASCII cookies")
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    pub fn session(&self) -> Option<String> {
        self.cookie("nuage_session")
    }

    /// The CSRF cookie, which state-changing requests echo back.
    pub fn csrf(&self) -> String {
        self.cookie("nuage_csrf")
            .unwrap_or_else(|| panic!("no nuage_csrf cookie for {}", self.base))
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.client.get(self.url(path))).await
    }

    /// Opens a page with a form, as a person would before filling it in:
    /// it must answer 200 and carry the CSRF token both as the `nuage_csrf`
    /// cookie and as the form's hidden `csrf` field, with the same value.
    pub async fn open(&self, path: &str) -> Page {
        let page = Page::new(self.get(path).await.expect_status(StatusCode::OK));
        let field = page.form().field("csrf").unwrap_or_default().to_owned();
        assert!(!field.is_empty(), "empty csrf field: {}", page.reply);
        assert_eq!(
            self.cookie("nuage_csrf").as_deref(),
            Some(field.as_str()),
            "the page's csrf field must equal its nuage_csrf cookie: {}",
            page.reply
        );
        page
    }

    /// Submits the page's form with `filled` typed in, where the form posts.
    pub async fn submit(&self, page: &Page, filled: &[(&str, &str)]) -> Reply {
        let form = page.form();
        if let Some(method) = &form.method {
            assert!(
                method.eq_ignore_ascii_case("post"),
                "forms that change state must POST: {}",
                page.reply
            );
        }
        let target = match form.action.as_deref() {
            None | Some("") => page.reply.url.clone(),
            Some(action) => reqwest::Url::parse(&page.reply.url)
                .and_then(|u| u.join(action))
                .unwrap_or_else(|e| panic!("bad form action {action:?}: {e}"))
                .to_string(),
        };
        send(self.client.post(target).form(&form.filled(filled))).await
    }

    /// Posts a form straight to `path`, without opening a page first.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        send(self.client.post(self.url(path)).form(fields)).await
    }

    /// A JSON-API request authenticated by this browser's session cookie,
    /// carrying `X-CSRF-Token` as the contract asks of state changes.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match self.cookie("nuage_csrf") {
            Some(csrf) => rb.header("x-csrf-token", csrf),
            None => rb,
        }
    }

    /// Opens the login page and submits `passphrase`; returns the answer.
    pub async fn login(&self, passphrase: &str) -> Reply {
        let page = self.open("/auth/login").await;
        self.submit(&page, &[("passphrase", passphrase)]).await
    }

    /// Logs in and checks it worked: 303 and a session cookie.
    pub async fn login_ok(&self, passphrase: &str) {
        let reply = self
            .login(passphrase)
            .await
            .expect_status(StatusCode::SEE_OTHER);
        assert!(
            reply
                .cookie_value("nuage_session")
                .is_some_and(|v| !v.is_empty()),
            "a login must set the session cookie: {reply}"
        );
    }

    /// Logs out with the logout form's fields (the CSRF token).
    pub async fn logout(&self) -> Reply {
        let csrf = self.csrf();
        self.post_form("/auth/logout", &[("csrf", &csrf)]).await
    }

    /// Stores a document with the session, as the owner's web app does;
    /// checks the CouchDB answer: 201 `{"ok":true,"id","rev"}`.
    pub async fn put_doc(&self, doctype: &str, id: &str, doc: &serde_json::Value) -> String {
        let body = send(
            self.api(Method::PUT, &format!("/data/{doctype}/{id}"))
                .json(doc),
        )
        .await
        .json_ok(StatusCode::CREATED);
        assert_eq!(body["ok"], true, "{body}");
        assert_eq!(body["id"], id, "{body}");
        body["rev"]
            .as_str()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| panic!("no rev in {body}"))
            .to_owned()
    }

    /// Revokes the instance's only app password, as its owner does in the
    /// settings; returns when it is done.
    pub async fn revoke_the_only_app_password(&self) {
        let list = send(self.api(Method::GET, "/settings/app-passwords"))
            .await
            .json_ok(StatusCode::OK);
        let id = list[0]["id"].as_str().expect("the app password's id");
        let revoked =
            send(self.api(Method::DELETE, &format!("/settings/app-passwords/{id}"))).await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked}");
    }

    /// The owner's view of `/settings/instance`.
    pub async fn instance_settings(&self) -> serde_json::Value {
        send(self.api(Method::GET, "/settings/instance"))
            .await
            .json_ok(StatusCode::OK)
    }
}
