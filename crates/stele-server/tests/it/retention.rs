//! Retention and legal hold through the real server: events older than the period become
//! tombstones that keep their leaf (the export still rebuilds the signed root), the run is
//! an event naming exactly what it removed, a legal hold stops it, a stream's undelivered
//! events wait for it, and on SQLite the file shrinks.
//!
//! The clock here is the events' own: they are ingested with times 40 days and 1 day ago,
//! so a run "now" has something to expire and something to keep, without sleeping.

use crate::common;

use common::{assert_problem, backend, detail, spawn_app_with, Backend, Key, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use stele_core::integrity::{Frontier, Hash};
use stele_core::Timestamp;

const DAY_MICROS: i64 = 86_400_000_000;

fn days_ago(days: i64) -> String {
    Timestamp::from_micros(Timestamp::now().as_micros() - days * DAY_MICROS).to_string()
}

async fn admin(app: &TestApp, tenant: &str) -> Key {
    app.create_tenant(tenant).await;
    app.create_key(tenant, &["events:write", "events:read", "events:export", "admin"]).await
}

/// Ingests `n` events of `action` at `time`, each carrying `pad` bytes of metadata.
async fn ingest(app: &TestApp, key: &Key, action: &str, time: &str, n: usize, pad: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"action": action, "time": time, "actor": {"id": format!("u{i}")}, "metadata": {"pad": "x".repeat(pad)}}))
            .collect();
        let receipts = app.ingest_ok(&key.secret, &json!({ "events": events })).await;
        seqs.extend(receipts["events"].as_array().expect("receipts").iter().map(common::seq));
    }
    seqs
}

async fn put(app: &TestApp, path: &str, key: &Key, body: Value) -> reqwest::Response {
    app.http.put(app.url(path)).bearer_auth(&key.secret).json(&body).send().await.expect("sent")
}

async fn run(app: &TestApp, key: &Key) -> Value {
    let resp = app.post_json("/v1/tenants/acme/retention/run", &key.secret, &json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("run JSON")
}

/// The export's events (after its header line) and the header.
async fn export(app: &TestApp, key: &Key) -> (Value, Vec<Value>) {
    let text = app.get("/v1/events/export", &key.secret).send().await.expect("sent").text().await.expect("text");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).expect("header JSON");
    (header, lines.map(|l| serde_json::from_str(l).expect("event JSON")).collect())
}

/// The root the export's leaves rebuild, compared with its signed head.
fn rebuilds_the_head(header: &Value, events: &[Value]) -> bool {
    let mut frontier = Frontier::new();
    for e in events {
        let leaf = Hash::from_hex(e["hash"].as_str().expect("hash")).expect("hex");
        frontier.push(leaf, |_, _| {});
    }
    let size = header["head"]["head"]["size"].as_u64().or_else(|| header["head"]["size"].as_u64());
    let root = header["head"]["head"]["root"].as_str().or_else(|| header["head"]["root"].as_str());
    Some(frontier.size()) == size && root == Some(frontier.root().to_hex().as_str())
}

