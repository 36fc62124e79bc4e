//! Profile answers hold bounded memory whatever their size (security review, issue #10
//! finding 6): ConfigCat V1 (up to 10,000 events in one array) and CloudCockpit (pages of up
//! to 2,000) stream their bodies instead of building them.
//!
//! Peak memory is the process's `VmHWM` (Linux), reset before each answer through
//! `/proc/self/clear_refs`; the server runs in this process. The log is 4,000 events of
//! about 30 KB (120 MB): building an answer held every event several times over; streaming
//! holds a few chunks of 100 (numbers at [`BOUND_BYTES`]). Each test runs
//! in its own process under nextest (`scripts/test`); under `cargo test`, run them alone
//! (`cargo test -p stele-server --test it profile_memory -- --test-threads 1`), as other
//! tests' memory would count.

use crate::common;

use common::{spawn_app, Key, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PRODUCT: &str = "08d8e6f3-1111-4222-8333-444455556666";
const DOMAIN: &str = "acme.example";
const EVENTS: usize = 4000;
const BATCH: usize = 200;

/// Most the peak RSS may grow while one answer is served: a few chunks of 100 events of
/// 30 KB in their stored, typed and rendered forms (~10 MB), and slack. Measured: the built
/// answers grew it by 62 MB (CloudCockpit, 2,000 events) and 150 MB (ConfigCat, 4,000);
/// streamed, by less than 1 MB (the heap the ingest left free is reused).
const BOUND_BYTES: u64 = 24 * 1024 * 1024;

fn status_kb(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a kB value")
}

/// Resets the peak RSS to the current RSS; the RSS now.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    status_kb("VmRSS:") * 1024
}

fn peak() -> u64 {
    status_kb("VmHWM:") * 1024
}

/// `acme` (alias `DOMAIN`) with `EVENTS` events of about 30 KB of product `PRODUCT`.
async fn big_log(app: &TestApp) -> Key {
    app.create_tenant("acme").await;
    let resp = app
        .http
        .patch(app.url("/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .json(&json!({"aliases": [DOMAIN]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let key = app.create_key("acme", &["events:write", "events:read"]).await;
    for batch in 0..EVENTS / BATCH {
        let events: Vec<Value> = (0..BATCH)
            .map(|i| {
                json!({"action": "settingValueChanged", "message": "m".repeat(8000),
                       "metadata": {"blob": format!("{}{batch}-{i}", "x".repeat(22_000))},
                       "context": {"product_id": PRODUCT}})
            })
            .collect();
        let resp = app.ingest(&key.secret, &json!({ "events": events })).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    }
    key
}

/// Reads an answer chunk by chunk (the test's own memory stays small); its size and its
/// first and last bytes.
async fn drain(resp: reqwest::Response) -> (usize, u8, u8) {
    let mut resp = resp;
    let (mut size, mut first, mut last) = (0, 0, 0);
    while let Some(chunk) = resp.chunk().await.expect("a chunk") {
        if size == 0 {
            first = chunk[0];
        }
        size += chunk.len();
        last = chunk[chunk.len() - 1];
    }
    (size, first, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configcat_v1_streams_10000_event_answers_in_bounded_memory() {
    let app = spawn_app().await;
    let key = big_log(&app).await;
    let before = reset_peak();
    let resp = app
        .http
        .get(app.url(&format!("/v1/products/{PRODUCT}/auditlogs")))
        .basic_auth(&key.id, Some(&key.secret))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let (size, first, last) = drain(resp).await;
    let grown = peak().saturating_sub(before);
    eprintln!("peak RSS grew {} MB", grown >> 20);
    assert!(size > EVENTS * 8000, "the answer holds every event ({size} bytes)");
    assert_eq!((first, last), (b'[', b']'));
    assert!(grown < BOUND_BYTES, "peak RSS grew {} MB while answering", grown >> 20);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudcockpit_streams_2000_event_pages_in_bounded_memory() {
    let app = spawn_app().await;
    let key = big_log(&app).await;
    let before = reset_peak();
    let resp = app
        .http
        .get(app.url("/v1/AuditLogs?PageSize=2000"))
        .header("X-Tenant", DOMAIN)
        .bearer_auth(&key.secret)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let (size, first, last) = drain(resp).await;
    let grown = peak().saturating_sub(before);
    eprintln!("peak RSS grew {} MB", grown >> 20);
    assert!(size > 2000 * 8000, "the page holds 2000 events ({size} bytes)");
    assert_eq!((first, last), (b'{', b'}'));
    assert!(grown < BOUND_BYTES, "peak RSS grew {} MB while answering", grown >> 20);
    app.shutdown().await;
}
