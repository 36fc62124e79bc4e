//! The Admin page's Streams and Retention tabs over HTTP: both are for admins and owners
//! only (403 for auditors and members, with an admin as the positive control), every form
//! without its CSRF token changes nothing, a stream made on the page is the one
//! `GET /v1/streams` shows and its event names the member, pause/resume/delete work, a
//! refused form shows the API's message and changes nothing, secrets never reach the HTML,
//! an edit on the page is the API's PATCH (its event, a blank secret kept: the webhook
//! receiver here checks deliveries against the old secret), a refused or stale edit changes
//! nothing, and the retention forms (period, hold, lift, apply now) do what the API does, as
//! events, Apply now as a redirect whose reload runs nothing.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::viewer_client::{attribute_after, location, signed_in_as, unescape, Browser};
use common::{spawn_app_with, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};
use stele_core::Timestamp;

const SECRET: &str = "whsec_page_0123456789abcdef";
const DAY_MICROS: i64 = 86_400_000_000;

async fn app() -> TestApp {
    spawn_app_with(|c| c.streams.allow_http = true).await
}

async fn streams(app: &TestApp) -> Vec<Value> {
    let resp = app.op_get("/v1/streams", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.expect("json")["streams"].as_array().expect("streams").clone()
}

/// What a change would alter: each stream's id, name, version and whether it is paused
/// (its delivery status moves by itself: a closed port fails).
async fn records(app: &TestApp) -> Vec<Value> {
    streams(app).await.iter().map(|s| json!([s["id"], s["name"], s["version"], s["state"] == "paused"])).collect()
}

async fn retention(app: &TestApp) -> Value {
    let resp = app.get("/v1/tenants/acme/retention", OPERATOR).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

fn by(events: &[Value], action: &str) -> Vec<Value> {
    events.iter().filter(|e| e["action"] == action).cloned().collect()
}

/// The webhook form as a browser posts it (a closed local port: delivery fails, visibly).
fn webhook_form<'a>(csrf: &'a str, name: &'a str, url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("kind", "webhook"),
        ("name", name),
        ("url", url),
        ("secret", SECRET),
        ("filter", r#"action sw "user.""#),
        ("start", "beginning"),
    ]
}

/// A stream made through the API, for the forms that change one.
async fn api_stream(app: &TestApp, name: &str) -> String {
    let body = json!({"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET});
    let resp =
        app.post_json("/v1/streams", OPERATOR, &body).header("x-stele-tenant", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_tabs_are_for_admins_only() {
    let app = app().await;
    app.tenant_with_key("acme").await;
    app.create_tenant("globex").await;
    let id = api_stream(&app, "Splunk").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let mut auditor = signed_in_as(&app, "acme", "aud@acme.io", "auditor").await;
    let mut member = signed_in_as(&app, "acme", "mel@acme.io", "member").await;

    let edit = format!("/t/acme/admin/streams/{id}/edit");
    for page in ["/t/acme/admin/streams", "/t/acme/admin/retention", "/t/acme/admin/streams?kind=s3", &edit] {
        let (status, html, _) = admin.page(page).await;
        assert_eq!(status, StatusCode::OK, "{page} for an admin");
        assert!(html.contains(">Streams</a>") && html.contains(">Retention</a>"), "both tabs in the tab bar");
        for who in [&mut auditor, &mut member] {
            let (status, html, _) = who.page(page).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
            assert!(!html.contains("Splunk"), "a refused page shows nothing of the tenant's streams");
        }
        assert_eq!(admin.get(&page.replace("acme", "globex")).await.status(), StatusCode::NOT_FOUND);
    }
    // A non-admin's forms are refused too, even with its own valid CSRF token.
    let (_, html, csrf) = member.page("/t/acme/events").await;
    assert!(!html.contains("/edit"), "no Edit link anywhere for a member");
    let pause = format!("/t/acme/admin/streams/{id}/pause");
    for (path, form) in [
        ("/t/acme/admin/streams", webhook_form(&csrf, "Mine", "http://127.0.0.1:9/x")),
        (pause.as_str(), vec![("csrf", csrf.as_str())]),
        (
            edit.as_str(),
            vec![("csrf", csrf.as_str()), ("version", "1"), ("name", "Mine"), ("url", "http://127.0.0.1:9/x")],
        ),
        ("/t/acme/admin/retention", vec![("csrf", csrf.as_str()), ("mode", "days"), ("days", "1")]),
        ("/t/acme/admin/retention/apply", vec![("csrf", csrf.as_str())]),
    ] {
        assert_eq!(member.post(path, &form).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(streams(&app).await.len(), 1, "no stream made");
    assert_ne!(streams(&app).await[0]["state"], "paused", "not paused");
    assert_eq!(streams(&app).await[0]["name"], "Splunk", "not renamed");
    assert_eq!(streams(&app).await[0]["version"], 1, "not changed at all");
    assert_eq!(retention(&app).await["days"], Value::Null, "no period set");
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = app().await;
    app.tenant_with_key("acme").await;
    let id = api_stream(&app, "Splunk").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, _, csrf) = admin.page("/t/acme/admin/streams").await;
    let (before_streams, before_retention, before_count) =
        (records(&app).await, retention(&app).await, app.count("acme").await);
    let pause = format!("/t/acme/admin/streams/{id}/pause");
    let delete = format!("/t/acme/admin/streams/{id}/delete");
    let edit = format!("/t/acme/admin/streams/{id}/edit");
    for token in [None, Some("tampered")] {
        let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("/t/acme/admin/streams", webhook_form("", "Other", "http://127.0.0.1:9/x")[1..].to_vec()),
            (pause.as_str(), vec![]),
            (edit.as_str(), vec![("version", "1"), ("name", "Renamed"), ("url", "http://127.0.0.1:9/x")]),
            (delete.as_str(), vec![]),
            ("/t/acme/admin/retention", vec![("mode", "days"), ("days", "30")]),
            ("/t/acme/admin/retention/hold", vec![("reason", "Matter 7")]),
            ("/t/acme/admin/retention/apply", vec![]),
        ];
        for (path, mut form) in forms {
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let resp = admin.post(path, &form).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(resp.text().await.expect("html").contains("Form expired"), "{path}");
        }
    }
    assert_eq!(records(&app).await, before_streams, "streams unchanged");
    assert_eq!(retention(&app).await, before_retention, "retention unchanged");
    assert_eq!(app.count("acme").await, before_count, "no event at all");

    // Positive control: the same pause and edit with the token work.
    let resp = admin.post(&pause, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(streams(&app).await[0]["state"], "paused");
    let form = [("csrf", csrf.as_str()), ("version", "2"), ("name", "Renamed"), ("url", "http://127.0.0.1:9/x")];
    assert_eq!(admin.post(&edit, &form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(streams(&app).await[0]["name"], "Renamed");
    // And the lift form, once a hold is set through the API.
    let put = app.http.put(app.url("/v1/tenants/acme/legal-hold")).bearer_auth(OPERATOR);
    assert_eq!(put.json(&json!({"reason": "Matter 7"})).send().await.expect("sent").status(), StatusCode::OK);
    assert_eq!(admin.post("/t/acme/admin/retention/lift", &[]).await.status(), StatusCode::FORBIDDEN);
    assert!(retention(&app).await["legal_hold"].is_object(), "still held");
    assert_eq!(admin.post("/t/acme/admin/retention/lift", &[("csrf", &csrf)]).await.status(), StatusCode::SEE_OTHER);
    assert!(retention(&app).await["legal_hold"].is_null(), "lifted");
}

#[tokio::test]
async fn a_stream_made_on_the_page_is_the_apis_and_pause_resume_delete_work() {
    let app = app().await;
    app.tenant_with_key("acme").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, html, csrf) = admin.page("/t/acme/admin/streams?kind=webhook").await;
    assert!(html.contains("No streams yet"));

    let resp = admin.post("/t/acme/admin/streams", &webhook_form(&csrf, "SIEM hook", "http://127.0.0.1:9/hook")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/t/acme/admin/streams?done=created");
    let listed = streams(&app).await;
    assert_eq!(listed.len(), 1);
    let s = &listed[0];
    assert_eq!((s["name"].as_str(), s["kind"].as_str()), (Some("SIEM hook"), Some("webhook")));
    assert_eq!(s["destination"]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(s["filter"], r#"action sw "user.""#);
    let id = s["id"].as_str().expect("id").to_owned();

    let (_, html, _) = admin.page("/t/acme/admin/streams?done=created").await;
    let text = unescape(&html);
    assert!(text.contains("The stream is created"), "the notice");
    for shown in ["SIEM hook", "http://127.0.0.1:9/hook", r#"action sw "user.""#, &format!("stream-{id}")] {
        assert!(text.contains(shown), "the row shows {shown}");
    }
    assert!(!html.contains(SECRET) && !html.contains("whsec_"), "the secret never reaches the page");

    let events = app.all_events("acme").await;
    let created = by(&events, "stele.stream.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"]["email"], "ada@acme.io", "the member made it");
    assert_eq!(created[0]["targets"][0]["id"], id.as_str());

    for (op, state, action) in
        [("pause", "paused", "stele.stream.paused"), ("resume", "active", "stele.stream.resumed")]
    {
        let resp = admin.post(&format!("/t/acme/admin/streams/{id}/{op}"), &[("csrf", &csrf)]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{op}");
        let now = &streams(&app).await[0]["state"];
        assert!(now == state || (op == "resume" && now == "failing"), "{op}: {now}");
        let events = app.all_events("acme").await;
        assert_eq!(by(&events, action)[0]["actor"]["email"], "ada@acme.io", "{action}");
    }
    let (_, html, _) = admin.page("/t/acme/admin/streams").await;
    assert!(html.contains(">Pause<span class=\"sr-only\"> SIEM hook</span>"), "a running stream offers Pause");

    let resp = admin.post(&format!("/t/acme/admin/streams/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(streams(&app).await.is_empty(), "deleted");
    assert_eq!(by(&app.all_events("acme").await, "stele.stream.deleted")[0]["actor"]["email"], "ada@acme.io");
    let resp = admin.post(&format!("/t/acme/admin/streams/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "a second delete is the API's 404, on the page");
}

#[tokio::test]
async fn a_refused_stream_shows_the_apis_message_keeps_the_form_and_changes_nothing() {
    let app = app().await;
    app.tenant_with_key("acme").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, _, csrf) = admin.page("/t/acme/admin/streams").await;
    let count = app.count("acme").await;

    let resp = admin.post("/t/acme/admin/streams", &webhook_form(&csrf, "Bad", "not a url")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    assert!(html.contains(r#"role="alert" id="new-error">url: "#), "the API's message, next to the form: {html}");
    assert!(html.contains(r#"value="Bad""#) && html.contains(r#"value="not a url""#), "what was typed is kept");
    assert!(!html.contains(SECRET), "except the secret");
    assert!(streams(&app).await.is_empty() && app.count("acme").await == count, "nothing changed");

    // Another kind's refusal keeps that kind's form; a bad number is the API's message too.
    let form =
        [("csrf", csrf.as_str()), ("kind", "syslog"), ("name", "Rsyslog"), ("host", "logs.acme.io"), ("port", "99999")];
    let resp = admin.post("/t/acme/admin/streams", &form).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"new-error\">port: "), "{html}");
    assert!(html.contains("Syslog settings") && html.contains(r#"value="logs.acme.io""#));

    // An S3 stream with a secret key: made, listed without either secret.
    let form = [
        ("csrf", csrf.as_str()),
        ("kind", "s3"),
        ("name", "Archive"),
        ("endpoint", "http://127.0.0.1:9"),
        ("bucket", "acme-audit"),
        ("path_style", "on"),
        ("access_key_id", "AKIAPAGETEST"),
        ("secret_access_key", "s3-secret-never-shown"),
        ("max_events", "500"),
    ];
    assert_eq!(admin.post("/t/acme/admin/streams", &form).await.status(), StatusCode::SEE_OTHER);
    let s = &streams(&app).await[0];
    assert_eq!(s["destination"]["path_style"], true);
    assert_eq!(s["destination"]["max_events"], 500);
    let (_, html, _) = admin.page("/t/acme/admin/streams").await;
    assert!(unescape(&html).contains("s3://acme-audit/ at http://127.0.0.1:9"), "the destination summary");
    assert!(!html.contains("AKIAPAGETEST") && !html.contains("s3-secret-never-shown"), "no secret in the HTML");
}

#[tokio::test]
async fn retention_set_hold_lift_and_apply_work_and_are_events() {
    let app = app().await;
    let key = app.tenant_with_key("acme").await;
    let old = Timestamp::from_micros(Timestamp::now().as_micros() - 40 * DAY_MICROS).to_string();
    let events: Vec<Value> =
        (0..3).map(|i| json!({"action": "doc.read", "time": old, "actor": {"id": format!("u{i}")}})).collect();
    app.ingest_ok(&key.secret, &json!({ "events": events })).await;
    app.ingest_ok(&key.secret, &json!({"action": "doc.read"})).await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, html, csrf) = admin.page("/t/acme/admin/retention").await;
    assert!(html.contains("<strong>Forever</strong>"), "no period anywhere: kept forever");

    let resp = admin.post("/t/acme/admin/retention", &[("csrf", &csrf), ("mode", "days"), ("days", "0")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("html").contains("days: must be 1"), "the API's bound");
    assert_eq!(retention(&app).await["days"], Value::Null, "nothing set");

    let resp = admin.post("/t/acme/admin/retention", &[("csrf", &csrf), ("mode", "days"), ("days", "30")]).await;
    assert_eq!(location(&resp), "/t/acme/admin/retention?done=period");
    assert_eq!(retention(&app).await["days"], 30);
    let (_, html, _) = admin.page("/t/acme/admin/retention").await;
    assert!(html.contains("<strong>30 days</strong>") && html.contains("this tenant&#x27;s setting"), "{html}");

    let resp = admin.post("/t/acme/admin/retention/hold", &[("csrf", &csrf), ("reason", "Matter 2026-114")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(retention(&app).await["legal_hold"]["reason"], "Matter 2026-114");
    let resp = admin.post("/t/acme/admin/retention/apply", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "Apply now redirects");
    let held = location(&resp);
    assert_eq!(held, "/t/acme/admin/retention?done=applied&expired=0&held=true");
    let (status, html, _) = admin.page(&held).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Nothing was removed: the log is under legal hold."), "held: nothing removed");

    let resp = admin.post("/t/acme/admin/retention/lift", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(retention(&app).await["legal_hold"].is_null());
    let resp = admin.post("/t/acme/admin/retention/apply", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let applied = location(&resp);
    assert_eq!(applied, "/t/acme/admin/retention?done=applied&expired=3");
    let runs = |events: &[Value]| by(events, "stele.retention.applied").len();
    let (events_after_run, count_after_run) = (app.all_events("acme").await, app.count("acme").await);
    assert_eq!(runs(&events_after_run), 1, "the run removed the 3 old events, as one event");
    // The tab the browser lands on says what the run did; reloading it says so again and
    // runs nothing.
    for load in ["first", "reload"] {
        let (status, html, _) = admin.page(&applied).await;
        assert_eq!(status, StatusCode::OK, "{load}");
        assert!(html.contains("Applied: 3 events past the period are tombstones now."), "{load}");
        assert_eq!(runs(&app.all_events("acme").await), 1, "{load}: no second stele.retention.applied");
        assert_eq!(app.count("acme").await, count_after_run, "{load}: no event at all");
    }

    let resp = admin.post("/t/acme/admin/retention", &[("csrf", &csrf), ("mode", "default"), ("days", "30")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(retention(&app).await["days"], Value::Null, "back to the deployment default");

    let events = app.all_events("acme").await;
    for action in ["stele.retention.set", "stele.legal_hold.set", "stele.legal_hold.lifted"] {
        let made = by(&events, action);
        assert!(!made.is_empty(), "{action}");
        assert!(made.iter().all(|e| e["actor"]["email"] == "ada@acme.io"), "{action} names the member");
    }
    assert_eq!(by(&events, "stele.retention.set").len(), 2);
    let applied = by(&events, "stele.retention.applied");
    assert_eq!(applied.len(), 1, "one run removed something");
}

/// What the webhook receiver of the edit test got: each request's actions and whether its
/// `Stele-Signature` verified under [`SECRET`].
#[derive(Default)]
struct Hooked {
    signed: Vec<(bool, Vec<String>)>,
}

/// The receiver's side of `Stele-Signature` (README: `t=<unix>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">`), written from the README with `ring`, not with Stele's code.
fn signed_with(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = headers.get("stele-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts: Vec<(&str, &str)> = header.split(',').filter_map(|p| p.split_once('=')).collect();
    let Some((_, t)) = parts.iter().find(|(k, _)| *k == "t") else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [t.as_bytes(), b".", body].concat();
    let expected: String = ring::hmac::sign(&key, &signed).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    parts.iter().any(|(k, v)| *k == "v1" && *v == expected)
}

async fn webhook_receiver(hooked: Arc<Mutex<Hooked>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("receiver binds");
    let addr = listener.local_addr().expect("address");
    let hook = move |headers: HeaderMap, body: Bytes| {
        let hooked = hooked.clone();
        async move {
            let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let actions = doc["events"].as_array().into_iter().flatten();
            let actions = actions.map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect();
            hooked.lock().expect("lock").signed.push((signed_with(SECRET, &headers, &body), actions));
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let router = axum::Router::new().route("/hook", axum::routing::post(hook));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/hook")
}

#[tokio::test]
async fn an_edit_on_the_page_is_the_apis_patch_and_a_blank_secret_is_kept() {
    let app = spawn_app_with(|c| {
        c.streams.allow_http = true;
        c.streams.poll_ms = 20;
        c.streams.scan_ms = 20;
        c.streams.retry_base_ms = 10;
        c.streams.retry_cap_ms = 100;
    })
    .await;
    let key = app.tenant_with_key("acme").await;
    let hooked = Arc::new(Mutex::new(Hooked::default()));
    let hook_url = webhook_receiver(hooked.clone()).await;
    let id = api_stream(&app, "Splunk").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;

    let (_, html, _) = admin.page("/t/acme/admin/streams").await;
    let edit = format!("/t/acme/admin/streams/{id}/edit");
    assert!(unescape(&html).contains(&format!(r#"href="{edit}">Edit<span class="sr-only"> Splunk</span>"#)), "{html}");

    // The form holds the stored name, URL and filter, the version it was filled from, and
    // a blank secret that says it is kept.
    let (status, html, csrf) = admin.page(&edit).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(attribute_after(&html, r#"id="stream-name" name="name" type="text" value=""#), "Splunk");
    assert_eq!(attribute_after(&html, r#"name="url" type="url" value=""#), "http://127.0.0.1:9/hook");
    assert_eq!(attribute_after(&html, r#"name="version" value=""#), "1");
    assert!(html.contains(r#"name="secret" type="password" value="""#), "the secret field is blank");
    assert!(html.contains("Leave blank to keep the current secret."));
    assert!(!html.contains(SECRET) && !html.contains("whsec_"), "the secret never reaches the page");

    let filter = r#"action eq "doc.read""#;
    let form = [
        ("csrf", csrf.as_str()),
        ("version", "1"),
        ("name", "Receiver"),
        ("url", hook_url.as_str()),
        ("secret", ""),
        ("filter", filter),
    ];
    let resp = admin.post(&edit, &form).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", resp.text().await.unwrap_or_default());
    assert_eq!(location(&resp), "/t/acme/admin/streams?done=updated");

    let s = &streams(&app).await[0];
    assert_eq!((s["name"].as_str(), s["filter"].as_str()), (Some("Receiver"), Some(filter)));
    assert_eq!(s["destination"]["url"], hook_url.as_str());
    assert_eq!(s["version"], 2);
    let updated = by(&app.all_events("acme").await, "stele.stream.updated");
    assert_eq!(updated.len(), 1, "one stele.stream.updated event");
    assert_eq!(updated[0]["actor"]["email"], "ada@acme.io", "the member made it");
    assert_eq!(updated[0]["targets"][0]["id"], id.as_str());
    let (_, html, _) = admin.page("/t/acme/admin/streams?done=updated").await;
    assert!(html.contains("The stream is changed"), "the tab says so");

    // The secret left blank is the one the stream signs with: the receiver checks each
    // delivery against it.
    app.ingest_ok(&key.secret, &json!({"events": [{"action": "doc.other"}, {"action": "doc.read"}]})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while hooked.lock().expect("lock").signed.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no delivery to the edited URL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = &hooked.lock().expect("lock").signed;
    assert!(got.iter().all(|(ok, _)| *ok), "every delivery is signed with the kept secret");
    assert_eq!(got[0].1, vec!["doc.read".to_owned()], "the edited filter applies");
}

async fn post(admin: &mut Browser, path: &str, fields: Vec<(String, String)>) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    admin.post(path, &fields).await
}

#[tokio::test]
async fn a_refused_or_stale_edit_names_its_field_and_changes_nothing() {
    let app = app().await;
    app.tenant_with_key("acme").await;
    let id = api_stream(&app, "Splunk").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let edit = format!("/t/acme/admin/streams/{id}/edit");
    let (_, _, csrf) = admin.page(&edit).await;
    // The Edit form of the webhook as a browser posts it, its secret left blank.
    let form = |version: &str, name: &str, url: &str, filter: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf.as_str()),
            ("version", version),
            ("name", name),
            ("url", url),
            ("secret", ""),
            ("filter", filter),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    };
    // Positive control: a good edit is taken.
    let resp = post(&mut admin, &edit, form("1", "Renamed", "http://127.0.0.1:9/hook", "")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(streams(&app).await[0]["name"], "Renamed");
    let (before, count) = (records(&app).await, app.count("acme").await);
    let urls = |s: &[Value]| s.iter().map(|s| s["destination"]["url"].clone()).collect::<Vec<_>>();
    let before_urls = urls(&streams(&app).await);

    for (fields, field, message) in [
        (form("2", "Renamed again", "not a url", ""), "url", "url: "),
        (form("2", "", "http://127.0.0.1:9/other", ""), "name", "name: "),
        (form("2", "Renamed again", "http://127.0.0.1:9/other", "action eq"), "filter", "filter: "),
    ] {
        let resp = post(&mut admin, &edit, fields).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}");
        let html = resp.text().await.expect("html");
        assert!(html.contains(&format!(r#"role="alert" id="edit-error">{message}"#)), "{field}: {html}");
        assert!(!html.contains(&format!("{message}{message}")), "{field} is named once: {html}");
        let input = match field {
            "url" => r#"id="f-url" name="url" type="url""#,
            "name" => r#"id="stream-name" name="name" type="text""#,
            _ => r#"id="stream-filter" name="filter" type="text""#,
        };
        let marked = html.split(input).nth(1).and_then(|r| r.split('>').next()).unwrap_or_default();
        assert!(marked.contains(r#"aria-invalid="true""#), "{field} is marked: {marked}");
        assert_eq!(html.matches(r#"aria-invalid="true""#).count(), 1, "{field} alone is marked");
        assert!(!html.contains(SECRET), "{field}: no secret");
        assert_eq!(records(&app).await, before, "{field}: the stream is unchanged");
        assert_eq!(urls(&streams(&app).await), before_urls, "{field}: its settings too");
        assert_eq!(app.count("acme").await, count, "{field}: no event");
    }
    // What was typed is kept on the refused form (never the secret).
    let resp = post(&mut admin, &edit, form("2", "Typed name", "not a url", "")).await;
    let html = unescape(&resp.text().await.expect("html"));
    assert!(html.contains(r#"value="Typed name""#) && html.contains(r#"value="not a url""#));

    // A form filled from version 1 does not overwrite version 2.
    let resp = post(&mut admin, &edit, form("1", "Stale", "http://127.0.0.1:9/stale", "")).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp.text().await.expect("html").contains("changed since this form was opened"));
    assert_eq!(records(&app).await, before, "the stale edit changed nothing");
    assert_eq!(app.count("acme").await, count);

    // Another tenant's or a missing stream is the API's 404.
    assert_eq!(admin.get("/t/acme/admin/streams/0000/edit").await.status(), StatusCode::NOT_FOUND);
}
