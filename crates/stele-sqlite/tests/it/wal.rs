//! The WAL stays bounded under back-to-back commits: the writer restarts it once its file
//! passes the limit, instead of letting it grow by the whole write volume.

use std::sync::Arc;

use stele_core::{parse_ingest_body, Limits, NewEvent, TenantId, Timestamp};
use stele_sqlite::SqliteStore;
use stele_store::{NewTenant, Store};

fn batch(n: usize) -> Vec<NewEvent> {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"action": "doc.edit", "message": "x".repeat(2000), "actor": {"id": format!("u{i}")}}))
        .collect();
    let body = serde_json::json!({ "events": events }).to_string();
    parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid").events
}

/// Frames in the WAL since its last restart (`wal_checkpoint` answers busy, log, checkpointed).
fn wal_frames(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).expect("checkpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_restarts_a_large_wal() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stele.db");
    let limit = 1024 * 1024;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_with_wal_limit(&path, limit).expect("open"));
    let tenant = TenantId::parse("acme").expect("id");
    let created = NewTenant { id: tenant.clone(), name: "acme".into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(created, batch(1).remove(0)).await.expect("tenant");
    // ~12 MB of events from 6 clients at once, so the writer commits back to back.
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (store, tenant) = (store.clone(), tenant.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..10 {
                store.append(&tenant, batch(100), None).await.expect("append");
            }
        }));
    }
    for c in clients {
        c.await.expect("client");
    }
    // Without restarts the file holds the whole volume (the checkpointer never catches up).
    let wal_bytes = std::fs::metadata(dir.path().join("stele.db-wal")).expect("wal").len();
    let frames = wal_frames(&path);
    store.close().await;
    assert!(wal_bytes < 4 * limit, "the WAL file grew to {wal_bytes} bytes ({frames} frames since its restart)");
    assert_eq!(store_count(&path), 6001, "nothing was lost");
}

fn store_count(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).expect("count")
}
