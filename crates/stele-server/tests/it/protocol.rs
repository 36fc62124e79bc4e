//! Protocol surprises of issue #10 (findings 8, 11 and 14): CSV formula injection, the
//! shared namespace of tenant ids and aliases, impossible proof sizes, repeated JSON keys,
//! control and bidi-override characters in identifiers, the one alias bound, and exports
//! made right after ingest.

use crate::common;

use common::{assert_problem, detail, spawn_app, spawn_app_with, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn create_tenant(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/v1/tenants", OPERATOR, body).send().await.expect("sent")
}

async fn patch_tenant(app: &TestApp, id: &str, body: &Value) -> reqwest::Response {
    app.http.patch(app.url(&format!("/v1/tenants/{id}"))).bearer_auth(OPERATOR).json(body).send().await.expect("sent")
}

#[tokio::test]
async fn csv_export_neutralises_cells_that_would_start_a_formula() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    app.ingest_ok(
        &key.secret,
        &json!({
            "action": "=HYPERLINK(\"https://evil.example\",\"click\")",
            "actor": {"id": "+1-555-0100", "name": "@SUM(A1:A9)", "type": "-2+3"},
            "message": "\t=cmd|' /C calc'!A0",
            "reason": "\r=1+1",
        }),
    )
    .await;
    app.ingest_ok(&key.secret, &json!({"action": "user.created", "actor": {"name": "Ana, \"the admin\""}})).await;
    let resp = app.op_get("/v1/events/export?format=csv", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("body");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let bad = rows.iter().find(|r| r[col("action")].contains("HYPERLINK")).expect("the formula row");
    assert_eq!(&bad[col("action")], "'=HYPERLINK(\"https://evil.example\",\"click\")");
    assert_eq!(&bad[col("actor.id")], "'+1-555-0100");
    assert_eq!(&bad[col("actor.name")], "'@SUM(A1:A9)");
    assert_eq!(&bad[col("actor.type")], "'-2+3");
    assert_eq!(&bad[col("message")], "'\t=cmd|' /C calc'!A0");
    assert_eq!(&bad[col("reason")], "'\r=1+1");
    // Positive control: plain cells are unchanged, quoting still round-trips.
    let plain = rows.iter().find(|r| &r[col("action")] == "user.created").expect("the plain row");
    assert_eq!(&plain[col("actor.name")], "Ana, \"the admin\"");
    assert!(rows.iter().all(|r| !r[col("seq")].starts_with('\'')), "numbers are plain");
    app.shutdown().await;
}

#[tokio::test]
async fn tenant_ids_and_aliases_share_one_namespace() {
    let app = spawn_app().await;
    let resp = create_tenant(&app, &json!({"id": "acme", "name": "Acme", "aliases": ["acme-eu"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // A new tenant whose id is acme's alias: refused, nothing created.
    let resp = create_tenant(&app, &json!({"id": "acme-eu", "name": "Squatter", "aliases": []})).await;
    let problem = assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    assert!(detail(&problem).contains("\"acme-eu\""), "{problem}");
    // A new tenant with acme's id as an alias: refused.
    let resp = create_tenant(&app, &json!({"id": "globex", "name": "Globex", "aliases": ["acme"]})).await;
    assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    // Positive control: a free id; then PATCH onto acme's id or alias is refused.
    let resp = create_tenant(&app, &json!({"id": "globex", "name": "Globex", "aliases": ["globex.io"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    for taken in ["acme", "acme-eu"] {
        let resp = patch_tenant(&app, "globex", &json!({ "aliases": [taken] })).await;
        assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    }
    let list: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("JSON");
    let ids: Vec<&str> = list.as_array().expect("array").iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["acme", "globex"]);
    let acme = list.as_array().expect("array").iter().find(|t| t["id"] == "acme").expect("acme").clone();
    assert_eq!(acme["aliases"], json!(["acme-eu"]), "the alias owner keeps its alias");
    app.shutdown().await;
}

#[tokio::test]
async fn a_proof_for_a_size_that_can_never_hold_the_event_is_400_naming_size() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    for n in 0..3 {
        app.ingest_ok(&key.secret, &json!({ "action": format!("doc.{n}") })).await;
    }
    let last = app.ingest_ok(&key.secret, &json!({"action": "doc.last"})).await;
    let (id, seq) = (common::id(&last).to_owned(), common::seq(&last));
    let resp = app.op_get(&format!("/v1/events/{id}/proof?size=1"), "acme").send().await.expect("sent");
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    assert_eq!(problem["parameter"], "size", "{problem}");
    assert!(detail(&problem).starts_with("size:"), "{problem}");
    // Positive control: a size that holds the event proves it.
    let resp = app.op_get(&format!("/v1/events/{id}/proof?size={seq}"), "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap_or_default());
    app.shutdown().await;
}

#[tokio::test]
async fn repeated_json_keys_are_refused_naming_the_key_and_where() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let send = |body: &'static str| app.post_raw("/v1/events", &key.secret, Some("application/json"), body.into());
    let resp = send(r#"{"action": "a", "context": {"role": "reader", "role": "admin"}}"#).send().await.expect("sent");
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-event").await;
    assert!(detail(&problem).contains("context") && detail(&problem).contains("\"role\""), "{problem}");
    let resp = send(r#"{"events": [{"action": "a"}, {"action": "b", "metadata": {"x": 1, "x": 2}}]}"#)
        .send()
        .await
        .expect("sent");
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-event").await;
    assert!(detail(&problem).starts_with("events[1].metadata"), "{problem}");
    // Admin bodies too.
    let resp = app
        .post_raw(
            "/v1/tenants",
            OPERATOR,
            Some("application/json"),
            br#"{"id": "globex", "name": "Globex", "name": "Other", "aliases": []}"#.to_vec(),
        )
        .send()
        .await
        .expect("sent");
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    assert!(detail(&problem).contains("\"name\""), "{problem}");
    // Positive control: the same keys in different objects are fine.
    let resp =
        send(r#"{"action": "a", "context": {"role": "r"}, "metadata": {"role": "r"}}"#).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.user_events("acme").await.len(), 1, "refused bodies stored nothing");
    app.shutdown().await;
}

#[tokio::test]
async fn control_and_bidi_override_characters_are_refused_in_identifiers_and_names() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    for (body, field) in [
        (json!({"action": "user.\u{202E}detaerc"}), "action"),
        (json!({"action": "a", "actor": {"name": "ana\u{0}"}}), "actor.name"),
        (json!({"action": "a", "targets": [{"id": "t\u{2066}1"}]}), "targets[0].id"),
        (json!({"action": "a", "context": {"reseller_id": "r1\u{1b}"}}), "context.reseller_id"),
        (json!({"action": "a", "message": "nul \u{0} in prose"}), "message"),
    ] {
        let resp = app.ingest(&key.secret, &body).await;
        let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-event").await;
        assert!(detail(&problem).starts_with(&format!("{field}:")), "{field}: {problem}");
    }
    for (body, field) in [
        (json!({"id": "globex", "name": "Glo\u{202E}bex", "aliases": []}), "name"),
        (json!({"id": "globex", "name": "Globex", "aliases": ["ok", "glo\u{0}bex"]}), "aliases[1]"),
    ] {
        let problem = assert_problem(create_tenant(&app, &body).await, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(detail(&problem).starts_with(&format!("{field}:")), "{field}: {problem}");
    }
    let resp = patch_tenant(&app, "acme", &json!({"aliases": ["a\u{2067}b"]})).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    // Positive control: non-ASCII names and multi-line prose are fine.
    app.ingest_ok(&key.secret, &json!({"action": "a", "actor": {"name": "Zoë אנה"}, "message": "line\nline\ttab"}))
        .await;
    let resp = create_tenant(&app, &json!({"id": "globex", "name": "Globex Ünited", "aliases": []})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.shutdown().await;
}

#[tokio::test]
async fn aliases_are_bounded_at_100_at_creation_as_at_update() {
    let app = spawn_app().await;
    let aliases = |n: usize| (0..n).map(|i| format!("alias-{i}")).collect::<Vec<_>>();
    let resp = create_tenant(&app, &json!({"id": "acme", "name": "Acme", "aliases": aliases(101)})).await;
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    assert!(detail(&problem).contains("at most 100"), "{problem}");
    let resp = create_tenant(&app, &json!({"id": "acme", "name": "Acme", "aliases": aliases(100)})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = patch_tenant(&app, "acme", &json!({ "aliases": aliases(101) })).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_export_right_after_ingest_holds_every_committed_event() {
    // The signer would not sign again for a minute: the export must not wait for it.
    let app = spawn_app_with(|c| c.integrity.head_interval_ms = 60_000).await;
    let key = app.tenant_with_key("acme").await;
    let events: Vec<Value> = (0..30).map(|i| json!({ "action": format!("doc.{i}") })).collect();
    app.ingest_ok(&key.secret, &json!({ "events": events })).await;
    let total = app.count("acme").await as u64;
    let resp = app.op_get("/v1/events/export", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("body");
    let mut lines = text.lines();
    let first: Value = serde_json::from_str(lines.next().expect("first line")).expect("JSON");
    assert_eq!(first["complete"], true);
    assert_eq!(first["head"]["size"].as_u64(), Some(total), "the head covers every committed event: {first}");
    let exported: Vec<Value> = lines.map(|l| serde_json::from_str(l).expect("event")).collect();
    assert_eq!(exported.len() as u64, total);
    let docs = exported.iter().filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("doc."))).count();
    assert_eq!(docs, 30);
    app.shutdown().await;
}
