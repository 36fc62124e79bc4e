//! The official clients of the original systems, unchanged, pointed at a real Stele server:
//! the Python `losant-rest` client (Losant profile) and the Node `@retracedhq/retraced`
//! client (Retraced profile; it recomputes every event's hash and throws on a mismatch).
//!
//! `scripts/test` installs both (from `tests/clients/`) under `target/clients/` and exports
//! `STELE_TEST_LOSANT_PYTHON` (a Python with `losant_rest`) and `STELE_TEST_RETRACED_NODE_PATH`
//! (the `node_modules` holding the Retraced client). Without them these tests say why they
//! are skipped and pass (and fail under `STELE_TEST_REQUIRE_CLIENTS=1`, which `scripts/test` sets).

use crate::common;

use std::path::PathBuf;

use common::{spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const INSTANCE: &str = "575ed6e87ae143cd83dc4aa8";
const PROJECT: &str = "a3f5c2d1e4b6478a9c0d1e2f3a4b5c6d";

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

/// The installed client named by `var`, or `None` (and why) when it is not set.
fn installed(var: &str, what: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
        Some(v) => Some(v),
        None => {
            assert!(
                std::env::var("STELE_TEST_REQUIRE_CLIENTS").is_err(),
                "{var} is not set but STELE_TEST_REQUIRE_CLIENTS is: scripts/test must install the {what} client"
            );
            eprintln!(
                "skipped: {var} is not set, so the official {what} client is not installed (scripts/test installs it)"
            );
            None
        }
    }
}

/// Runs a client script and parses the JSON it prints; fails the test with its stderr if it fails.
async fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} failed ({}):\n{stderr}\n{stdout}", out.status);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}"))
}

async fn tenant_with_alias(app: &TestApp, id: &str, alias: &str) -> String {
    let resp = app
        .post_json("/v1/tenants", OPERATOR, &json!({"id": id, "name": id, "aliases": [alias]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.create_key(id, &["events:write", "events:read"]).await.secret
}

fn hex(e: &Value) -> String {
    format!("{:024x}", e["seq"].as_u64().expect("seq"))
}

#[tokio::test]
async fn official_losant_python_client() {
    let Some(python) = installed("STELE_TEST_LOSANT_PYTHON", "Losant (losant-rest, Python)") else { return };
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", INSTANCE).await;
    let mut events: Vec<Value> = (1..=5)
        .map(|d| {
            json!({"action": "user.create", "time": format!("2026-01-0{d}T10:00:00Z"),
                   "actor": {"type": "User", "id": format!("a{d}"), "name": format!("actor {d}")},
                   "request": {"status_code": 201}})
        })
        .collect();
    events.push(json!({
        "action": "organization.delete",
        "actor": {"type": "User", "id": "575ed70c7ae143cd83dc4aa9", "email": "actor@example.com"},
        "targets": [{"type": "Organization", "id": "575ec8687ae143cd83dc4a97", "name": "My Org"}],
        "request": {"query": {}, "body": {}, "response_body": {"success": true}, "status_code": 200}
    }));
    app.ingest_ok(&key, &json!({ "events": events })).await;
    let native = app.all_events("acme").await;

    let script = script("losant_client.py");
    let out = run(&python, &[script.to_str().expect("path"), &app.base, &key, INSTANCE], &[]).await;

    let native_ids: Vec<String> = native.iter().map(hex).collect();
    let ids = |v: &Value| -> Vec<String> {
        v["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().unwrap_or_default().to_owned()).collect()
    };
    let first = &out["first_page"];
    assert_eq!((first["count"].as_u64(), first["totalCount"].as_u64()), (Some(2), Some(native.len() as u64)));
    assert_eq!((first["perPage"].as_u64(), first["page"].as_u64()), (Some(2), Some(0)));
    assert_eq!(ids(first), native_ids[..2]);
    assert_eq!(ids(&out["all"]), native_ids);
    assert_eq!(out["all"]["instanceId"], INSTANCE);

    let filtered = &out["filtered"];
    assert_eq!(filtered["totalCount"], 1, "{filtered}");
    let seed = &filtered["items"][0];
    assert_eq!(
        (seed["requestResource"].as_str(), seed["requestAction"].as_str(), seed["actorName"].as_str()),
        (Some("organization"), Some("delete"), Some("actor@example.com"))
    );
    assert_eq!(seed["responseBody"], json!({"success": true}));

    let dates: Vec<&str> =
        out["ranged"]["items"].as_array().expect("items").iter().filter_map(|i| i["creationDate"].as_str()).collect();
    assert_eq!(dates, ["2026-01-02T10:00:00.000Z", "2026-01-03T10:00:00.000Z", "2026-01-04T10:00:00.000Z"]);

    assert_eq!(out["item"], first["items"][0]);
    assert_eq!(out["missing_item"]["status"], 404);
    assert_eq!(out["missing_item"]["data"]["type"], "NotFound");
    assert_eq!(out["too_many"]["status"], 400);
    assert_eq!(out["too_many"]["data"]["type"], "Validation");
    assert_eq!(out["unauthorized"]["status"], 401);
    assert_eq!(out["unauthorized"]["data"]["type"], "Unauthorized");
    app.shutdown().await;
}

#[tokio::test]
async fn official_retraced_node_client() {
    let Some(node_path) = installed("STELE_TEST_RETRACED_NODE_PATH", "Retraced (@retracedhq/retraced, Node)") else {
        return;
    };
    let app = spawn_app().await;
    let key = tenant_with_alias(&app, "acme", PROJECT).await;
    let endpoint = format!("{}/auditlog", app.base);
    let script = script("retraced_client.js");
    // The client itself verifies every hash: a mismatch makes the script fail.
    let out =
        run("node", &[script.to_str().expect("path"), &endpoint, &key, PROJECT], &[("NODE_PATH", node_path.as_str())])
            .await;

    let is_id = |v: &Value| v.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(is_id(&out["single"]) && is_id(&out["anonymous"]), "{out}");
    let bulk = out["bulk"].as_array().expect("bulk ids");
    assert_eq!(bulk.len(), 3);
    assert!(bulk.iter().all(is_id));
    assert!(out["refused"].as_str().is_some_and(|m| m.contains("401")), "{out}");

    // What the client sent is stored as the contract maps it.
    let events = app.user_events("acme").await;
    assert_eq!(events.len(), 5);
    let by_id = |id: &Value| {
        let id = id.as_str().unwrap_or_default();
        events.iter().find(|e| e["id"].as_str().map(|s| s.replace('-', "")).as_deref() == Some(id)).expect("stored")
    };
    let single = by_id(&out["single"]);
    assert_eq!(single["action"], "spreadsheet:share%done");
    assert_eq!(single["time"], "2026-11-22T10:15:00.123000Z");
    assert_eq!(single["status"], "failure");
    assert_eq!(single["actor"], json!({"id": "user:1%", "name": "Ana", "ip": "2001:db8::1"}));
    assert_eq!(single["context"], json!({"group_id": "org:acme", "group_name": "Acme"}));
    assert_eq!(single["correlation_id"], "req:42");
    assert_eq!(single["metadata"]["component"], "billing");
    assert_eq!(single["metadata"]["version"], "v1.2:3");
    let actions: Vec<&str> = bulk.iter().map(|id| by_id(id)["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(actions, ["doc.create", "doc.update", "doc.delete"]);
    app.shutdown().await;
}
