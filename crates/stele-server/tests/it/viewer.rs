//! The web viewer over HTTP (issue #12): invites, sign-in and sign-out (each in the tenant's
//! log), CSRF on every form, sessions that end when their member is deactivated or deleted,
//! cross-tenant URLs answering 404, sign-in limits, cookies, security headers, and the
//! Events and SCIM Audit Logs pages showing what the JSON API answers. The browser-level
//! checks (real Chromium, axe-core) are in `viewer_browser.rs`.

use crate::common;

use common::viewer_client::{attribute_after, csrf_in, location, Browser, PASSWORD};
use common::{spawn_app, spawn_app_with, TestApp, OPERATOR};
use reqwest::header::SET_COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// Creates a member through the admin API and answers (member id, invite path).
async fn invite(app: &TestApp, tenant: &str, email: &str) -> (String, String) {
    let body = json!({"email": email, "name": format!("Name of {email}"), "role": "auditor"});
    let resp = app.post_json(&format!("/v1/tenants/{tenant}/members"), OPERATOR, &body).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let member: Value = resp.json().await.expect("json");
    let url = member["invite_url"].as_str().expect("an invite URL").to_owned();
    let path = url.strip_prefix(&app.base).expect("the URL names this server").to_owned();
    (member["id"].as_str().expect("id").to_owned(), path)
}

