//! A third-party app, as a real one is written: registered with RFC 7591,
//! driven by the `oauth2` crate (PKCE S256) over reqwest, with the owner's
//! browser answering the consent page.

use super::{Browser, Reply, Server, send};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;

/// The app's loopback redirect (RFC 8252 §7.3).
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

pub type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
pub type TokenError =
    RequestTokenError<reqwest::Error, oauth2::StandardErrorResponse<BasicErrorResponseType>>;

/// oauth2's HTTP client, written over reqwest 0.13. Redirects are not
/// followed (the oauth2 crate asks for that, against SSRF).
pub struct OAuthHttp(pub reqwest::Client);

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.execute(reqwest::Request::try_from(request)?).await?;
            let mut rebuilt = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                rebuilt = rebuilt.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            Ok(rebuilt
                .body(body)
                .expect("a response rebuilt from a valid one"))
        })
    }
}

pub struct App {
    pub client_id: String,
    /// The registration response (RFC 7591 §3.2.1).
    pub registration: Value,
    pub oauth: OAuthClient,
    pub http: OAuthHttp,
    token_url: String,
    revoke_url: String,
}

/// Where the consent page sent the browser back, with what the app kept.
pub struct Authorization {
    pub redirect: reqwest::Url,
    pub state: CsrfToken,
    pub verifier: PkceCodeVerifier,
}

impl Authorization {
    pub fn param(&self, name: &str) -> Option<String> {
        self.redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The code, after checking the redirect is the app's, with its state.
    pub fn code(&self) -> AuthorizationCode {
        assert_eq!(
            format!(
                "{}://{}{}",
                self.redirect.scheme(),
                self.redirect.host_str().unwrap_or_default(),
                self.redirect.path()
            ),
            REDIRECT_URI,
            "the consent must send the browser back to the app: {}",
            self.redirect
        );
        assert_eq!(
            self.param("state").as_deref(),
            Some(self.state.secret().as_str()),
            "the state must come back unchanged: {}",
            self.redirect
        );
        assert_eq!(self.param("error"), None, "{}", self.redirect);
        AuthorizationCode::new(
            self.param("code")
                .unwrap_or_else(|| panic!("no code in {}", self.redirect)),
        )
    }
}

impl App {
    /// Registers with the server's registration endpoint; a public client
    /// (no secret), as native apps are.
    pub async fn register(server: &Server, name: &str) -> App {
        let http = server.http();
        let registration = send(http.post(server.url("/auth/register")).json(&json!({
            "client_name": name,
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        })))
        .await
        .json_ok(StatusCode::CREATED);
        let client_id = registration["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no client_id in {registration}"))
            .to_owned();
        let token_url = server.url("/auth/token");
        let oauth = BasicClient::new(ClientId::new(client_id.clone()))
            .set_auth_uri(AuthUrl::new(server.url("/auth/authorize")).expect("auth URL"))
            .set_token_uri(TokenUrl::new(token_url.clone()).expect("token URL"))
            .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).expect("redirect URL"));
        App {
            client_id,
            registration,
            oauth,
            http: OAuthHttp(http),
            token_url,
            revoke_url: server.url("/auth/revoke"),
        }
    }

    /// The authorization URL for `scope`, with a fresh state and PKCE pair.
    pub fn authorize_url(&self, scope: &str) -> (reqwest::Url, CsrfToken, PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(scope.to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        (url, state, verifier)
    }

    /// The owner opens the consent page for `scope` and answers `decision`
    /// (`allow` or `deny`); returns where the browser is sent, and the page.
    pub async fn consent(
        &self,
        owner: &Browser,
        scope: &str,
        decision: &str,
    ) -> (Authorization, super::Page) {
        let (url, state, verifier) = self.authorize_url(scope);
        let page = owner.open(url.as_str()).await;
        assert!(
            page.body().contains("decision") && page.body().contains(decision),
            "the consent form must offer decision={decision}: {}",
            page.reply
        );
        let reply = owner
            .submit(&page, &[("decision", decision)])
            .await
            .expect_status(StatusCode::SEE_OTHER);
        let redirect = reqwest::Url::parse(&reply.location()).unwrap_or_else(|e| {
            panic!("the consent must redirect to an absolute URL ({e}): {reply}")
        });
        (
            Authorization {
                redirect,
                state,
                verifier,
            },
            page,
        )
    }

    pub async fn exchange(
        &self,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
    ) -> Result<BasicTokenResponse, TokenError> {
        self.oauth
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
    }

    pub async fn refresh(&self, token: &RefreshToken) -> Result<BasicTokenResponse, TokenError> {
        self.oauth
            .exchange_refresh_token(token)
            .request_async(&self.http)
            .await
    }

    /// Consent allowed and the code exchanged: a token pair for `scope`.
    pub async fn tokens(&self, owner: &Browser, scope: &str) -> BasicTokenResponse {
        let (auth, _) = self.consent(owner, scope, "allow").await;
        let code = auth.code();
        self.exchange(code, auth.verifier)
            .await
            .unwrap_or_else(|e| panic!("the code exchange failed: {}", describe(&e)))
    }

    /// RFC 7009 revocation. Over a form post of our own: the oauth2 crate
    /// refuses to revoke over plain http, which a test server speaks.
    pub async fn revoke(&self, token: &str, hint: &str) -> Reply {
        send(self.http.0.post(&self.revoke_url).form(&[
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", &self.client_id),
        ]))
        .await
    }

    pub fn token_url(&self) -> &str {
        &self.token_url
    }
}

/// The OAuth error code the token endpoint answered, if it answered one.
pub fn error_code(e: &TokenError) -> Option<BasicErrorResponseType> {
    match e {
        RequestTokenError::ServerResponse(r) => Some(r.error().clone()),
        _ => None,
    }
}

/// A token error in words, server response body included.
pub fn describe(e: &TokenError) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => format!("server said {r:?}"),
        RequestTokenError::Parse(err, body) => {
            format!(
                "unparsable answer ({err}): {}",
                String::from_utf8_lossy(body)
            )
        }
        other => format!("{other:?}"),
    }
}
