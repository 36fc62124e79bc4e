//! `stele backup` of a running server and `stele restore`: the restored log verifies, is
//! consistent with every head signed before the backup, and the monitor reports the events
//! appended after the backup as missing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use crate::common;

use std::path::Path;
use std::process::Output;

use common::{output_text, post_events, stele, tenant_with_key, wait_for_head, Server, OPERATOR};
use serde_json::{json, Value};

async fn ingest(url: &str, key: &str, n: usize, tag: &str) {
    let events: Vec<Value> = (0..n).map(|i| json!({"action": "doc.edit", "message": format!("{tag} {i}")})).collect();
    post_events(url, key, events).await;
}

fn run(args: &[&str], data_dir: &Path) -> Output {
    stele()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("STELE_DATABASE_URL")
        .env_remove("STELE_CONFIG")
        .output()
        .unwrap()
}

fn monitor(url: &str, key: &str, state: &Path) -> Output {
    common::monitor(url, key, state, 1000)
}

fn text(o: &Output) -> String {
    output_text(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_log_verifies_and_the_monitor_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, Some(OPERATOR));
    let key = tenant_with_key(&server.url, "acme").await;
    ingest(&server.url, &key, 40, "before").await;
    wait_for_head(&server.url, &key, 42).await;
    let state = dir.path().join("monitor.json");
    assert!(monitor(&server.url, &key, &state).status.success());
    // What a monitor knew before the backup: kept to check the restored log against it.
    let early = dir.path().join("early.json");
    std::fs::copy(&state, &early).unwrap();

    // Online: the backup runs while the server takes writes.
    let writer = tokio::spawn({
        let (url, key) = (server.url.clone(), key.clone());
        async move {
            for _ in 0..5 {
                ingest(&url, &key, 20, "during").await;
            }
        }
    });
    let file = dir.path().join("backup.db");
    let backed = run(&["backup", "--to", file.to_str().unwrap()], &data);
    assert!(backed.status.success(), "{}", text(&backed));
    assert!(text(&backed).contains("acme: "), "{}", text(&backed));
    writer.await.unwrap();
    let again = run(&["backup", "--to", file.to_str().unwrap()], &data);
    assert!(!again.status.success() && text(&again).contains("already exists"), "{}", text(&again));

    // More events after the backup; the monitor sees them.
    ingest(&server.url, &key, 10, "after").await;
    wait_for_head(&server.url, &key, 152).await;
    assert!(monitor(&server.url, &key, &state).status.success());
    server.terminate();

    // Restoring over a database needs --force; a damaged file is refused.
    let refused = run(&["restore", "--from", file.to_str().unwrap()], &data);
    assert!(!refused.status.success() && text(&refused).contains("--force"), "{}", text(&refused));
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, not even close to one").unwrap();
    let damaged = run(&["restore", "--from", junk.to_str().unwrap(), "--force"], &data);
    assert!(!damaged.status.success(), "{}", text(&damaged));
    let restored = run(&["restore", "--from", file.to_str().unwrap(), "--force"], &data);
    assert!(restored.status.success(), "{}", text(&restored));
    let size: u64 = text(&restored)
        .lines()
        .find_map(|l| l.trim().strip_prefix("acme: ")?.strip_suffix(" events")?.parse().ok())
        .expect("the restored log size");
    assert!((42..152).contains(&size), "the backup holds what was committed when it ran: {size}");
    // The index described the replaced log: restore drops it, and `stele reindex` rebuilds it
    // from the restored one (as `serve` would in the background).
    let index = data.join("stele.db-index");
    assert!(!index.exists(), "the old index file is gone");
    let reindexed = run(&["reindex"], &data);
    assert!(reindexed.status.success(), "{}", text(&reindexed));
    assert!(text(&reindexed).contains(&format!("reindexed {size} events")), "{}", text(&reindexed));
    assert!(index.exists());

    let server = Server::start(&data, Some(OPERATOR));
    // Searches over the rebuilt index: every "before" event (all 40 are in the backup).
    let found: Value = reqwest::Client::new()
        .get(format!("{}/v1/events?q=before&limit=100", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["events"].as_array().map(Vec::len), Some(40), "{found}");
    // The restored log serves every event it holds and proves them against its own heads.
    wait_for_head(&server.url, &key, size).await;
    let export = dir.path().join("export.ndjson");
    let body = reqwest::Client::new()
        .get(format!("{}/v1/events/export", server.url))
        .bearer_auth(OPERATOR)
        .header("x-stele-tenant", "acme")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&export, body).unwrap();
    let public: Value = reqwest::Client::new()
        .get(format!("{}/v1/integrity/key", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verified = stele()
        .args(["verify", "--export"])
        .arg(&export)
        .args(["--public-key", public["public_key"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));
    // The monitor saw 152 events: the ones after the backup are reported as missing.
    let after = monitor(&server.url, &key, &state);
    assert!(!after.status.success());
    let expected = format!("events {}..=152 are missing", size + 1);
    assert!(text(&after).contains(&expected), "{}", text(&after));
    // A monitor that saw the log before the backup finds the restored one consistent with it.
    let before = monitor(&server.url, &key, &early);
    assert!(before.status.success(), "{}", text(&before));
    drop(server);
}