/// A member who has set `PASSWORD` through the invite.
async fn member_with_password(app: &TestApp, tenant: &str, email: &str) -> String {
    let (id, path) = invite(app, tenant, email).await;
    let mut b = Browser::new(app);
    let (status, _, csrf) = b.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    let resp = b.post(&path, &[("csrf", &csrf), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    id
}

fn actions(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn invite_set_password_sign_in_and_out_are_each_logged() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let (_, path) = invite(&app, "acme", "ana@acme.io").await;
    assert!(path.starts_with("/invite/acme/"), "{path}");
    let mut b = Browser::new(&app);

    // Before a password is set, nobody signs in as the member.
    let resp = b.sign_in("acme", "ana@acme.io", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let (status, html, csrf) = b.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    for text in ["Set your password", ">Password</label>", ">Confirm password</label>", ">Set password</button>"] {
        assert!(html.contains(text), "{text}");
    }
    // Mismatched and short passwords are refused, naming the field; nothing is stored.
    let resp = b.post(&path, &[("csrf", &csrf), ("password", PASSWORD), ("confirm", "something else entirely")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("html").contains("Confirm password: the two passwords differ"));
    let resp = b.post(&path, &[("csrf", &csrf), ("password", "short"), ("confirm", "short")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(b.sign_in("acme", "ana@acme.io", "short").await.status(), StatusCode::UNAUTHORIZED);

    let resp = b.post(&path, &[("csrf", &csrf), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/login?tenant=acme&done=password");
    // The invite is single-use.
    assert_eq!(b.page(&path).await.0, StatusCode::NOT_FOUND);

    // A wrong password: 401, the page says only "incorrect", the log says why.
    let resp = b.sign_in("acme", "ana@acme.io", "not the password at all").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.text().await.expect("html").contains("The email or password is incorrect."));
    assert!(!b.cookies.contains_key("stele_session"));

    // The right one (email matched case-insensitively): a session cookie and the Events page.
    let resp = b.sign_in("acme", "Ana@Acme.io", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/t/acme/events");
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("stele_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP without a proxy header: {cookie}");
    let resp = b.get("/t/acme/events").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = resp.text().await.expect("html");
    assert!(html.contains("Name of ana@acme.io") && html.contains(">Events</h1>"));

    // Sign out: the session is gone server-side, so even the old cookie no longer works.
    let old = b.cookies.clone();
    let csrf = csrf_in(&html);
    let resp = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/login?tenant=acme&done=out");
    assert_eq!(b.get("/t/acme/events").await.status(), StatusCode::SEE_OTHER);
    b.cookies = old.clone();
    let resp = b.get("/t/acme/events").await;
    assert_eq!((resp.status(), location(&resp)), (StatusCode::SEE_OTHER, "/login?tenant=acme".to_owned()));

    let events = app.all_events("acme").await;
    let got = actions(&events);
    for a in [
        "stele.member.created",
        "stele.member.invited",
        "stele.member.password_set",
        "stele.viewer.sign_in_failed",
        "stele.viewer.signed_in",
        "stele.viewer.signed_out",
    ] {
        assert!(got.iter().any(|g| g == a), "{a} in {got:?}");
    }
    let failures: Vec<&Value> = events.iter().filter(|e| e["action"] == "stele.viewer.sign_in_failed").collect();
    let reasons: Vec<&str> = failures.iter().map(|e| e["reason"].as_str().unwrap_or_default()).collect();
    assert!(reasons.contains(&"wrong password") && reasons.contains(&"the member has not set a password yet"));
    assert!(failures.iter().all(|e| e["status"] == "failure" && e["actor"]["ip"] == "127.0.0.1"));
    // No secret is in the log: not the password, not the invite token, not the session token.
    let all = serde_json::to_string(&events).expect("json");
    let token = path.rsplit('/').next().expect("token");
    let session_token = old["stele_session"].split('.').nth(1).expect("token");
    for secret in [PASSWORD, token, session_token] {
        assert!(!all.contains(secret), "a secret in the log");
    }
}

#[tokio::test]
async fn every_form_needs_its_csrf_token() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut b = Browser::new(&app);
    let (_, _, csrf) = b.page("/login?tenant=acme").await;
    let form =
        |csrf: &'static str| [("csrf", csrf), ("tenant", "acme"), ("email", "ana@acme.io"), ("password", PASSWORD)];

    // Sign-in without the token, or with another browser's, is refused and signs nobody in.
    let resp = b.post("/login", &form("")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let mut other = Browser::new(&app);
    let (_, _, other_csrf) = other.page("/login").await;
    assert_ne!(other_csrf, csrf, "each browser has its own token");
    let leaked: &'static str = Box::leak(other_csrf.into_boxed_str());
    assert_eq!(b.post("/login", &form(leaked)).await.status(), StatusCode::FORBIDDEN);
    assert!(!b.cookies.contains_key("stele_session"));
    // Positive control: the page's own token signs in.
    let own: &'static str = Box::leak(csrf.into_boxed_str());
    assert_eq!(b.post("/login", &form(own)).await.status(), StatusCode::SEE_OTHER);

    // Sign-out with a wrong token keeps the session; with the page's token it ends it.
    let (_, html, csrf) = b.page("/t/acme/events").await;
    assert!(html.contains("Sign out"));
    assert_eq!(b.post("/logout", &[("csrf", own)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(b.get("/t/acme/events").await.status(), StatusCode::OK, "still signed in");
    assert_eq!(b.post("/logout", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.get("/t/acme/events").await.status(), StatusCode::SEE_OTHER);

    // The invite form too.
    let (_, path) = invite(&app, "acme", "bo@acme.io").await;
    let mut c = Browser::new(&app);
    let (_, _, csrf) = c.page(&path).await;
    let resp = c.post(&path, &[("csrf", "x"), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(c.page(&path).await.0, StatusCode::OK, "the invite is still pending");
    let resp = c.post(&path, &[("csrf", &csrf), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_deactivated_or_deleted_member_loses_every_session_at_once() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let id = member_with_password(&app, "acme", "ana@acme.io").await;
    let mut one = Browser::new(&app);
    let mut two = Browser::new(&app);
    assert_eq!(one.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(two.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(one.get("/t/acme/events").await.status(), StatusCode::OK);
    assert_eq!(two.get("/t/acme/events").await.status(), StatusCode::OK);

    let member_path = format!("/v1/tenants/acme/members/{id}");
    let resp = app.patch_json(&member_path, OPERATOR, &json!({"active": false})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(one.get("/t/acme/events").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(two.get("/t/acme/scim-logs").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(one.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let events = app.all_events("acme").await;
    assert!(events.iter().any(|e| e["reason"] == "the member is deactivated"));

    // Reactivated: signs in again; deleted: that session ends too.
    let resp = app.patch_json(&member_path, OPERATOR, &json!({"active": true})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(one.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(one.get("/t/acme/events").await.status(), StatusCode::OK);
    let resp = app.http.delete(app.url(&member_path)).bearer_auth(OPERATOR).send().await.expect("sent");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(one.get("/t/acme/events").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn another_tenants_urls_answer_404() {
    let app = spawn_app().await;
    let a = app.tenant_with_key("acme").await;
    let b = app.tenant_with_key("globex").await;
    let mine = app.ingest_ok(&a.secret, &json!({"action": "doc.read"})).await;
    let theirs = app.ingest_ok(&b.secret, &json!({"action": "doc.secret"})).await;
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut br = Browser::new(&app);
    assert_eq!(br.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);

    let mine = format!("/t/acme/events/{}", mine["id"].as_str().expect("id"));
    let (status, html, _) = br.page(&mine).await;
    assert_eq!(status, StatusCode::OK, "positive control");
    assert!(html.contains("doc.read"));
    let theirs_id = theirs["id"].as_str().expect("id");
    for path in [
        "/t/globex/events".to_owned(),
        "/t/globex/scim-logs".to_owned(),
        format!("/t/globex/events/{theirs_id}"),
        format!("/t/acme/events/{theirs_id}"),
        "/t/nobody/events".to_owned(),
        "/t/acme/events/not-an-id".to_owned(),
    ] {
        let (status, html, _) = br.page(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!html.contains("doc.secret"), "{path}");
    }
    // Signing in to globex with acme's member fails: members are per tenant.
    assert_eq!(br.sign_in("globex", "ana@acme.io", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cookies_are_secure_behind_an_https_proxy() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut b = Browser::new(&app);
    b.forwarded_https = true;
    let resp = b.sign_in("acme", "ana@acme.io", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers().get(SET_COOKIE).and_then(|c| c.to_str().ok()).unwrap_or_default().to_owned();
    assert!(cookie.starts_with("stele_session=") && cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_account() {
    let app = spawn_app_with(|c| c.viewer.login_attempts_per_account_per_minute = 3).await;
    app.create_tenant("acme").await;
    member_with_password(&app, "acme", "ana@acme.io").await;
    member_with_password(&app, "acme", "bo@acme.io").await;
    let mut b = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(b.sign_in("acme", "ana@acme.io", "wrong password, again").await.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = b.sign_in("acme", "ana@acme.io", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(resp.headers().get("retry-after").is_some());
    // Another account is not held up.
    assert_eq!(b.sign_in("acme", "bo@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_events_page_filters_pages_and_details() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let batch: Vec<Value> = (0..60)
        .map(|i| {
            json!({"action": if i % 2 == 0 { "doc.read" } else { "user.login" },
                   "status": if i % 3 == 0 { "failure" } else { "success" },
                   "message": format!("event number {i}"),
                   "actor": {"name": "Ana <script>", "email": "ana@acme.io"},
                   "changes": {"before": {"role": "member"}, "after": {"role": "admin"}},
                   "time": format!("2026-01-01T00:{:02}:00Z", i)})
        })
        .collect();
    let resp = app.ingest(&key.secret, &json!({"events": batch})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);

    // A filter error is shown at its position.
    let (status, html, _) = b.page("/t/acme/events?filter=status%20eq%20%22failure%22%20and%20%3D%3D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Invalid filter</strong> at column 25:"), "{html}");
    assert!(html.contains("and </span><mark>=</mark><span>="), "the first = is marked: {html}");

    // Filter + chips: the same rows as the JSON API.
    let (status, html, _) = b.page("/t/acme/events?filter=action%20eq%20%22doc.read%22&status=failure").await;
    assert_eq!(status, StatusCode::OK);
    let rows = html.matches("<tr data-href=").count();
    let api: Value = app
        .op_get("/v1/events?filter=action%20eq%20%22doc.read%22%20and%20status%20eq%20%22failure%22&limit=100", "acme")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(rows, api["events"].as_array().expect("events").len());
    assert_eq!(rows, 10, "i even and a multiple of 3 among 0..60");
    assert!(html.contains("Ana &lt;script&gt;"), "escaped");

    // Paging: 50 rows, then the rest through the Older link.
    let (_, html, _) = b.page("/t/acme/events?action=doc.").await;
    assert_eq!(html.matches("<tr data-href=").count(), 30, "{html}");
    let (_, html, _) = b.page("/t/acme/events?filter=action%20sw%20%22doc.%22%20or%20action%20sw%20%22user.%22").await;
    assert_eq!(html.matches("<tr data-href=").count(), 50);
    let next = html.split(r#"<a class="btn" href=""#).nth(1).and_then(|r| r.split('"').next()).expect("an Older link");
    let next = next.replace("&#x2f;", "/").replace("&quot;", "\"").replace("&amp;", "&");
    let (status, html2, _) = b.page(&next).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html2.matches("<tr data-href=").count(), 10);
    assert!(html2.contains(">Newest</a>"));

    // Detail: every field, the diff, the leaf hash the API serves.
    let first = &api["events"][0];
    let (status, html, _) = b.page(&format!("/t/acme/events/{}", first["id"].as_str().expect("id"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(first["hash"].as_str().expect("hash")), "leaf hash");
    assert!(html.contains(r#"<tr class="changed"><td class="mono">role</td>"#), "diff row");
    assert!(html.contains(first["message"].as_str().expect("message")));
}

#[tokio::test]
async fn the_scim_logs_page_shows_what_the_json_api_answers() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let (conn, token) = app.scim_connection("acme").await;
    let scim = |path: &str| format!("{}/scim/v2/{conn}{path}", app.base);
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bo@acme.io", "active": true});
    let resp = app.http.post(scim("/Users")).bearer_auth(&token).json(&user).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app.http.post(scim("/Users")).bearer_auth(&token).json(&user).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CONFLICT, "a failed request, for the (i) control");
    let resp = app.http.get(scim("/Users?filter=userName%20eq%20%22bo%40acme.io%22")).bearer_auth(&token).send().await;
    assert_eq!(resp.expect("sent").status(), StatusCode::OK);
    let resp = app.http.get(scim("/Groups")).bearer_auth(&token).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);

    let (status, html, _) = b.page("/t/acme/scim-logs").await;
    assert_eq!(status, StatusCode::OK);
    for h in [
        "Request ID",
        "Time",
        "Status",
        "HTTP Method",
        "Endpoint",
        "Query Parameter",
        "Status Code",
        "Response",
        "Request",
    ] {
        assert!(html.contains(&format!(r#"<th scope="col">{h}</th>"#)), "{h}");
    }
    assert!(html.contains(r#"aria-label="Error details""#), "the failed row has the (i) control");

    let ids = |html: &str| -> Vec<String> {
        html.split(r#"data-request-id=""#).skip(1).filter_map(|r| r.split('"').next()).map(str::to_owned).collect()
    };
    for (page, api) in [
        ("", ""),
        ("method=POST", "method=POST"),
        ("method=GET&resource_type=Groups", "method=GET&resource_type=Groups"),
        ("status=failed", "status=failed"),
        ("status=success&endpoint=%2FUsers", "status=success&endpoint=%2FUsers"),
        ("start_date=2000-01-01&end_date=2000-01-02", "from=2000-01-01T00:00:00Z&to=2000-01-03T00:00:00Z"),
    ] {
        let (status, html, _) = b.page(&format!("/t/acme/scim-logs?{page}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let json: Value =
            app.op_get(&format!("/v1/scim-log?{api}"), "acme").send().await.expect("sent").json().await.expect("json");
        let want: Vec<String> = json["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["request"]["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(ids(&html), want, "{page}");
        if page.is_empty() {
            assert_eq!(want.len(), 4, "positive control: every request is a row");
        }
    }
    // Bad input names the parameter.
    let (status, html, _) = b.page("/t/acme/scim-logs?method=BREW").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("method: must be one of"));
}

#[tokio::test]
async fn a_new_invite_replaces_a_lost_password() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let id = member_with_password(&app, "acme", "ana@acme.io").await;
    let path = format!("/v1/tenants/acme/members/{id}/invite");
    let resp = app.post_json(&path, OPERATOR, &json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let url = resp.json::<Value>().await.expect("json")["invite_url"].as_str().expect("url").to_owned();
    let invite_path = url.strip_prefix(&app.base).expect("this server").to_owned();

    // The old password works until the new invite is used; then only the new one does.
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let (_, _, csrf) = b.page(&invite_path).await;
    let new = "another long passphrase";
    let resp = b.post(&invite_path, &[("csrf", &csrf), ("password", new), ("confirm", new)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let mut c = Browser::new(&app);
    assert_eq!(c.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.sign_in("acme", "ana@acme.io", new).await.status(), StatusCode::SEE_OTHER);
    let invited = actions(&app.all_events("acme").await).iter().filter(|a| *a == "stele.member.invited").count();
    assert_eq!(invited, 2);

    // A deactivated member gets no invite; an unknown one is 404.
    let member = format!("/v1/tenants/acme/members/{id}");
    let resp = app.patch_json(&member, OPERATOR, &json!({"active": false})).send().await;
    assert_eq!(resp.expect("sent").status(), StatusCode::OK);
    let resp = app.post_json(&path, OPERATOR, &json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let unknown = "/v1/tenants/acme/members/01936f3e-0000-7000-8000-000000000000/invite";
    let resp = app.post_json(unknown, OPERATOR, &json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn histogram_and_facets_count_what_the_reader_may_list() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let batch: Vec<Value> = (0..12)
        .map(|i| {
            json!({"action": if i < 8 { "doc.read" } else { "user.login" },
                   "status": if i % 4 == 0 { "failure" } else { "success" },
                   "actor": {"email": if i % 2 == 0 { "ana@acme.io" } else { "bo@acme.io" }},
                   "targets": [{"type": "Document", "id": format!("d{i}")}],
                   "context": {"team": if i < 6 { "red" } else { "blue" }},
                   "time": format!("2026-03-01T{:02}:10:00Z", i)})
        })
        .collect();
    assert_eq!(app.ingest(&key.secret, &json!({"events": batch})).await.status(), StatusCode::CREATED);
    let filter = "filter=action%20sw%20%22doc.%22%20or%20action%20sw%20%22user.%22";

    // Histogram: 12 events, one an hour; buckets cover them all.
    let h: Value = app
        .op_get(&format!("/v1/events/histogram?{filter}&buckets=12"), "acme")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(h["total"], 12, "{h}");
    assert_eq!(h["bucket_seconds"], 3600);
    let counts: Vec<u64> =
        h["buckets"].as_array().expect("buckets").iter().map(|b| b["count"].as_u64().expect("n")).collect();
    assert_eq!(counts, vec![1; 12]);
    assert_eq!(h["buckets"][0]["from"], "2026-03-01T00:00:00.000000Z");
    let h: Value = app
        .op_get(
            &format!("/v1/events/histogram?{filter}&from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z&buckets=4"),
            "acme",
        )
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let counts: Vec<u64> =
        h["buckets"].as_array().expect("buckets").iter().map(|b| b["count"].as_u64().expect("n")).collect();
    assert_eq!((h["bucket_seconds"].as_u64(), counts), (Some(6 * 3600), vec![6, 6, 0, 0]));

    // Facets: the filter's events only.
    let f: Value = app
        .op_get(&format!("/v1/events/facets?{filter}&limit=5"), "acme")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        f["facets"],
        json!([
            {"attribute": "action", "values": [{"value": "doc.read", "count": 8}, {"value": "user.login", "count": 4}]},
            {"attribute": "status", "values": [{"value": "success", "count": 9}, {"value": "failure", "count": 3}]},
            {"attribute": "actor.email", "values": [{"value": "ana@acme.io", "count": 6}, {"value": "bo@acme.io", "count": 6}]},
            {"attribute": "target.type", "values": [{"value": "document", "count": 12}]}
        ])
    );
    // A key's view bounds the counts: an event outside it is not counted anywhere.
    let body = json!({"tenant": "acme", "name": "red team", "scopes": ["events:read"], "view_filter": r#"context.team eq "red""#});
    let resp = app.post_json("/v1/keys", OPERATOR, &body).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let red = resp.json::<Value>().await.expect("json")["secret"].as_str().expect("secret").to_owned();
    let h: Value = app
        .get(&format!("/v1/events/histogram?{filter}"), &red)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(h["total"], 6);
    let f: Value = app
        .get(&format!("/v1/events/facets?{filter}&facets=action"), &red)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(f["facets"], json!([{"attribute": "action", "values": [{"value": "doc.read", "count": 6}]}]));
    // Bad parameters are named.
    let resp = app.op_get("/v1/events/facets?facets=colour", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("text").contains("facets"));
    let resp = app.op_get("/v1/events/histogram?buckets=0", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // The page draws both: bars that zoom, facet values that filter.
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let (status, page, _) = b.page(&format!("/t/acme/events?{filter}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<figure class=\"card histogram\""), "the page is painted before the counts");
    let html = summary_of(&mut b, &page).await;
    // Without a script, the same summary is in the page itself.
    let (status, inline, _) = b.page(&format!("/t/acme/events?{filter}&summary=inline")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(inline.contains(&html), "the inline page holds the same summary");
    assert!(html.contains("<figure class=\"card histogram\""), "{html}");
    assert!(html.contains("12 events"), "the caption's total");
    assert!(html.contains(r#"<span class="value">doc.read</span><span class="n">8</span>"#), "{html}");
    let zoom = html
        .split(r#"<svg viewBox"#)
        .nth(1)
        .and_then(|s| s.split(r#"<a href=""#).nth(1))
        .and_then(|s| s.split('"').next())
        .expect("a bar link");
    let zoom = zoom.replace("&#x2f;", "/").replace("&quot;", "\"").replace("&amp;", "&");
    let (status, html, _) = b.page(&zoom).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<tr data-href=").count(), 1, "one event in the first bar's hour");
    assert!(html.contains(r#"type="text" value="2026-03-01T00:00:00.000000Z""#), "the zoomed range stays in the form");
}

/// The Live page: the newest rows, then a stream of rendered rows (cookie session, same
/// filter and words as the page), starting after what the table showed; a stream without a
/// session is a 401 (an EventSource cannot follow the sign-in redirect); another tenant's
/// stream is a 404.
#[tokio::test]
async fn the_live_page_streams_new_rows_after_the_ones_it_shows() {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;

    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    app.create_tenant("globex").await;
    app.ingest_ok(&key.secret, &json!({"action": "user.created", "message": "Shown in the table"})).await;
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);

    let (status, html, _) = b.page("/t/acme/live?filter=action%20sw%20%22user.%22").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Shown in the table"), "the newest rows are rendered");
    assert!(html.contains(r#"aria-current="page">Live</a>"#), "the Live entry is current");
    let stream = html.split(r#"data-live=""#).nth(1).and_then(|r| r.split('"').next()).expect("a stream URL");
    let stream = stream.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(stream.starts_with("/t/acme/live/stream?") && stream.contains("after="), "{stream}");

    let response = b.get(&stream).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut messages = response.bytes_stream().eventsource();
    let wait = std::time::Duration::from_secs(15);
    let ready = tokio::time::timeout(wait, messages.next()).await.expect("in time").expect("open").expect("ok");
    assert_eq!(ready.event, "ready");
    let events = json!({"events": [{"action": "billing.paid", "message": "filtered out"},
        {"action": "user.renamed", "message": "<b>Ana</b> renamed", "actor": {"email": "ana@acme.io"}}]});
    app.ingest_ok(&key.secret, &events).await;
    let m = tokio::time::timeout(wait, messages.next()).await.expect("in time").expect("open").expect("ok");
    assert_eq!(m.event, "event");
    let row: Value = serde_json::from_str(&m.data).expect("a row");
    assert_eq!(row["action"], "user.renamed", "the page's filter applies; the row before it was not shown");
    assert_eq!(row["message"], "<b>Ana</b> renamed", "text, laid out with textContent by the script");
    assert!(row["href"].as_str().is_some_and(|h| h.starts_with("/t/acme/events/")), "{row}");

    // Without a session: 401, not a redirect. Another tenant's stream: 404.
    let anonymous = app.http.get(app.url(&stream)).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(b.get("/t/globex/live/stream").await.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}

/// The histogram and facets that the Events page `html` loads with its script (the
/// fragment at its `data-summary-href`).
async fn summary_of(b: &mut Browser, html: &str) -> String {
    let href = attribute_after(html, r#"data-summary-href=""#);
    assert!(!href.is_empty(), "a summary link");
    let (status, fragment, _) = b.page(&href).await;
    assert_eq!(status, StatusCode::OK, "{href}");
    fragment
}

/// A key of `tenant` with `scopes` and a view filter; answers (id, secret).
async fn key_with_view(app: &TestApp, tenant: &str, scopes: &[&str], view: &str) -> (String, String) {
    let body = json!({"tenant": tenant, "name": "embedder", "scopes": scopes, "view_filter": view});
    let resp = app.post_json("/v1/keys", OPERATOR, &body).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let key: Value = resp.json().await.expect("key");
    (key["id"].as_str().expect("id").to_owned(), key["secret"].as_str().expect("secret").to_owned())
}

async fn links_made(app: &TestApp) -> usize {
    app.all_events("acme").await.iter().filter(|e| e["action"] == "stele.viewer.link_created").count()
}

async fn make_link(app: &TestApp, secret: &str, body: &Value) -> Response {
    app.post_json("/v1/viewer-links", secret, body).send().await.expect("sent")
}

#[tokio::test]
async fn an_embed_link_opens_once_a_read_only_session_that_sees_only_its_view() {
    let app = spawn_app().await;
    let writer = app.tenant_with_key("acme").await;
    app.tenant_with_key("globex").await;
    let event =
        |action: &str, status: &str, message: &str| json!({"action": action, "status": status, "message": message});
    let batch = json!({"events": [
        event("user.login", "failure", "visible-failed-login"),
        event("user.login", "success", "hidden-good-login"),
        event("billing.charge", "failure", "hidden-billing-charge"),
    ]});
    let ids: Vec<String> = {
        let resp = app.ingest(&writer.secret, &batch).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.expect("receipts");
        body["events"].as_array().expect("events").iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect()
    };
    let (key_id, secret) = key_with_view(&app, "acme", &["events:read"], "action sw \"user.\"").await;

    // Refusals change nothing.
    for (body, status) in [
        (json!({"ttl_seconds": 0}), StatusCode::BAD_REQUEST),
        (json!({"ttl_seconds": 901}), StatusCode::BAD_REQUEST),
        (json!({"view_filter": "status eq"}), StatusCode::BAD_REQUEST),
        (json!({"view": "status eq \"failure\""}), StatusCode::BAD_REQUEST),
    ] {
        let resp = make_link(&app, &secret, &body).await;
        assert_eq!(resp.status(), status, "{body}");
    }
    let writer_only = app.create_key("acme", &["events:write"]).await;
    assert_eq!(make_link(&app, &writer_only.secret, &json!({})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(make_link(&app, OPERATOR, &json!({})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(links_made(&app).await, 0, "no refused request made a link");

    // The link: the key's view AND the requested one.
    let resp = make_link(&app, &secret, &json!({"view_filter": "status eq \"failure\"", "ttl_seconds": 60})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let link: Value = resp.json().await.expect("link");
    let url = link["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("{}/viewer-link/acme/{key_id}/", app.base)), "{url}");
    let view = link["view_filter"].as_str().expect("view");
    assert!(view.contains("user.") && view.contains("failure"), "{view}");
    assert_eq!(links_made(&app).await, 1);

    // A link with another key's id in it does not open (positive control: the real one does).
    let mut br = Browser::new(&app);
    let forged = url.replace(&key_id, &writer.id);
    assert_eq!(br.get(&forged).await.status(), StatusCode::NOT_FOUND);
    let opened = br.get(&url).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&opened), "/t/acme/events");
    let cookie = opened.headers().get(SET_COOKIE).and_then(|c| c.to_str().ok()).expect("a cookie").to_owned();
    assert!(cookie.starts_with("stele_link=acme.") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert_eq!(Browser::new(&app).get(&url).await.status(), StatusCode::NOT_FOUND, "single use");

    // The session sees its view only: rows, facets, histogram, details.
    let (status, html, _) = br.page("/t/acme/events").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("visible-failed-login"), "the view's event is shown");
    let summary = summary_of(&mut br, &html).await;
    assert!(summary.contains("user.login") && summary.contains("1 event"), "its facets and histogram: {summary}");
    for hidden in ["hidden-good-login", "hidden-billing-charge", "billing.charge"] {
        assert!(!html.contains(hidden) && !summary.contains(hidden), "{hidden} is outside the view, even in facets");
    }
    assert_eq!(br.page(&format!("/t/acme/events/{}", ids[0])).await.0, StatusCode::OK);
    for hidden in &ids[1..] {
        assert_eq!(br.page(&format!("/t/acme/events/{hidden}")).await.0, StatusCode::NOT_FOUND, "{hidden}");
    }
    let (status, html, _) = br.page("/t/acme/live").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("visible-failed-login") && !html.contains("hidden-"), "the Live page too");
    assert_eq!(br.page("/t/globex/events").await.0, StatusCode::NOT_FOUND, "its tenant only");
    // Its proofs only for what it sees; read-only: no admin page, and no export (the key has
    // no events:export).
    assert_eq!(br.get(&format!("/t/acme/events/{}/proof", ids[0])).await.status(), StatusCode::OK);
    assert_eq!(br.get(&format!("/t/acme/events/{}/proof", ids[2])).await.status(), StatusCode::NOT_FOUND);
    for page in ["/t/acme/admin/members", "/t/acme/admin/keys", "/t/acme/admin/scim", "/t/acme/export"] {
        assert_eq!(br.page(page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
    assert_eq!(br.page("/t/acme/integrity").await.0, StatusCode::OK, "positive control: a page it may see");

    // Positive control: a member of the tenant sees what the link hides.
    member_with_password(&app, "acme", "ana@acme.io").await;
    let mut member = Browser::new(&app);
    assert_eq!(member.sign_in("acme", "ana@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let (_, html, _) = member.page("/t/acme/events").await;
    assert!(html.contains("hidden-billing-charge"));
    assert!(summary_of(&mut member, &html).await.contains("billing.charge"), "in the member's facets");

    // Both ends are in the log.
    let log = app.all_events("acme").await;
    let used = log.iter().find(|e| e["action"] == "stele.viewer.link_used").expect("link_used logged");
    assert_eq!(used["actor"]["id"], key_id.as_str());
    assert_eq!(log.iter().filter(|e| e["action"] == "stele.viewer.link_used").count(), 1, "one use");

    // Revoking the key ends the session.
    let resp =
        app.http.delete(app.url(&format!("/v1/keys/{key_id}"))).bearer_auth(OPERATOR).send().await.expect("sent");
    assert!(resp.status().is_success(), "revoked: {}", resp.status());
    let resp = br.get("/t/acme/events").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the session ended with its key");
}
