//! The Retraced publisher ingest profile (contract A.6, Part C) against a real server: single
//! and bulk events mapped into Stele events field by field, Retraced's hash (recomputed here
//! independently, for inputs with `:`, `%`, `=` and `;`), its validation rules, atomic bulk
//! rejection, auth and cross-tenant refusal. The official client is exercised in
//! `profile_clients.rs`.

use crate::common;

use common::{spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PROJECT: &str = "a3f5c2d1e4b6478a9c0d1e2f3a4b5c6d";
const OTHER_PROJECT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

async fn tenant_with_alias(app: &TestApp, id: &str, alias: &str) -> String {
    let resp = app
        .post_json("/v1/tenants", OPERATOR, &json!({"id": id, "name": id, "aliases": [alias]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.create_key(id, &["events:write", "events:read"]).await.secret
}

async fn publish(app: &TestApp, key: &str, project: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(app.url(&format!("/auditlog/publisher/v1/project/{project}/{path}")))
        .header("Authorization", format!("token={key}"))
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}")))
}

/// Part C, written out again from the contract (not from the server's code).
fn part_c(e: &Value, id: &str) -> String {
    let one = |s: &str| s.replace('%', "%25").replace(':', "%3A");
    let two = |s: &str| one(s).replace('=', "%3D").replace(';', "%3B");
    let opt = |v: &Value| v.as_str().map(one).unwrap_or_default();
    let pairs = |m: &serde_json::Map<String, Value>| {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        keys.iter().map(|k| format!("{}={};", two(k), two(m[*k].as_str().unwrap_or_default()))).collect::<String>()
    };
    let mut s = format!(
        "{}:{}:{}:{}:{}:{}:",
        one(id),
        one(e["action"].as_str().unwrap_or_default()),
        opt(&e["target"]["id"]),
        opt(&e["actor"]["id"]),
        opt(&e["group"]["id"]),
        opt(&e["source_ip"])
    );
    s += if e["is_failure"] == true { "1:" } else { "0:" };
    s += if e["is_anonymous"] == true { "1:" } else { "0:" };
    match e["fields"].as_object() {
        None => s += ":",
        Some(f) => s += &pairs(f),
    }
    if let Some(x) = e["external_id"].as_str().filter(|x| !x.is_empty()) {
        s += &format!(":{}", one(x));
    }
    if let Some(m) = e["metadata"].as_object() {
        s += &format!(":{}", pairs(m));
    }
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn tricky() -> Value {
    json!({
        "action": "spreadsheet:share%done", "crud": "u", "created": "2026-11-22T10:15:00.123Z",
        "actor": {"id": "user:1%", "name": "Ana", "href": "https://app.example/u/1"},
        "target": {"id": "sheet=7;x", "name": "Q3 plan", "type": "spreadsheet"},
        "group": {"id": "org:acme", "name": "Acme"},
        "source_ip": "2001:db8::1", "description": "Shared Q3 plan", "is_failure": true,
        "fields": {"b=key": "v;1", "a:key": "50%", "Z": ""},
        "component": "api", "version": "abc123", "external_id": "req:42",
        "metadata": {"k;1": "x=y:z"}
    })
}

async fn stored(app: &TestApp, key: &str, retraced_id: &str) -> Value {
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &retraced_id[..8],
        &retraced_id[8..12],
        &retraced_id[12..16],
        &retraced_id[16..20],
        &retraced_id[20..]
    );
    let resp = app.get(&format!("/v1/events/{uuid}"), key).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("event")
}

#[tokio::test]
async fn one_event_is_mapped_and_hashed() {
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", PROJECT).await;
    let (status, created) = publish(&app, &key, PROJECT, "event", &tricky()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(created.as_object().map(|o| o.len()), Some(2));
    assert_eq!(created["hash"], part_c(&tricky(), id));

    let event = stored(&app, &key, id).await;
    assert_eq!(event["id"].as_str().map(|s| s.replace('-', "")), Some(id.to_owned()));
    assert_eq!(event["action"], "spreadsheet:share%done");
    assert_eq!(event["time"], "2026-11-22T10:15:00.123000Z");
    assert_eq!(event["status"], "failure");
    assert_eq!(event["message"], "Shared Q3 plan");
    assert_eq!(event["actor"], json!({"id": "user:1%", "name": "Ana", "ip": "2001:db8::1"}));
    assert_eq!(event["targets"], json!([{"id": "sheet=7;x", "name": "Q3 plan", "type": "spreadsheet"}]));
    assert_eq!(event["context"], json!({"group_id": "org:acme", "group_name": "Acme"}));
    assert_eq!(event["correlation_id"], "req:42");
    assert_eq!(
        event["metadata"],
        json!({"crud": "u", "fields": {"b=key": "v;1", "a:key": "50%", "Z": ""}, "component": "api",
               "version": "abc123", "metadata": {"k;1": "x=y:z"}, "actor": {"href": "https://app.example/u/1"}})
    );

    // An anonymous, minimal event: empty parts keep their separators; default time and status.
    let minimal = json!({"action": "login", "crud": "r", "is_anonymous": true});
    let (status, created) = publish(&app, &key, PROJECT, "event", &minimal).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["hash"], part_c(&minimal, id));
    let event = stored(&app, &key, id).await;
    assert_eq!((event["status"].as_str(), event.get("actor")), (Some("success"), None));
    assert_eq!(event["metadata"], json!({"crud": "r", "is_anonymous": true}));
    app.shutdown().await;
}

#[tokio::test]
async fn bulk_is_hashed_in_order_and_atomic() {
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", PROJECT).await;
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"action": format!("doc.edit:{i}"), "crud": "u", "actor": {"id": format!("u{i}")}, "fields": {"n": i.to_string()}}))
        .collect();
    let before = app.count("acme").await;
    let (status, created) = publish(&app, &key, PROJECT, "event/bulk", &json!({ "events": events })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let created = created.as_array().expect("array");
    assert_eq!(created.len(), 5);
    for (c, e) in created.iter().zip(&events) {
        let id = c["id"].as_str().expect("id");
        assert_eq!(c["hash"], part_c(e, id));
        assert_eq!(stored(&app, &key, id).await["action"], e["action"]);
    }
    assert_eq!(app.count("acme").await, before + 5);

    // One invalid event rejects the whole batch, naming its index and Retraced's rule.
    let mut bad = events.clone();
    bad[3] = json!({"action": "x", "crud": "z", "actor": {"name": "no id"}});
    let (status, body) = publish(&app, &key, PROJECT, "event/bulk", &json!({ "events": bad })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"].as_str().expect("error");
    assert!(
        message.starts_with("One or more invalid inputs, no events were logged:\n- Invalid event input at index 3:"),
        "{message}"
    );
    assert!(message.contains("Invalid value for 'crud' field: z"), "{message}");
    assert!(message.contains("Field 'actor.id' is required if 'actor' is present"), "{message}");
    // Rejected by Stele's own limits on the same path: nothing stored either.
    let mut long = events.clone();
    long[4]["action"] = json!("a".repeat(2000));
    let (status, body) = publish(&app, &key, PROJECT, "event/bulk", &json!({ "events": long })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("events[4].action")), "{body}");
    let too_many: Vec<Value> = (0..1001).map(|_| events[0].clone()).collect();
    let (status, body) = publish(&app, &key, PROJECT, "event/bulk", &json!({ "events": too_many })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("A maximum of 1000 events may be created at once, received 1001"))
    );
    let (status, _) = publish(&app, &key, PROJECT, "event/bulk", &json!({ "events": [] })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = publish(&app, &key, PROJECT, "event/bulk", &json!([events[0]])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("acme").await, before + 5, "rejected batches stored nothing");
    app.shutdown().await;
}

#[tokio::test]
async fn retraced_validation_rules() {
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", PROJECT).await;
    let before = app.count("acme").await;
    for (event, message) in [
        (json!({"crud": "c", "actor": {"id": "1"}}), "Missing required field 'action'"),
        (json!({"action": "a", "actor": {"id": "1"}}), "Missing required field 'crud'"),
        (json!({"action": "a", "crud": "x", "actor": {"id": "1"}}), "Invalid value for 'crud' field: x"),
        (json!({"action": "a", "crud": "c"}), "Event is not marked anonymous, and missing required field 'actor'"),
        (
            json!({"action": "a", "crud": "c", "actor": {"id": "1"}, "target": {"name": "t"}}),
            "Field 'target.id' is required if 'target' is present",
        ),
        (
            json!({"action": "a", "crud": "c", "actor": {"id": "1"}, "group": {"name": "g"}}),
            "Field 'group.id' is required if 'group' is present",
        ),
        (
            json!({"action": "a", "crud": "c", "actor": {"id": "1"}, "created": "yesterday"}),
            "Unable to parse 'created' field as valid time: yesterday",
        ),
        (
            json!({"action": "a", "crud": "c", "actor": {"id": "1"}, "source_ip": "10.0.0.300"}),
            "Unable to parse 'source_ip' field as valid IPV4 or IPV6 address: 10.0.0.300",
        ),
        (
            json!({"action": "a", "crud": "c", "actor": {"id": "1"}, "fields": {"n": 1}}),
            "Field 'fields.n' must be a string",
        ),
        (json!({"action": "a", "crud": "c", "actor": {"id": "1"}, "colour": "red"}), "Unknown field 'colour'"),
    ] {
        let (status, body) = publish(&app, &key, PROJECT, "event", &event).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{event}");
        assert_eq!(body, json!({ "error": message }), "{event}");
    }
    let resp = app
        .http
        .post(app.url(&format!("/auditlog/publisher/v1/project/{PROJECT}/event")))
        .header("Authorization", format!("token={key}"))
        .header("Content-Type", "application/json")
        .body("{\"action\":")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("acme").await, before, "nothing stored");
    app.shutdown().await;
}

