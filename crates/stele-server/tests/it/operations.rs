//! Health, readiness, metrics, the OpenAPI document, unknown routes, and concurrent ingest.

use crate::common;

use std::collections::{BTreeSet, HashMap};

use common::{assert_problem, id, seq, spawn_app};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let body: Value = resp.json().await.expect("json");
        assert!(body["status"].is_string(), "{path}: {body}");
    }
    app.shutdown().await;
}

/// The value of the `/metrics` line that starts with `prefix` (name, labels and a space).
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{prefix} missing from /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_ingest() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    app.ingest_ok(&key.secret, &json!({"events": [{"action": "a"}, {"action": "b"}]})).await;
    let resp = app.http.get(app.url("/metrics")).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = resp.text().await.expect("body");
    for name in ["stele_events_ingested_total", "stele_http_request_duration_seconds", "stele_writer_batch_events"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from /metrics:\n{text}");
    }
    let ingested = sample(&text, "stele_events_ingested_total ");
    assert!(ingested >= 2.0, "{ingested}");
    // Requests are labelled by route template, not by raw path.
    assert!(text.contains("route=\"/v1/events\""), "{text}");
    if common::backend() == common::Backend::Sqlite {
        // The indexer's delay is a histogram (`stele bench ingest` subtracts two scrapes'
        // bucket counts to get each load's p99): once the events are indexed, its buckets
        // count the group.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let text = loop {
            let text = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("body");
            if text.lines().any(|l| l.starts_with("stele_index_delay_seconds_count ")) {
                break text;
            }
            assert!(std::time::Instant::now() < deadline, "no indexer group recorded:\n{text}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let groups = sample(&text, "stele_index_delay_seconds_count ");
        assert!(groups >= 1.0, "{groups}");
        assert_eq!(sample(&text, "stele_index_delay_seconds_bucket{le=\"+Inf\"} "), groups);
        assert!(sample(&text, "stele_index_delay_seconds_bucket{le=\"60\"} ") <= groups);
    } else {
        eprintln!("stele_index_delay_seconds not checked: only the SQLite indexer records it");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_covers_every_route() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/openapi.json")).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = resp.json().await.expect("valid JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    let expected: [(&str, &[&str]); 8] = [
        ("/v1/events", &["get", "post"]),
        ("/v1/events/{id}", &["get"]),
        ("/v1/tenants", &["get", "post"]),
        ("/v1/keys", &["get", "post"]),
        ("/v1/keys/{id}", &["delete"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing from the OpenAPI paths"));
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path} missing");
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object(), "bearer scheme documented");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_problems() {
    let app = spawn_app().await;
    for path in ["/nope", "/v1/nothing", "/v2/events"] {
        let resp = app.http.get(app.url(path)).send().await.expect("sent");
        assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    }
    app.shutdown().await;
}

/// A known route with a method it does not serve should answer 405 as problem+json too
/// (brief §5: errors as RFC 9457 problem+json).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_a_problem() {
    let app = spawn_app().await;
    let resp = app.http.delete(app.url("/v1/events")).bearer_auth(common::OPERATOR).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers().get("allow").is_some(), "405 names the allowed methods");
    assert_problem(resp, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_event_ingest_is_gapless() {
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 20;
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let head = app.all_events("acme").await.iter().map(seq).max().expect("setup events");
    assert_eq!(head, 2, "tenant created, key created");

    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (url, secret) = (app.url("/v1/events"), key.secret.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut receipts = Vec::new();
            for i in 0..PER_CLIENT {
                let resp = http
                    .post(&url)
                    .bearer_auth(&secret)
                    .json(&json!({"action": "load", "metadata": {"c": c, "i": i}}))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(resp.status(), StatusCode::CREATED);
                let r: Value = resp.json().await.expect("receipt");
                receipts.push(((c, i), r));
            }
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.extend(t.await.expect("client task"));
    }
    let n = (CLIENTS * PER_CLIENT) as u64;
    let seqs: BTreeSet<u64> = receipts.iter().map(|(_, r)| seq(r)).collect();
    assert_eq!(seqs.len() as u64, n, "duplicate seqs in receipts");
    assert_eq!(seqs, (head + 1..=head + n).collect::<BTreeSet<_>>(), "receipt seqs have gaps");

    // The log agrees: 1..=head+n, each receipt's seq holding the event that client sent.
    let log = app.all_events("acme").await;
    let by_seq: HashMap<u64, &Value> = log.iter().map(|e| (seq(e), e)).collect();
    assert_eq!(log.len() as u64, head + n);
    assert_eq!(by_seq.len(), log.len(), "duplicate seqs in the log");
    assert!((1..=head + n).all(|s| by_seq.contains_key(&s)), "gaps in the log");
    for ((c, i), r) in &receipts {
        let e = by_seq[&seq(r)];
        assert_eq!(id(e), id(r));
        assert_eq!(e["metadata"], json!({"c": c, "i": i}));
    }
    app.shutdown().await;
}
