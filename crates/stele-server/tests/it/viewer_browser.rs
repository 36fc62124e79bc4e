//! The viewer in a real browser: Debian's `chromium` driven by npm `playwright-core`, with
//! `axe-core` on every page (`tests/browser/viewer.mjs`), against a real server started and
//! filled here. Screenshots of every page land in `target/viewer-screenshots/`.
//!
//! `scripts/test` installs the pinned packages (`tests/browser/package-lock.json`) under
//! `target/clients/browser/` and Chromium with apt, and exports
//! `STELE_TEST_BROWSER_NODE_PATH` and `STELE_TEST_CHROMIUM`. Without them (and without the
//! default locations) the test says why it is skipped; under `STELE_TEST_REQUIRE_CLIENTS=1`
//! it fails instead.

use crate::common;

use std::path::Path;

use common::browser::{tools_or_skip, workspace};
use common::{spawn_app_with, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn scim(app: &TestApp, conn: &str, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
    let mut req = app.http.request(method, format!("{}/scim/v2/{conn}{path}", app.base)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("SCIM request sent").status().as_u16()
}

async fn create_member(app: &TestApp, tenant: &str, email: &str, name: &str) -> Value {
    let body = json!({"email": email, "name": name, "role": "admin"});
    let resp = app.post_json(&format!("/v1/tenants/{tenant}/members"), OPERATOR, &body).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.expect("member")
}

/// Sets a member's password through its invite URL (plain HTTP, as a browser would).
async fn set_password(invite_url: &str, password: &str) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = http.get(invite_url).send().await.expect("invite page");
    let cookie = page.headers().get("set-cookie").and_then(|c| c.to_str().ok()).unwrap_or("").to_owned();
    let cookie = cookie.split(';').next().unwrap_or("").to_owned();
    let html = page.text().await.expect("html");
    let csrf = html.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_owned();
    let resp = http
        .post(invite_url)
        .header("cookie", cookie)
        .form(&[("csrf", csrf.as_str()), ("password", password), ("confirm", password)])
        .send()
        .await
        .expect("set password");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_works_in_chromium_and_passes_axe() {
    let Some((chromium, modules)) = tools_or_skip() else { return };
    // Plain http for the stream made on the page (to a closed local port).
    let app = spawn_app_with(|c| c.streams.allow_http = true).await;
    let key = app.tenant_with_key("acme").await;
    let other = app.tenant_with_key("globex").await;
    let theirs = app.ingest_ok(&other.secret, &json!({"action": "doc.secret"})).await;

    // 70 "doc." and 30 "user." events over a day, some failed, with changes.
    let people = [("Ana Lima", "ana@acme.io"), ("Bo Chen", "bo@acme.io"), ("Chloé Martin", "chloe@acme.io")];
    let events: Vec<Value> = (0..100)
        .map(|i| {
            let doc = i % 10 < 7;
            let (name, email) = people[i % 3];
            json!({
                "action": if doc { if i % 2 == 0 { "doc.read" } else { "doc.update" } } else { "user.login" },
                "status": if i % 7 == 0 { "failure" } else { "success" },
                "message": if doc { format!("Document Q{} report opened", i % 4 + 1) } else { "Signed in with SSO".to_owned() },
                "actor": {"type": "user", "name": name, "email": email, "ip": "203.0.113.7"},
                "targets": [{"type": "document", "id": format!("doc-{}", i % 9), "name": format!("Q{} board deck", i % 4 + 1)}],
                "changes": {"before": {"title": "Draft", "shared": false}, "after": {"title": "Final", "shared": true}},
                "context": {"region": "eu-west-1"},
                "time": format!("2026-11-29T{:02}:{:02}:00Z", i / 5, (i * 7) % 60),
            })
        })
        .collect();
    let resp = app.ingest(&key.secret, &json!({"events": events})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // SCIM traffic from an "IdP": successes and failures of each resource type.
    let (conn, token) = app.scim_connection("acme").await;
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dana@acme.io",
        "name": {"givenName": "Dana", "familyName": "Ruiz"}, "emails": [{"value": "dana@acme.io", "primary": true}], "active": true});
    use reqwest::Method;
    assert_eq!(scim(&app, &conn, &token, Method::POST, "/Users", Some(user.clone())).await, 201);
    assert_eq!(scim(&app, &conn, &token, Method::POST, "/Users", Some(user)).await, 409);
    assert_eq!(
        scim(&app, &conn, &token, Method::GET, "/Users?filter=userName%20eq%20%22dana%40acme.io%22", None).await,
        200
    );
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Auditors"});
    assert_eq!(scim(&app, &conn, &token, Method::POST, "/Groups", Some(group)).await, 201);
    assert_eq!(scim(&app, &conn, &token, Method::GET, "/Groups", None).await, 200);
    assert_eq!(
        scim(
            &app,
            &conn,
            &token,
            Method::PATCH,
            "/Users/not-a-user",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}))
        )
        .await,
        404
    );

    let password = "a long and sturdy passphrase";
    let ana = create_member(&app, "acme", "ana@acme.io", "Ana Lima").await;
    set_password(ana["invite_url"].as_str().expect("invite"), password).await;
    let bo = create_member(&app, "acme", "bo@acme.io", "Bo Chen").await;
    let invite_path = bo["invite_url"].as_str().expect("invite").strip_prefix(&app.base).expect("path").to_owned();

    // An embed link seeing only "user." events (the key's view) that failed (the link's).
    let body =
        json!({"tenant": "acme", "name": "embedder", "scopes": ["events:read"], "view_filter": "action sw \"user.\""});
    let embedder: Value =
        app.post_json("/v1/keys", OPERATOR, &body).send().await.expect("sent").json().await.expect("key");
    let link = json!({"view_filter": "status eq \"failure\""});
    let secret = embedder["secret"].as_str().expect("secret");
    let resp = app.post_json("/v1/viewer-links", secret, &link).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let embed_url = resp.json::<Value>().await.expect("link")["url"].as_str().expect("url").to_owned();

    let screenshots = workspace().join("target/viewer-screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let config = json!({
        "base": app.base,
        "chromium": chromium,
        "operator": OPERATOR,
        "tenant": "acme",
        "other_tenant": "globex",
        "email": "ana@acme.io",
        "password": password,
        "invite_path": invite_path,
        "invite_email": "bo@acme.io",
        "other_event_id": theirs["id"],
        "ingest_key": key.secret,
        "screenshots": screenshots,
        "embed_url": embed_url,
        "embed_visible": "user.login",
        "embed_hidden": "doc.read",
        "stream_url": "http://127.0.0.1:9/hook",
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/viewer.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .env("NODE_PATH", &modules)
        .env("STELE_BROWSER_CONFIG", config.to_string())
        .current_dir(modules.parent().expect("modules dir"))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "the browser checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");

    // What the browser did is in the tenant's log.
    let actions: Vec<String> =
        app.all_events("acme").await.iter().map(|e| e["action"].as_str().unwrap_or("").to_owned()).collect();
    for a in [
        "stele.viewer.sign_in_failed",
        "stele.member.password_set",
        "stele.viewer.signed_in",
        "stele.viewer.signed_out",
        "stele.viewer.exported",
        "stele.member.created",
        "stele.key.created",
        "stele.scim_connection.created",
        "stele.stream.created",
        "stele.stream.updated",
        "stele.retention.set",
        "stele.legal_hold.set",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
}