#[tokio::test]
async fn auth_and_cross_tenant_refusal() {
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", PROJECT).await;
    let other = tenant_with_alias(&app, "globex", OTHER_PROJECT).await;
    let event = json!({"action": "a", "crud": "c", "actor": {"id": "1"}});
    let unauthorized = (StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}));
    assert_eq!(publish(&app, "wrong", PROJECT, "event", &event).await, unauthorized);
    assert_eq!(publish(&app, &key, OTHER_PROJECT, "event", &event).await, unauthorized, "another tenant's project");
    assert_eq!(publish(&app, &other, PROJECT, "event/bulk", &json!({"events": [event]})).await, unauthorized);
    assert_eq!(publish(&app, &key, "no-such-project", "event", &event).await, unauthorized);
    let resp = app
        .http
        .post(app.url(&format!("/auditlog/publisher/v1/project/{PROJECT}/event")))
        .bearer_auth(&key)
        .json(&event)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "Bearer is not Retraced's scheme");
    let reader = app.create_key("acme", &["events:read"]).await;
    let (status, body) = publish(&app, &reader.secret, PROJECT, "event", &event).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("events:write")));
    assert!(app.user_events("acme").await.is_empty() && app.user_events("globex").await.is_empty());

    // `Token token=<key>` (the viewer-token form) works too.
    let resp = app
        .http
        .post(app.url(&format!("/auditlog/publisher/v1/project/{PROJECT}/event")))
        .header("Authorization", format!("Token token={key}"))
        .json(&event)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.user_events("acme").await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn idempotent_retry_returns_the_same_receipt() {
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", PROJECT).await;
    let send = || {
        app.http
            .post(app.url(&format!("/auditlog/publisher/v1/project/{PROJECT}/event")))
            .header("Authorization", format!("token={key}"))
            .header("Idempotency-Key", "retry-1")
            .json(&tricky())
            .send()
    };
    let first: Value = send().await.expect("sent").json().await.expect("json");
    let second: Value = send().await.expect("sent").json().await.expect("json");
    assert_eq!(first, second);
    assert_eq!(app.user_events("acme").await.len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn routes_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("sent").json().await.expect("JSON");
    for path in
        ["/auditlog/publisher/v1/project/{projectId}/event", "/auditlog/publisher/v1/project/{projectId}/event/bulk"]
    {
        assert!(doc["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
    app.shutdown().await;
}
