//! No acknowledged event is lost: a server killed with SIGKILL mid-load, restarted on the
//! same data dir, still has every event it answered 201 for, unchanged, with gapless seq.
//! After the restart the Merkle tree still verifies: every head signed before the kill is
//! consistent with the heads after it, and a full export rebuilds the signed root.
//! Also: SIGTERM shuts down gracefully (exit 0) without losing acknowledged events.
//! The SIGKILL test runs on SQLite and on a fresh PostgreSQL database (skipped, saying so,
//! when `STELE_TEST_POSTGRES_URL` is not set).

use crate::common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use common::{
    all_events, export_verifies_offline, fresh_postgres_database, load, postgres_server, tenant_with_key, verify,
    Acked, Server, OPERATOR,
};
use serde_json::Value;

async fn check_all_present(url: &str, key: &str, acked: &Acked) {
    let stored = all_events(url, key).await;
    let seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "no duplicate seq");
    assert_eq!(unique.iter().copied().collect::<Vec<_>>(), (1..=seqs.len() as u64).collect::<Vec<_>>(), "gapless seq");
    let by_id: HashMap<&str, &Value> = stored.iter().map(|e| (e["id"].as_str().expect("id"), e)).collect();
    let acked = acked.lock().await;
    assert!(acked.len() >= 200, "the load ran: {} acknowledged", acked.len());
    for (id, (seq, sent)) in acked.iter() {
        let got = by_id.get(id.as_str()).unwrap_or_else(|| panic!("acknowledged event {id} is missing"));
        assert_eq!(got["seq"].as_u64(), Some(*seq), "event {id} kept its seq");
        assert_eq!(got["message"], sent["message"]);
        assert_eq!(got["metadata"], sent["metadata"]);
        assert_eq!(got["action"], sent["action"]);
    }
}

/// Load, SIGKILL after 60 acknowledged batches, restart on the same database, check.
async fn sigkill_mid_load(database: Option<&str>) {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start_with(dir.path(), Some(OPERATOR), database);
    let key = tenant_with_key(&server.url, "acme").await;
    let acked: Acked = Arc::default();
    let mut ticks = load(&server.url, &key, 8, acked.clone());
    for _ in 0..30 {
        ticks.recv().await.expect("writers running");
    }
    // A monitor saves a head signed under load (once there is one)...
    let http = reqwest::Client::new();
    let first = http.get(format!("{}/v1/integrity/head?min_size=1", server.url)).bearer_auth(&key).send().await;
    assert_eq!(first.expect("head").status(), 200);
    let state = dir.path().join("monitor.json");
    let monitored = verify(&["--server", &server.url, "--key", &key, "--samples", "5", "--state"], &state).await;
    assert!(monitored.status.success(), "{}", String::from_utf8_lossy(&monitored.stderr));
    for _ in 0..30 {
        ticks.recv().await.expect("writers running");
    }
    server.kill();
    drop(ticks);

    let server = Server::start_with(dir.path(), Some(OPERATOR), database);
    check_all_present(&server.url, &key, &acked).await;
    // ...which the log after the crash must extend; and the whole log verifies offline.
    let size = all_events(&server.url, &key).await.len();
    let head = http.get(format!("{}/v1/integrity/head?min_size={size}", server.url)).bearer_auth(&key).send().await;
    assert_eq!(head.expect("head").status(), 200);
    let after = verify(&["--server", &server.url, "--key", &key, "--samples", "50", "--state"], &state).await;
    assert!(after.status.success(), "{}", String::from_utf8_lossy(&after.stderr));
    export_verifies_offline(&server.url, &key, dir.path()).await;
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_acknowledged_event() {
    sigkill_mid_load(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_acknowledged_event_on_postgres() {
    let Some(server) = postgres_server("sigkill_mid_load_loses_no_acknowledged_event_on_postgres") else { return };
    let db = fresh_postgres_database(&server).await;
    sigkill_mid_load(Some(&db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    let key = tenant_with_key(&server.url, "acme").await;
    let acked: Acked = Arc::default();
    let mut ticks = load(&server.url, &key, 8, acked.clone());
    for _ in 0..60 {
        ticks.recv().await.expect("writers running");
    }
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    drop(ticks);

    let server = Server::start(dir.path(), Some(OPERATOR));
    check_all_present(&server.url, &key, &acked).await;
}
