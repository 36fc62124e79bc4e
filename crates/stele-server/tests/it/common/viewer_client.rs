//! A cookie-keeping HTTP client for the viewer's pages (no redirects followed), and members
//! made through the admin API who have set a password through their invite.

use std::collections::HashMap;

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::{json, Value};

use super::{TestApp, OPERATOR};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Browser {
    http: Client,
    base: String,
    pub cookies: HashMap<String, String>,
    /// Send `X-Forwarded-Proto: https` with posts (as a TLS-terminating proxy would).
    pub forwarded_https: bool,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let http = Client::builder().redirect(redirect::Policy::none()).build().expect("client");
        Browser { http, base: app.base.clone(), cookies: HashMap::new(), forwarded_https: false }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, resp: &Response) {
        for c in resp.headers().get_all(SET_COOKIE) {
            let text = c.to_str().expect("cookie text");
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (k, v) = pair.split_once('=').expect("name=value");
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let resp = self.http.get(self.url(path)).header("cookie", self.cookie_header()).send().await.expect("GET");
        self.keep(&resp);
        resp
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut req = self.http.post(self.url(path)).header("cookie", self.cookie_header()).form(form);
        if self.forwarded_https {
            req = req.header("x-forwarded-proto", "https");
        }
        let resp = req.send().await.expect("POST");
        self.keep(&resp);
        resp
    }

    /// GETs a page: its status, body and CSRF token.
    pub async fn page(&mut self, path: &str) -> (StatusCode, String, String) {
        let resp = self.get(path).await;
        let status = resp.status();
        let html = resp.text().await.expect("html");
        let csrf = csrf_in(&html);
        (status, html, csrf)
    }

    pub async fn sign_in(&mut self, tenant: &str, email: &str, password: &str) -> Response {
        let (_, _, csrf) = self.page(&format!("/login?tenant={tenant}")).await;
        self.post("/login", &[("csrf", &csrf), ("tenant", tenant), ("email", email), ("password", password)]).await
    }
}

pub fn csrf_in(html: &str) -> String {
    attribute_after(html, r#"name="csrf" value=""#)
}

/// The text after `marker` up to the next `"` (an attribute's value), unescaped.
pub fn attribute_after(html: &str, marker: &str) -> String {
    unescape(html.split(marker).nth(1).and_then(|r| r.split('"').next()).unwrap_or_default())
}

/// HTML text as the browser reads it (the entities the templates' auto-escaping writes).
pub fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn location(resp: &Response) -> String {
    resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Sets `PASSWORD` through an invite path.
pub async fn accept_invite(app: &TestApp, path: &str) {
    let mut b = Browser::new(app);
    let (status, _, csrf) = b.page(path).await;
    assert_eq!(status, StatusCode::OK, "the invite page of {path}");
    let resp = b.post(path, &[("csrf", &csrf), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

/// A member with `role` made by the operator through the API, who has set `PASSWORD`.
/// Answers its id.
pub async fn member_with_role(app: &TestApp, tenant: &str, email: &str, role: &str) -> String {
    let body = json!({"email": email, "name": format!("Name of {email}"), "role": role});
    let resp = app.post_json(&format!("/v1/tenants/{tenant}/members"), OPERATOR, &body).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let member: Value = resp.json().await.expect("json");
    let url = member["invite_url"].as_str().expect("an invite URL");
    let path = url.strip_prefix(&app.base).expect("the URL names this server").to_owned();
    accept_invite(app, &path).await;
    member["id"].as_str().expect("id").to_owned()
}

/// A browser signed in as a new member with `role`.
pub async fn signed_in_as(app: &TestApp, tenant: &str, email: &str, role: &str) -> Browser {
    member_with_role(app, tenant, email, role).await;
    let mut b = Browser::new(app);
    let resp = b.sign_in(tenant, email, PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{email} signs in");
    b
}
