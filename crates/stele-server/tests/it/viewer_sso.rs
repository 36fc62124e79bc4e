//! Single sign-on to the viewer (issue #12) against a real OpenID Provider — npm
//! `oidc-provider`, started here (`tests/browser/oidc-provider.mjs`) — in Debian's Chromium
//! (`tests/browser/sso.mjs`): a member provisioned by SCIM signs in through it; an identity
//! that matches no member and a member SCIM deactivated are refused, and all three are in
//! the tenant's log. The provider's settings API (`/v1/tenants/{tenant}/oidc`) refuses bad
//! input and changes nothing then. Skipped (saying why) without the tools; `scripts/test`
//! installs them and makes a missing tool a failure.

use crate::common;

use std::path::Path;
use std::process::Stdio;

use common::browser::{tools_or_skip, workspace};
use common::viewer_client::{signed_in_as, unescape};
use common::{spawn_app_with, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENT_ID: &str = "stele-viewer";
const CLIENT_SECRET: &str = "a-client-secret-only-the-test-knows";

/// The provider process (killed when dropped) and its issuer URL.
async fn start_provider(modules: &Path, redirect_uri: &str) -> (tokio::process::Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/oidc-provider.mjs");
    let config = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect_uri]});
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .env("NODE_PATH", modules)
        .env("STELE_OIDC_CONFIG", config.to_string())
        .current_dir(modules.parent().expect("modules dir"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next_line().await.expect("provider output").expect("the provider prints its issuer");
    let issuer = serde_json::from_str::<Value>(&first).expect("JSON")["issuer"].as_str().expect("issuer").to_owned();
    // Keep reading what it prints: a closed pipe would kill it at its next line.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("oidc-provider: {line}");
        }
    });
    (child, issuer)
}

