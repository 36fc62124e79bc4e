//! Crash loop (issue #15 item 5): `stele serve` is killed with SIGKILL 20 times at random
//! moments while clients append, the operator redacts and the signer signs heads. After
//! every restart: each acknowledged event is present with its seq, unchanged — or a
//! tombstone, if a redaction of it was sent (an acknowledged redaction must have stuck);
//! seq is gapless; and a monitor (`stele verify --server --state`) that has followed every
//! head since the start finds the log consistent. At the end a full export verifies
//! offline. The moments come from a seed printed by the test (`STELE_TEST_SEED` replays
//! one). On PostgreSQL too (skipped, saying so, without `STELE_TEST_POSTGRES_URL`).

use crate::common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use common::{
    all_events, export_verifies_offline, fresh_postgres_database, load, postgres_server, tenant_with_key, verify,
    Acked, Server, OPERATOR,
};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::Mutex;

const KILLS: usize = 20;

/// Ids a redaction was sent for, and those it was acknowledged for.
#[derive(Default)]
struct Redactions {
    sent: HashSet<String>,
    acked: HashSet<String>,
}

/// Redacts acknowledged events one after another until the server stops answering.
fn redactor(url: String, acked: Acked, redactions: Arc<Mutex<Redactions>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let candidate = {
                let sent = &redactions.lock().await.sent;
                acked.lock().await.keys().find(|id| !sent.contains(*id)).cloned()
            };
            let Some(id) = candidate else {
                tokio::task::yield_now().await;
                continue;
            };
            redactions.lock().await.sent.insert(id.clone());
            let answer = http
                .post(format!("{url}/v1/events/{id}/redact"))
                .bearer_auth(OPERATOR)
                .header("x-stele-tenant", "acme")
                .json(&json!({"reason": "crash loop"}))
                .send()
                .await;
            match answer {
                Ok(r) if r.status() == 200 => {
                    redactions.lock().await.acked.insert(id);
                }
                _ => return,
            }
        }
    })
}

async fn check(url: &str, key: &str, acked: &Acked, redactions: &Mutex<Redactions>, round: usize) {
    let stored = all_events(url, key).await;
    let seqs: BTreeSet<u64> = stored.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs.len(), stored.len(), "round {round}: no duplicate seq");
    assert_eq!(
        seqs.iter().copied().collect::<Vec<_>>(),
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "round {round}: gapless"
    );
    let by_id: HashMap<&str, &Value> = stored.iter().map(|e| (e["id"].as_str().expect("id"), e)).collect();
    let redactions = redactions.lock().await;
    for (id, (seq, sent)) in acked.lock().await.iter() {
        let got = by_id.get(id.as_str()).unwrap_or_else(|| panic!("round {round}: acknowledged event {id} is missing"));
        assert_eq!(got["seq"].as_u64(), Some(*seq), "round {round}: event {id} kept its seq");
        assert_eq!(got["action"], sent["action"]);
        if got.get("redacted").is_some() {
            assert!(redactions.sent.contains(id), "round {round}: {id} is a tombstone nobody asked for");
        } else {
            assert!(!redactions.acked.contains(id), "round {round}: the acknowledged redaction of {id} was lost");
            assert_eq!(got["message"], sent["message"], "round {round}: event {id} unchanged");
            assert_eq!(got["metadata"], sent["metadata"], "round {round}: event {id} unchanged");
        }
    }
}

async fn crash_loop(database: Option<&str>) {
    let seed = std::env::var("STELE_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    println!("crash loop seed {seed} (set STELE_TEST_SEED={seed} to replay these moments)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Server::start_with(dir.path(), Some(OPERATOR), database);
    let key = tenant_with_key(&server.url, "acme").await;
    let acked: Acked = Arc::default();
    let redactions = Arc::new(Mutex::new(Redactions::default()));
    let state = dir.path().join("monitor.json");
    let http = reqwest::Client::new();
    for round in 1..=KILLS {
        let mut ticks = load(&server.url, &key, 4, acked.clone());
        let redacting = redactor(server.url.clone(), acked.clone(), redactions.clone());
        // The monitor follows the heads signed under load (every other round, at a random
        // point, so some kills land while it reads).
        let before_monitor = rng.gen_range(1..10);
        let after_monitor = rng.gen_range(0..20);
        for _ in 0..before_monitor {
            ticks.recv().await.expect("writers running");
        }
        if round % 2 == 1 {
            let head = http.get(format!("{}/v1/integrity/head?min_size=1", server.url)).bearer_auth(&key).send().await;
            assert_eq!(head.expect("head").status(), 200);
            let seen = verify(&["--server", &server.url, "--key", &key, "--samples", "3", "--state"], &state).await;
            assert!(seen.status.success(), "round {round}: {}", String::from_utf8_lossy(&seen.stderr));
        }
        for _ in 0..after_monitor {
            ticks.recv().await.expect("writers running");
        }
        server.kill();
        drop(ticks);
        let _ = redacting.await;
        server = Server::start_with(dir.path(), Some(OPERATOR), database);
        check(&server.url, &key, &acked, &redactions, round).await;
    }
    let done = redactions.lock().await.acked.len();
    assert!(acked.lock().await.len() >= 100 && done >= 1, "the load ran: {done} redactions");
    // The monitor's saved heads are all consistent with the log after the last restart.
    let size = all_events(&server.url, &key).await.len();
    let head = http.get(format!("{}/v1/integrity/head?min_size={size}", server.url)).bearer_auth(&key).send().await;
    assert_eq!(head.expect("head").status(), 200);
    let after = verify(&["--server", &server.url, "--key", &key, "--samples", "50", "--state"], &state).await;
    assert!(after.status.success(), "{}", String::from_utf8_lossy(&after.stderr));
    export_verifies_offline(&server.url, &key, dir.path()).await;
    println!(
        "crash loop: {KILLS} kills, {} events acknowledged, {done} redactions acknowledged",
        acked.lock().await.len()
    );
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_under_load_lose_nothing_acknowledged() {
    crash_loop(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_under_load_lose_nothing_acknowledged_on_postgres() {
    let Some(pg) = postgres_server("twenty_kills_under_load_lose_nothing_acknowledged_on_postgres") else { return };
    let db = fresh_postgres_database(&pg).await;
    crash_loop(Some(&db)).await;
}
