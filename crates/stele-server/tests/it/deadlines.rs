//! Every store read has a deadline and stops when its request goes away (security review,
//! issue #10 finding 5), on both backends.

use crate::common;

use std::time::{Duration, Instant};

use common::{assert_problem, spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A filter that reads every event's metadata and matches none: tens to hundreds of
/// milliseconds of work over the events `expensive_log` stores, on either backend.
const SLOW_FILTER: &str = r#"metadata.blob co "no-such-text""#;

/// A tenant `acme` with 10,000 events of about 1 KB of metadata each.
async fn expensive_log(app: &TestApp) {
    let key = app.tenant_with_key("acme").await;
    for batch in 0..10 {
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"action": "a", "metadata": {"blob": format!("{}{batch}-{i}", "x".repeat(1000))}}))
            .collect();
        let resp = app.ingest(&key.secret, &json!({ "events": events })).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
}

async fn slow_count(app: &TestApp) -> reqwest::Response {
    app.op_get("/v1/events/count", "acme").query(&[("filter", SLOW_FILTER)]).send().await.expect("sent")
}

/// The process's `stele_queries_cancelled_total`.
async fn cancelled(app: &TestApp) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix("stele_queries_cancelled_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_deadline_is_a_503_problem() {
    let app = spawn_app().await;
    expensive_log(&app).await;
    // Positive control: with the default deadline the same query answers.
    let resp = slow_count(&app).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json")["count"], 0);
    let app = app.restart_with(|c| c.store.query_timeout_ms = 1).await;
    let resp = slow_count(&app).await;
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("5"));
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "query-timeout").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_request_went_away_is_stopped() {
    let app = spawn_app().await;
    expensive_log(&app).await;
    let start = Instant::now();
    assert_eq!(slow_count(&app).await.status(), StatusCode::OK);
    let took = start.elapsed();
    eprintln!("the slow count takes {took:?}");
    // The request is dropped a quarter of the way into its count (the pool is warm: /readyz
    // and /v1/tenants use the connection the count reuses).
    let app = app.restart_with(|c| c.server.request_timeout_ms = (took.as_millis() as u64 / 4).max(10)).await;
    assert_eq!(app.http.get(app.url("/readyz")).send().await.expect("sent").status(), StatusCode::OK);
    let before = cancelled(&app).await;
    let resp = slow_count(&app).await;
    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "request-timeout").await;
    let start = Instant::now();
    while cancelled(&app).await <= before {
        assert!(start.elapsed() < Duration::from_secs(20), "the abandoned read was not stopped");
        tokio::task::yield_now().await;
    }
    // The store is free again.
    let resp = app.http.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app.get("/v1/tenants", OPERATOR).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    app.shutdown().await;
}