fn disk_bytes(app: &TestApp) -> u64 {
    ["stele.db", "stele.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(app.data_dir().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn old_events_become_verifiable_tombstones_unless_held() {
    let app = spawn_app_with(|_| {}).await;
    let key = admin(&app, "acme").await;
    let old = ingest(&app, &key, "user.old", &days_ago(40), 300, 6000).await;
    let recent = ingest(&app, &key, "user.recent", &days_ago(1), 5, 10).await;

    // No policy and no default: nothing is due.
    let got: Value =
        app.get("/v1/tenants/acme/retention", &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!((got["days"].clone(), got["effective_days"].clone()), (Value::Null, Value::Null), "{got}");
    assert_eq!(run(&app, &key).await["expired"], 0);

    let resp = put(&app, "/v1/tenants/acme/retention", &key, json!({"days": 30})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = put(&app, "/v1/tenants/acme/legal-hold", &key, json!({"reason": "matter 2026-17"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let held = run(&app, &key).await;
    assert_eq!(
        (held["expired"].clone(), held["legal_hold"].clone()),
        (json!(0), json!(true)),
        "a legal hold stops it: {held}"
    );
    let (_, events) = export(&app, &key).await;
    assert!(events.iter().all(|e| e.get("redacted").is_none()), "nothing was removed under the hold");

    let before_bytes = disk_bytes(&app);
    let resp =
        app.http.delete(app.url("/v1/tenants/acme/legal-hold")).bearer_auth(&key.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let done = run(&app, &key).await;
    assert_eq!(done["expired"], old.len() as u64, "exactly the old events: {done}");
    assert_eq!((done["first_seq"].as_u64(), done["last_seq"].as_u64()), (old.first().copied(), old.last().copied()));

    let (header, events) = export(&app, &key).await;
    assert!(rebuilds_the_head(&header, &events), "the export still rebuilds the signed root");
    let by_seq = |s: u64| events.iter().find(|e| e["seq"] == s).expect("every seq is in the export");
    for s in &old {
        let e = by_seq(*s);
        assert_eq!(e["redacted"]["by"], "stele.retention", "{e}");
        assert!(e.get("metadata").is_none() && e.get("actor").is_none(), "its content is gone: {e}");
    }
    for s in &recent {
        assert!(by_seq(*s).get("redacted").is_none(), "recent events stay");
    }
    let applied: Vec<&Value> = events.iter().filter(|e| e["action"] == "stele.retention.applied").collect();
    assert_eq!(applied.len(), 1, "one event per run");
    assert_eq!(applied[0]["metadata"]["count"], old.len() as u64);
    assert_eq!(applied[0]["metadata"]["seqs"], json!([[old[0], old[old.len() - 1]]]), "exactly what it removed");
    let actions: Vec<&str> = events
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("stele.retention") || a.starts_with("stele.legal_hold"))
        .collect();
    assert_eq!(
        actions,
        ["stele.retention.set", "stele.legal_hold.set", "stele.legal_hold.lifted", "stele.retention.applied"]
    );
    assert_eq!(run(&app, &key).await["expired"], 0, "a second run finds nothing more");

    if backend() == Backend::Sqlite {
        let after = disk_bytes(&app);
        println!("disk: {before_bytes} bytes before retention, {after} after");
        assert!(after < before_bytes, "the file gives the expired events' pages back ({before_bytes} → {after})");
    } else {
        println!("disk check skipped on PostgreSQL: space comes back through (auto)vacuum");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn retention_waits_for_a_stream_that_has_not_delivered() {
    let app = spawn_app_with(|c| {
        c.streams.allow_http = true;
        c.streams.retry_base_ms = 50;
        c.streams.retry_cap_ms = 100;
    })
    .await;
    let key = admin(&app, "acme").await;
    let old = ingest(&app, &key, "user.old", &days_ago(40), 3, 10).await;
    // A stream from the beginning to a destination that refuses connections.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", dead.local_addr().expect("addr"));
    drop(dead);
    let body = json!({"name": "siem", "kind": "webhook", "url": url, "secret": "whsec_0123456789abcdef", "start": "beginning"});
    let resp = app.post_json("/v1/streams", &key.secret, &body).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let stream: Value = resp.json().await.expect("JSON");
    let id = stream["id"].as_str().expect("id").to_owned();
    assert_eq!(put(&app, "/v1/tenants/acme/retention", &key, json!({"days": 30})).await.status(), StatusCode::OK);

    let waited = run(&app, &key).await;
    assert_eq!((waited["expired"].clone(), waited["waiting_for_streams"].clone()), (json!(0), json!(true)), "{waited}");
    let status: Value =
        app.get("/v1/tenants/acme/retention", &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(status["waiting_for_streams"], json!([id]), "{status}");
    let shown: Value =
        app.get(&format!("/v1/streams/{id}"), &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(shown["status"]["holds_retention"], true, "the stream says it holds retention back: {shown}");

    // Once the stream is gone, the events expire.
    let resp =
        app.http.delete(app.url(&format!("/v1/streams/{id}"))).bearer_auth(&key.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let done = run(&app, &key).await;
    assert_eq!(done["expired"], old.len() as u64, "{done}");
    app.shutdown().await;
}

#[tokio::test]
async fn retention_requests_are_checked_and_a_refused_one_changes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let key = admin(&app, "acme").await;
    let before = app.count("acme").await;
    for (path, body, field) in [
        ("/v1/tenants/acme/retention", json!({"days": 0}), "days"),
        ("/v1/tenants/acme/retention", json!({"days": 40000}), "days"),
        ("/v1/tenants/acme/retention", json!({"days": "30"}), "days"),
        ("/v1/tenants/acme/retention", json!({"days": 30, "hours": 2}), "hours"),
        ("/v1/tenants/acme/legal-hold", json!({"reason": ""}), "reason"),
        ("/v1/tenants/acme/legal-hold", json!({}), "reason"),
    ] {
        let resp = put(&app, path, &key, body.clone()).await;
        let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(detail(&problem).contains(field), "{body} → {problem}");
    }
    let resp =
        app.http.delete(app.url("/v1/tenants/acme/legal-hold")).bearer_auth(&key.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(app.count("acme").await, before, "nothing of a refused request was written");
    let got: Value =
        app.get("/v1/tenants/acme/retention", &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(got["version"], 0, "{got}");

    // Who may: not a reader, not another tenant's admin; the positive control passes.
    let reader = app.create_key("acme", &["events:read"]).await;
    let resp = put(&app, "/v1/tenants/acme/retention", &reader, json!({"days": 30})).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let other = admin(&app, "globex").await;
    let resp = put(&app, "/v1/tenants/acme/retention", &other, json!({"days": 30})).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = put(&app, "/v1/tenants/acme/retention", &key, json!({"days": 30})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let got: Value = resp.json().await.expect("JSON");
    assert_eq!(
        (got["days"].as_u64(), got["effective_days"].as_u64(), got["version"].as_u64()),
        (Some(30), Some(30), Some(1))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_deployment_default_applies_to_tenants_without_a_policy() {
    let app = spawn_app_with(|c| c.retention.default_days = Some(7)).await;
    let key = admin(&app, "acme").await;
    let old = ingest(&app, &key, "user.old", &days_ago(8), 2, 10).await;
    ingest(&app, &key, "user.recent", &days_ago(1), 2, 10).await;
    let got: Value =
        app.get("/v1/tenants/acme/retention", &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(
        (got["days"].clone(), got["effective_days"].clone(), got["default_days"].clone()),
        (Value::Null, json!(7), json!(7))
    );
    assert_eq!(run(&app, &key).await["expired"], old.len() as u64);
    app.shutdown().await;
}
