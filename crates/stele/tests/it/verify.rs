//! `stele verify` against tampering done through the real database: a changed field, two
//! swapped events, and deleted newest events must each be detected, with the seq named
//! where the check can name it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use crate::common;

use std::path::Path;
use std::process::Output;

use common::{output_text, post_events, stele, tenant_with_key, wait_for_head, Server, OPERATOR};
use serde_json::{json, Value};

async fn ingest(url: &str, key: &str, n: usize) {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"action": "doc.edit", "message": format!("edit {i}"), "actor": {"id": format!("u{i}")}}))
        .collect();
    post_events(url, key, events).await;
}

async fn export(url: &str, key: &str, to: &Path) {
    let text = reqwest::Client::new()
        .get(format!("{url}/v1/events/export"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(to, text).unwrap();
}

async fn public_key(url: &str, key: &str) -> String {
    let v: Value = reqwest::Client::new()
        .get(format!("{url}/v1/integrity/key"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["public_key"].as_str().unwrap().to_owned()
}

fn verify_export(file: &Path, public_key: &str) -> Output {
    stele().args(["verify", "--export"]).arg(file).args(["--public-key", public_key]).output().unwrap()
}

fn monitor(url: &str, key: &str, state: &Path) -> Output {
    common::monitor(url, key, state, 30)
}

fn text(o: &Output) -> String {
    output_text(o)
}

fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("stele.db")).unwrap()
}

#[tokio::test]
async fn a_changed_field_and_swapped_events_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(OPERATOR));
    let key = tenant_with_key(&server.url, "acme").await;
    ingest(&server.url, &key, 40).await;
    wait_for_head(&server.url, &key, 42).await;
    let public = public_key(&server.url, &key).await;
    let file = dir.path().join("export.ndjson");

    export(&server.url, &key, &file).await;
    let ok = verify_export(&file, &public);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("OK: 42 events"), "{}", text(&ok));

    // The wrong key fails.
    let other = stele_core::integrity::HeadSigner::generate().public().to_base64();
    let wrong = verify_export(&file, &other);
    assert!(!wrong.status.success());

    // One field of seq 10 changed with SQL.
    db(dir.path())
        .execute("UPDATE events SET json = replace(json, '\"edit 7\"', '\"edit 70\"') WHERE seq = 10", [])
        .unwrap();
    export(&server.url, &key, &file).await;
    let changed = verify_export(&file, &public);
    assert!(!changed.status.success());
    assert!(text(&changed).contains("seq 10: does not hash to its leaf"), "{}", text(&changed));
    db(dir.path())
        .execute("UPDATE events SET json = replace(json, '\"edit 70\"', '\"edit 7\"') WHERE seq = 10", [])
        .unwrap();
    export(&server.url, &key, &file).await;
    assert!(verify_export(&file, &public).status.success(), "restored");

    // Two events swapped (each still hashes to its own stated hash).
    let conn = db(dir.path());
    let a: String = conn.query_row("SELECT json FROM events WHERE seq = 20", [], |r| r.get(0)).unwrap();
    let b: String = conn.query_row("SELECT json FROM events WHERE seq = 21", [], |r| r.get(0)).unwrap();
    conn.execute("UPDATE events SET json = ?1 WHERE seq = 20", [&b]).unwrap();
    conn.execute("UPDATE events SET json = ?1 WHERE seq = 21", [&a]).unwrap();
    export(&server.url, &key, &file).await;
    let swapped = verify_export(&file, &public);
    assert!(!swapped.status.success());
    assert!(text(&swapped).contains("do not rebuild the signed root"), "{}", text(&swapped));
    // The monitor names the seq: the tree's leaf for 20 is not the served event's.
    let state = dir.path().join("monitor.json");
    let m = stele()
        .args(["verify", "--server", &server.url, "--key", &key, "--samples", "1000", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(!m.status.success(), "{}", text(&m));
    assert!(text(&m).contains("FAILED seq 20:") && text(&m).contains("FAILED seq 21:"), "{}", text(&m));
    drop(server);
}

#[tokio::test]
async fn deleting_the_newest_events_fails_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(OPERATOR));
    let key = tenant_with_key(&server.url, "acme").await;
    ingest(&server.url, &key, 30).await;
    wait_for_head(&server.url, &key, 32).await;
    let state = dir.path().join("monitor.json");
    let first = monitor(&server.url, &key, &state);
    assert!(first.status.success(), "{}", text(&first));
    ingest(&server.url, &key, 5).await;
    wait_for_head(&server.url, &key, 37).await;
    let second = monitor(&server.url, &key, &state);
    assert!(second.status.success(), "the log only grew: {}", text(&second));
    server.kill();

    // Delete the newest 10 events and every head that covered them.
    let conn = db(dir.path());
    conn.execute("DELETE FROM events WHERE seq > 27", []).unwrap();
    conn.execute("DELETE FROM tree_heads WHERE size > 27", []).unwrap();
    conn.execute("DELETE FROM merkle_nodes WHERE ((idx + 1) << level) > 27", []).unwrap();
    drop(conn);
    let server = Server::start(dir.path(), Some(OPERATOR));
    wait_for_head(&server.url, &key, 27).await;
    let after = monitor(&server.url, &key, &state);
    assert!(!after.status.success());
    assert!(text(&after).contains("the log shrank"), "{}", text(&after));

    // Growing back past the saved size does not hide it: the new tree is not an extension.
    ingest(&server.url, &key, 20).await;
    wait_for_head(&server.url, &key, 47).await;
    let grown = monitor(&server.url, &key, &state);
    assert!(!grown.status.success());
    assert!(text(&grown).contains("not consistent with the saved head"), "{}", text(&grown));
}

