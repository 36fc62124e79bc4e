//! `stele verify` against tampering done through the real database: a changed field, two
//! swapped events, and deleted newest events must each be detected, with the seq named
//! where the check can name it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

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
