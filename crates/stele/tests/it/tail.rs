//! Live tail from outside: `stele tail` against a `stele serve` process, and a tail on one
//! node receiving events appended through another node sharing a PostgreSQL database.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{fresh_postgres_database, post_events, postgres_server, stele, tenant_with_key, Server, OPERATOR};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// Failure bound for one message (events arrive within the tail's 250 ms poll).
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stele_tail_prints_past_and_new_matching_events_as_ndjson() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    let key = tenant_with_key(&server.url, "acme").await;
    post_events(&server.url, &key, vec![json!({"action": "cli.first"}), json!({"action": "other.skip"})]).await;
    let mut child = stele()
        .args(["tail", "--server", &server.url, "--key", &key, "--filter", r#"action sw "cli.""#, "--after", "0"])
        .args(["--limit", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("stele tail starts");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = lines_tx.send(line.expect("utf-8 line"));
        }
    });
    let first: Value =
        serde_json::from_str(&tokio::time::timeout(WAIT, lines.recv()).await.expect("a line").expect("open"))
            .expect("JSON");
    assert_eq!(first["action"], "cli.first", "history after --after is printed");
    post_events(&server.url, &key, vec![json!({"action": "other.skip"}), json!({"action": "cli.second"})]).await;
    let second: Value =
        serde_json::from_str(&tokio::time::timeout(WAIT, lines.recv()).await.expect("a line").expect("open"))
            .expect("JSON");
    assert_eq!(second["action"], "cli.second", "the live event, the other one filtered out");
    assert!(second["seq"].as_u64() > first["seq"].as_u64());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("joined").expect("exits");
    assert!(status.success(), "--limit 2 ends the command: {status}");

    // A refused request ends the command with the server's message.
    let out =
        stele().args(["tail", "--server", &server.url, "--key", &key, "--filter", "action eq"]).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("400"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_on_one_node_sees_events_appended_through_another() {
    let Some(pg) = postgres_server("a_tail_on_one_node_sees_events_appended_through_another") else { return };
    let db = fresh_postgres_database(&pg).await;
    let (dir_a, dir_b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let a = Server::start_with(dir_a.path(), Some(OPERATOR), Some(&db));
    let b = Server::start_with(dir_b.path(), Some(OPERATOR), Some(&db));
    let key = tenant_with_key(&a.url, "acme").await;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/events/tail", b.url))
        .bearer_auth(&key)
        .send()
        .await
        .expect("tail opens on node b");
    assert_eq!(response.status(), 200);
    let mut messages = response.bytes_stream().eventsource();
    let ready = tokio::time::timeout(WAIT, messages.next()).await.expect("in time").expect("open").expect("ok");
    assert_eq!(ready.event, "ready");
    post_events(&a.url, &key, vec![json!({"action": "nodes.tail", "message": "through node a"})]).await;
    let m = tokio::time::timeout(WAIT, messages.next()).await.expect("in time").expect("open").expect("ok");
    assert_eq!(m.event, "event");
    let event: Value = serde_json::from_str(&m.data).expect("JSON");
    assert_eq!(event["action"], "nodes.tail");
    assert_eq!(m.id, event["seq"].to_string());
}