/// One sign-in attempt in Chromium as `identity`: where it lands.
async fn sign_in(app: &TestApp, chromium: &Path, modules: &Path, identity: &str, shot: &str) -> Value {
    let screenshots = workspace().join("target/viewer-screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let config = json!({
        "base": app.base, "chromium": chromium, "tenant": "acme", "provider_name": "Test IdP",
        "identity": identity, "screenshot": screenshots.join(format!("{shot}.png")),
        "login_screenshot": screenshots.join("login-sso.png"),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/sso.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .env("NODE_PATH", modules)
        .env("STELE_SSO_CONFIG", config.to_string())
        .current_dir(modules.parent().expect("modules dir"))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the sign-in script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let landed: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON");
    assert_eq!(landed["axe"], json!([]), "axe: no serious or critical violation on {shot}");
    landed
}

async fn put_provider(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http.put(app.url("/v1/tenants/acme/oidc")).bearer_auth(OPERATOR).json(body).send().await.expect("sent")
}

async fn actions(app: &TestApp) -> Vec<Value> {
    app.all_events("acme")
        .await
        .into_iter()
        .filter(|e| e["action"].as_str().unwrap_or("").starts_with("stele."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_provisioned_member_signs_in_through_the_openid_provider() {
    let Some((chromium, modules)) = tools_or_skip() else { return };
    let app = spawn_app_with(|c| c.viewer.oidc_allow_http = true).await;
    app.tenant_with_key("acme").await;
    let (_provider, issuer) = start_provider(&modules, &app.url("/oidc/acme/callback")).await;

    // The settings API refuses bad input and stores nothing.
    let good = json!({"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "name": "Test IdP"});
    let mut bad_issuer = good.clone();
    bad_issuer["issuer"] = json!("not a url");
    let mut unreachable = good.clone();
    unreachable["issuer"] = json!("http://127.0.0.1:9/nothing-here");
    let mut unknown_field = good.clone();
    unknown_field["scopes"] = json!("openid");
    let mut no_secret = good.clone();
    no_secret["client_secret"] = json!("");
    for (body, why) in [
        (bad_issuer, "bad issuer"),
        (unreachable, "no discovery"),
        (unknown_field, "unknown field"),
        (no_secret, "empty secret"),
    ] {
        let resp = put_provider(&app, &body).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{why}");
    }
    let reader = app.create_key("acme", &["events:read"]).await;
    let resp = app
        .http
        .put(app.url("/v1/tenants/acme/oidc"))
        .bearer_auth(&reader.secret)
        .json(&good)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "only an admin sets the provider");
    let none = app.http.get(app.url("/v1/tenants/acme/oidc")).bearer_auth(OPERATOR).send().await.expect("sent");
    assert_eq!(none.status(), StatusCode::NOT_FOUND, "nothing was stored");
    let login = app.http.get(app.url("/login?tenant=acme")).send().await.expect("sent").text().await.expect("html");
    assert!(!login.contains("Sign in with"), "no button without a provider");

    // An admin sets it on the Admin page's Single sign-on tab (an auditor may not; a form
    // without its CSRF token changes nothing).
    let fields =
        [("issuer", issuer.as_str()), ("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET), ("name", "Test IdP")];
    let mut auditor = signed_in_as(&app, "acme", "audra@acme.io", "auditor").await;
    assert_eq!(auditor.page("/t/acme/admin/sso").await.0, StatusCode::FORBIDDEN);
    let mut admin = signed_in_as(&app, "acme", "adam@acme.io", "admin").await;
    let (status, html, csrf) = admin.page("/t/acme/admin/sso").await;
    assert_eq!(status, StatusCode::OK);
    assert!(unescape(&html).contains(&app.url("/oidc/acme/callback")), "the page names the redirect URI");
    let resp = admin.post("/t/acme/admin/sso", &fields).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let none = app.http.get(app.url("/v1/tenants/acme/oidc")).bearer_auth(OPERATOR).send().await.expect("sent");
    assert_eq!(none.status(), StatusCode::NOT_FOUND, "the refused form stored nothing");
    let mut with_csrf = vec![("csrf", csrf.as_str())];
    with_csrf.extend_from_slice(&fields);
    let resp = admin.post("/t/acme/admin/sso", &with_csrf).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html, _) = admin.page("/t/acme/admin/sso").await;
    assert!(html.contains("Sign in with Test IdP") && !html.contains(CLIENT_SECRET), "saved, secret not shown");
    let shown = app.http.get(app.url("/v1/tenants/acme/oidc")).bearer_auth(OPERATOR).send().await.expect("sent");
    let shown = shown.text().await.expect("text");
    assert!(shown.contains(&issuer) && !shown.contains(CLIENT_SECRET), "{shown}");
    let login = app.http.get(app.url("/login?tenant=acme")).send().await.expect("sent").text().await.expect("html");
    assert!(login.contains("Sign in with Test IdP"), "{login}");

    // A callback whose `state` is not the one this browser's sign-in started with is refused
    // before any code is exchanged (the browser sign-ins below are the positive control).
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let started = http.get(app.url("/oidc/acme/start")).send().await.expect("sent");
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let to_provider = started.headers()["location"].to_str().expect("location").to_owned();
    assert!(to_provider.starts_with(&issuer) && to_provider.contains("code_challenge_method=S256"), "{to_provider}");
    let flow = started.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let forged = http
        .get(app.url("/oidc/acme/callback?code=anything&state=not-the-state"))
        .header("cookie", &flow)
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await.expect("html").contains("does not belong to this sign-in"));

    // A member provisioned by SCIM signs in through the provider.
    let (conn, token) = app.scim_connection("acme").await;
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dana@acme.io",
        "emails": [{"value": "dana@acme.io", "primary": true}], "active": true});
    let resp = app
        .http
        .post(app.url(&format!("/scim/v2/{conn}/Users")))
        .bearer_auth(&token)
        .json(&user)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let dana: Value = resp.json().await.expect("user");
    let landed = sign_in(&app, &chromium, &modules, "dana@acme.io", "sso-signed-in").await;
    assert_eq!(landed["path"], "/t/acme/events", "{landed}");

    // An identity that matches no member is refused, and logged.
    let landed = sign_in(&app, &chromium, &modules, "eve@elsewhere.io", "sso-unknown").await;
    assert_eq!(landed["heading"], "Not a member", "{landed}");

    // Deactivated by SCIM: refused.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let path = format!("/scim/v2/{conn}/Users/{}", dana["id"].as_str().expect("id"));
    let resp = app.http.patch(app.url(&path)).bearer_auth(&token).json(&patch).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let landed = sign_in(&app, &chromium, &modules, "dana@acme.io", "sso-deactivated").await;
    assert_eq!(landed["heading"], "Account deactivated", "{landed}");

    // All of it is in the tenant's log.
    let log = actions(&app).await;
    let through_sso: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "stele.viewer.signed_in")
        .filter(|e| e["message"].as_str().unwrap_or("").contains("through Test IdP"))
        .collect();
    assert_eq!(through_sso.len(), 1, "one SSO sign-in");
    assert_eq!(through_sso[0]["actor"]["email"], "dana@acme.io");
    let failed: Vec<String> = log
        .iter()
        .filter(|e| e["action"] == "stele.viewer.sign_in_failed")
        .map(|e| format!("{} {}", e["actor"]["email"].as_str().unwrap_or(""), e["reason"].as_str().unwrap_or("")))
        .collect();
    assert!(failed.iter().any(|f| f.starts_with("eve@elsewhere.io") && f.contains("matches no member")), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("dana@acme.io") && f.contains("deactivated")), "{failed:?}");
    let set = log.iter().find(|e| e["action"] == "stele.oidc_provider.set").expect("the change is logged");
    assert_eq!(set["actor"]["email"], "adam@acme.io", "made by the admin, through the viewer");
    for e in &log {
        assert!(!e.to_string().contains(CLIENT_SECRET), "the client secret is in no event");
    }

    // Removing the provider removes the button (the API's DELETE does the same).
    let (_, _, csrf) = admin.page("/t/acme/admin/sso").await;
    let resp = admin.post("/t/acme/admin/sso/remove", &[("csrf", csrf.as_str())]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = app.http.delete(app.url("/v1/tenants/acme/oidc")).bearer_auth(OPERATOR).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "already removed");
    let login = app.http.get(app.url("/login?tenant=acme")).send().await.expect("sent").text().await.expect("html");
    assert!(!login.contains("Sign in with"));
}

#[tokio::test]
async fn the_callback_refuses_a_sign_in_it_did_not_start() {
    let app = spawn_app_with(|c| c.viewer.oidc_allow_http = true).await;
    app.tenant_with_key("acme").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    // No flow cookie, or a forged one: refused before any provider is asked.
    for cookie in ["", "stele_oidc=AAAA", "stele_oidc=bm90IHNlYWxlZA"] {
        let resp = http
            .get(app.url("/oidc/acme/callback?code=abc&state=xyz"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{cookie:?}");
        assert!(resp.text().await.expect("html").contains("Sign-in expired"));
    }
    // A tenant without a provider has no sign-in to start.
    let resp = http.get(app.url("/oidc/acme/start")).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // An https-only deployment refuses an http issuer.
    let strict = common::spawn_app().await;
    strict.tenant_with_key("acme").await;
    let body = json!({"issuer": "http://127.0.0.1:9", "client_id": "x", "client_secret": "y"});
    let resp = strict
        .http
        .put(strict.url("/v1/tenants/acme/oidc"))
        .bearer_auth(OPERATOR)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let problem: Value = resp.json().await.expect("problem");
    assert!(problem["detail"].as_str().unwrap_or("").contains("https"), "{problem}");
}

#[tokio::test]
async fn sign_in_starts_and_callbacks_spend_the_address_budget() {
    let app = spawn_app_with(|c| c.viewer.login_attempts_per_ip_per_minute = 2).await;
    app.tenant_with_key("acme").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let status = |path: &'static str| {
        let (http, url) = (http.clone(), app.url(path));
        async move { http.get(url).send().await.expect("sent") }
    };
    // Within the budget, the answers are the usual ones (no provider: 404; no flow: 403).
    assert_eq!(status("/oidc/acme/start").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(status("/oidc/acme/callback?code=x&state=y").await.status(), StatusCode::FORBIDDEN);
    for path in ["/oidc/acme/start", "/oidc/acme/callback?code=x&state=y"] {
        let resp = status(path).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(resp.headers().contains_key("retry-after"), "{path}");
    }
}