/// A tombstone keeps its leaf, so replacing an event's content with one leaves the root
/// intact: `stele verify` then needs the event that removed it — a `stele.retention.applied`
/// covering its seq (retention's own tombstones pass) or a `stele.event.redacted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tombstone_needs_the_event_that_removed_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(OPERATOR));
    let key = tenant_with_key(&server.url, "acme").await;
    let old = stele_core::Timestamp::from_micros(stele_core::Timestamp::now().as_micros() - 40 * 86_400_000_000);
    let events: Vec<Value> = (0..3)
        .map(|i| json!({"action": "doc.old", "time": old.to_string(), "actor": {"id": format!("u{i}")}}))
        .collect();
    post_events(&server.url, &key, events).await;
    ingest(&server.url, &key, 3).await;
    let http = reqwest::Client::new();
    let put =
        http.put(format!("{}/v1/tenants/acme/retention", server.url)).bearer_auth(OPERATOR).json(&json!({"days": 30}));
    assert_eq!(put.send().await.unwrap().status(), 200);
    let run: Value = http
        .post(format!("{}/v1/tenants/acme/retention/run", server.url))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["expired"], 3, "{run}");
    let size = common::count(&server.url, &key).await;
    wait_for_head(&server.url, &key, size).await;
    let file = dir.path().join("export.ndjson");
    export(&server.url, &key, &file).await;
    let public = public_key(&server.url, &key).await;
    let ok = verify_export(&file, &public);
    assert!(ok.status.success(), "retention's tombstones are accounted for: {}", text(&ok));
    assert!(text(&ok).contains("(3 redacted)"), "{}", text(&ok));

    // A live event's content replaced by a tombstone with its leaf: the root still matches,
    // but nothing accounts for the tombstone.
    let original = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    let at = lines.iter().position(|l| l.contains("\"doc.edit\"")).unwrap();
    let live: Value = serde_json::from_str(&lines[at]).unwrap();
    let forged = json!({"seq": live["seq"], "id": live["id"], "time": live["time"], "received_at": live["received_at"],
        "action": live["action"], "status": live["status"], "truncated": false,
        "redacted": {"at": live["time"], "by": "stele.retention", "reason": "retention: older than 30 days"},
        "hash": live["hash"]});
    lines[at] = forged.to_string();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let bad = verify_export(&file, &public);
    assert!(!bad.status.success(), "an unaccounted tombstone must fail");
    assert!(text(&bad).contains("a tombstone without"), "{}", text(&bad));
    drop(server);
}
