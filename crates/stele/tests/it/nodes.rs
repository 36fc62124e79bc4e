//! Several nodes: two `stele serve` processes on one fresh PostgreSQL database, 8 concurrent
//! clients spread across them writing batches to the same 3 tenants. Afterwards every
//! tenant's log must be gapless (seq 1..n), hold no duplicate id or seq, count exactly n on
//! both nodes, and contain every acknowledged event with the seq it was acknowledged with.
//! Skipped (saying so) when `STELE_TEST_POSTGRES_URL` is not set.

use crate::common;

use std::collections::{BTreeSet, HashMap, HashSet};

use common::{all_events, count, fresh_postgres_database, postgres_server, tenant_with_key, Server, OPERATOR};
use serde_json::{json, Value};

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const CLIENTS: usize = 8;
const ROUNDS: usize = 24;

/// One acknowledged event: tenant, id, seq, and the message that was sent.
#[derive(Debug, Clone)]
struct Ack {
    tenant: &'static str,
    id: String,
    seq: u64,
    message: String,
}

/// Client `client` sends `ROUNDS` batches of 1-4 events to `url`, cycling through the
/// tenants; returns what was acknowledged. Any answer but 201 fails the test.
async fn client(client: usize, url: String, keys: HashMap<&'static str, String>) -> Vec<Ack> {
    let http = reqwest::Client::new();
    let mut acks = Vec::new();
    for round in 0..ROUNDS {
        let tenant = TENANTS[(client + round) % TENANTS.len()];
        let size = 1 + (client + round) % 4;
        let messages: Vec<String> = (0..size).map(|i| format!("c{client} r{round} i{i} {tenant}")).collect();
        let events: Vec<Value> = messages
            .iter()
            .map(|m| json!({"action": "nodes.write", "message": m, "metadata": {"client": client}}))
            .collect();
        let response = http
            .post(format!("{url}/v1/events"))
            .bearer_auth(&keys[tenant])
            .json(&json!({ "events": events }))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.expect("receipt JSON");
        assert_eq!(status, 201, "client {client} round {round}: {body}");
        let receipts = body["events"].as_array().expect("receipts");
        assert_eq!(receipts.len(), size, "one receipt per event");
        for (receipt, message) in receipts.iter().zip(messages) {
            acks.push(Ack {
                tenant,
                id: receipt["id"].as_str().expect("id").to_owned(),
                seq: receipt["seq"].as_u64().expect("seq"),
                message,
            });
        }
    }
    acks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_database_stay_correct() {
    let Some(pg) = postgres_server("two_nodes_on_one_postgres_database_stay_correct") else { return };
    let db = fresh_postgres_database(&pg).await;
    let (dir_a, dir_b) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    // Both nodes start (and migrate) at once.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start_with(dir_a.path(), Some(OPERATOR), Some(&db)));
        let b = s.spawn(|| Server::start_with(dir_b.path(), Some(OPERATOR), Some(&db)));
        (a.join().expect("node a starts"), b.join().expect("node b starts"))
    });
    let nodes = [a.url.clone(), b.url.clone()];

    // Tenants and keys are made on alternating nodes; each key works on both.
    let mut keys: HashMap<&'static str, String> = HashMap::new();
    for (i, t) in TENANTS.iter().enumerate() {
        keys.insert(t, tenant_with_key(&nodes[i % 2], t).await);
    }

    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        tasks.push(tokio::spawn(client(c, nodes[c % 2].clone(), keys.clone())));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.expect("client finished"));
    }
    let expected_user_events: usize = (0..CLIENTS).flat_map(|c| (0..ROUNDS).map(move |r| 1 + (c + r) % 4)).sum();
    assert_eq!(acks.len(), expected_user_events, "every event acknowledged");

    for tenant in TENANTS {
        let key = &keys[tenant];
        let mine: Vec<&Ack> = acks.iter().filter(|a| a.tenant == tenant).collect();
        assert!(!mine.is_empty(), "{tenant} got events");
        // Acknowledged seqs and ids are unique.
        let acked_seqs: HashSet<u64> = mine.iter().map(|a| a.seq).collect();
        assert_eq!(acked_seqs.len(), mine.len(), "{tenant}: two acknowledgements with one seq");
        let acked_ids: HashSet<&str> = mine.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(acked_ids.len(), mine.len(), "{tenant}: two acknowledgements with one id");

        let mut logs = Vec::new();
        for node in &nodes {
            let stored = all_events(node, key).await;
            let n = stored.len();
            let seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
            let unique: BTreeSet<u64> = seqs.iter().copied().collect();
            assert_eq!(unique.len(), n, "{tenant} via {node}: duplicate seq");
            assert_eq!(
                unique.iter().copied().collect::<Vec<_>>(),
                (1..=n as u64).collect::<Vec<_>>(),
                "{tenant} via {node}: seq is not gapless 1..{n}"
            );
            let ids: HashSet<&str> = stored.iter().map(|e| e["id"].as_str().expect("id")).collect();
            assert_eq!(ids.len(), n, "{tenant} via {node}: duplicate id");
            assert_eq!(count(node, key).await, n as u64, "{tenant} via {node}: count");
            // The log holds exactly the acknowledged events plus Stele's own (tenant and key
            // creation), each acknowledged event with its seq and content.
            let user: Vec<&Value> =
                stored.iter().filter(|e| !e["action"].as_str().unwrap_or_default().starts_with("stele.")).collect();
            assert_eq!(user.len(), mine.len(), "{tenant} via {node}: exact count of client events");
            let by_id: HashMap<&str, &Value> = stored.iter().map(|e| (e["id"].as_str().expect("id"), e)).collect();
            for ack in &mine {
                let got = by_id
                    .get(ack.id.as_str())
                    .unwrap_or_else(|| panic!("{tenant} via {node}: acknowledged event {} is missing", ack.id));
                assert_eq!(got["seq"].as_u64(), Some(ack.seq), "{tenant}: event {} kept its seq", ack.id);
                assert_eq!(got["message"].as_str(), Some(ack.message.as_str()), "{tenant}: event {}", ack.id);
            }
            logs.push(stored);
        }
        assert_eq!(logs[0], logs[1], "{tenant}: both nodes serve the same log");
    }
    a.terminate();
    b.terminate();
}
