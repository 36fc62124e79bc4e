//! `stele bench streams`: what three active streams cost ingest, and how far behind the log
//! they deliver under load, in one run.
//!
//! Each round starts two fresh `stele serve` processes (SQLite), one after the other in
//! alternating order: one with no streams, one with three webhook streams (two of every
//! event, one filtered to `user.*`) to a receiver in this process. Both get the same load
//! (`--clients` connections posting batches of `--batch` varied events for `--seconds`);
//! the table gives the median acknowledged events per second of each and their ratio (the
//! target is ≥ 0.90), then the delivery lag — the receiver's clock at arrival minus the
//! event's `received_at` — p50/p99/max over every delivered event of the three streams,
//! measured during the load and while the streams drain after it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::process::ServerProcess;

#[derive(clap::Args, Debug, Clone)]
pub struct StreamsOptions {
    /// Seconds of load per run.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Concurrent connections posting batches.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Rounds (each runs without and with streams, in alternating order).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// How often a caught-up stream looks for new events (`[streams] poll_ms`; the server's
    /// default is 250). Lower polls cut the lag and cost more reads and requests.
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
}

pub struct StreamsReport {
    options: StreamsOptions,
    /// Acknowledged events per second: `[no streams, three streams]`, one per round.
    rates: [Vec<f64>; 2],
    /// The server's CPU µs per ingested event, load and delivery included (until the
    /// streams drained): `[no streams, three streams]`, one per round.
    cpu: [Vec<f64>; 2],
    /// Lags in milliseconds of every delivered event (all streams, all rounds).
    lags: Vec<f64>,
    /// Events delivered per stream path, summed over rounds, and the events each should have had.
    delivered: Vec<(String, u64, u64)>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl fmt::Display for StreamsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "Streams on SQLite: {} s of load per run, {} clients × batches of {}, {} rounds, poll {} ms (median events/s)",
            o.seconds, o.clients, o.batch, o.rounds, o.poll_ms
        )?;
        let (none, three) = (median(&self.rates[0]), median(&self.rates[1]));
        writeln!(f, "{:<32} {:>12}", "ingest, no streams", format!("{none:.0}"))?;
        writeln!(f, "{:<32} {:>12}", "ingest, 3 active streams", format!("{three:.0}"))?;
        writeln!(f, "{:<32} {:>12.2}   (target ≥ 0.90)", "ratio", three / none.max(1e-9))?;
        let (cpu_none, cpu_three) = (median(&self.cpu[0]), median(&self.cpu[1]));
        writeln!(
            f,
            "server CPU per event: {cpu_none:.0} µs without streams, {cpu_three:.0} µs with 3 (delivery included; {:.0} µs per stream and event)",
            (cpu_three - cpu_none) / 3.0
        )?;
        let mut lags = self.lags.clone();
        lags.sort_by(f64::total_cmp);
        writeln!(
            f,
            "delivery lag (arrival − received_at), {} deliveries: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            lags.len(),
            percentile(&lags, 0.5),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or(0.0)
        )?;
        for (path, got, want) in &self.delivered {
            writeln!(f, "stream {path}: {got} events delivered of {want} matching")?;
        }
        Ok(())
    }
}

/// What the receiver saw: per path, the seqs delivered (a set: retries may repeat) and the
/// lag of each first delivery.
#[derive(Default)]
struct Received {
    seqs: HashMap<String, std::collections::HashSet<u64>>,
    lags: Vec<f64>,
}

type Shared = Arc<Mutex<Received>>;

async fn receiver() -> anyhow::Result<(String, Shared)> {
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    let shared: Shared = Arc::new(Mutex::new(Received::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .route(
            "/{path}",
            axum::routing::post(|State(shared): State<Shared>, Path(path): Path<String>, body: Bytes| async move {
                let now = stele_core::Timestamp::now().as_micros();
                // Only what the report needs, found by a scan (the receiver shares this
                // machine's two cores with the server; parsing every event would take a
                // share of them that the server then lacks).
                let doc = scan(&body);
                if let Ok(mut r) = shared.lock() {
                    let mut fresh = Vec::new();
                    let seen = r.seqs.entry(path).or_default();
                    for (seq, received_at) in doc {
                        if seen.insert(seq) {
                            if let Ok(at) = stele_core::Timestamp::parse(received_at) {
                                fresh.push((now - at.as_micros()) as f64 / 1000.0);
                            }
                        }
                    }
                    r.lags.extend(fresh);
                }
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .with_state(shared.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, shared))
}

/// Each delivered event's seq and `received_at`, from a webhook body: every event object
/// starts `{"seq":<n>,"id":…,"time":…,"received_at":"…"` (how Stele serves events).
fn scan(body: &[u8]) -> Vec<(u64, &str)> {
    let text = std::str::from_utf8(body).unwrap_or("");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("{\"seq\":") {
        rest = &rest[at + 7..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let seq = rest[..digits].parse().unwrap_or(0);
        // An event's first members (seq, id, time, received_at) are plain values: look
        // only up to the next brace.
        let end = rest.find(['{', '}']).unwrap_or(rest.len());
        let window = &rest[..end];
        let received = window.find("\"received_at\":\"").and_then(|i| {
            let from = &rest[i + 15..];
            from.find('"').map(|end| &from[..end])
        });
        if let Some(r) = received {
            out.push((seq, r));
        }
    }
    out
}

async fn send(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> anyhow::Result<Value> {
    let response = http.post(url).bearer_auth(key).json(body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{url}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One run: a fresh server, optionally three streams, `seconds` of load; returns events/s.
async fn run_once(options: &StreamsOptions, streams: Option<(&str, &Shared)>) -> anyhow::Result<(f64, u64, u64, f64)> {
    let dir = tempfile::tempdir()?;
    let config = format!("[streams]\nallow_http = true\npoll_ms = {}\n", options.poll_ms);
    let server = ServerProcess::start(dir.path(), None, &config).await?;
    let http = reqwest::Client::new();
    let admin = server.admin.clone();
    send(&http, &format!("{}/v1/tenants", server.base), &admin, &json!({"id": "acme", "name": "Acme"})).await?;
    let key = send(
        &http,
        &format!("{}/v1/keys", server.base),
        &admin,
        &json!({"tenant": "acme", "name": "bench", "scopes": ["events:write", "events:read", "admin"]}),
    )
    .await?;
    let key = key["secret"].as_str().context("key secret")?.to_owned();
    if let Some((base, _)) = streams {
        for (path, filter) in [("all-1", None), ("all-2", None), ("users", Some("action sw \"user.\""))] {
            let mut body = json!({"name": path, "kind": "webhook", "url": format!("{base}/{path}"),
                "secret": "whsec_bench_0123456789"});
            if let Some(f) = filter {
                body["filter"] = json!(f);
            }
            send(&http, &format!("{}/v1/streams", server.base), &key, &body).await?;
        }
    }
    let corpus = Arc::new(crate::corpus::events(options.batch * 50, 7));
    let acked = Arc::new(AtomicU64::new(0));
    let users = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let before = server.usage().context("reading the server's CPU time")?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..options.clients {
        let (http, url, key) = (http.clone(), format!("{}/v1/events", server.base), key.clone());
        let (corpus, acked, users, stop, batch) =
            (corpus.clone(), acked.clone(), users.clone(), stop.clone(), options.batch);
        tasks.push(tokio::spawn(async move {
            let mut i = c * batch;
            while !stop.load(Ordering::Relaxed) {
                let events: Vec<Value> = (0..batch).map(|k| corpus[(i + k) % corpus.len()].clone()).collect();
                i += batch * 7;
                let u = events.iter().filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("user."))).count();
                if send(&http, &url, &key, &json!({ "events": events })).await.is_ok() {
                    acked.fetch_add(batch as u64, Ordering::Relaxed);
                    users.fetch_add(u as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = acked.load(Ordering::Relaxed);
    let user_events = users.load(Ordering::Relaxed);
    let rate = total as f64 / elapsed;
    // Let the streams drain (bounded), so every event's lag is counted.
    if let Some((_, shared)) = streams {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let done = shared
                .lock()
                .map(|r| {
                    let count = |p: &str| r.seqs.get(p).map_or(0, |s| s.iter().filter(|seq| **seq > 5).count()) as u64;
                    count("all-1") >= total && count("all-2") >= total && count("users") >= user_events
                })
                .unwrap_or(false);
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let after = server.usage().context("reading the server's CPU time")?;
    let cpu = crate::process::Cost::between(before, after, total as usize).cpu_us_per_event;
    server.stop()?;
    Ok((rate, total, user_events, cpu))
}

pub async fn run(options: StreamsOptions) -> anyhow::Result<StreamsReport> {
    let (base, shared) = receiver().await?;
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut lags = Vec::new();
    let mut want: HashMap<&str, u64> = HashMap::new();
    let mut got: HashMap<String, u64> = HashMap::new();
    for round in 0..options.rounds {
        for with in [round % 2 == 1, round % 2 == 0] {
            if with {
                *shared.lock().map_err(|_| anyhow::anyhow!("receiver lock"))? = Received::default();
                let (rate, total, users, cost) = run_once(&options, Some((&base, &shared))).await?;
                rates[1].push(rate);
                cpu[1].push(cost);
                let r = shared.lock().map_err(|_| anyhow::anyhow!("receiver lock"))?;
                lags.extend(r.lags.iter().copied());
                for (path, seqs) in &r.seqs {
                    // Stele's own events (the tenant, key and streams made) are delivered too.
                    *got.entry(path.clone()).or_default() += seqs.iter().filter(|s| **s > 5).count() as u64;
                }
                *want.entry("all-1").or_default() += total;
                *want.entry("all-2").or_default() += total;
                *want.entry("users").or_default() += users;
                eprintln!("round {round}: {rate:.0} events/s with 3 streams");
            } else {
                let (rate, _, _, cost) = run_once(&options, None).await?;
                rates[0].push(rate);
                cpu[0].push(cost);
                eprintln!("round {round}: {rate:.0} events/s without streams");
            }
        }
    }
    let mut delivered: Vec<(String, u64, u64)> = ["all-1", "all-2", "users"]
        .iter()
        .map(|p| (p.to_string(), got.get(*p).copied().unwrap_or(0), want.get(p).copied().unwrap_or(0)))
        .collect();
    delivered.sort();
    Ok(StreamsReport { options, rates, cpu, lags, delivered })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scan_finds_each_events_seq_and_receipt_time() {
        let body = br#"{"events":[{"seq":4,"id":"a","time":"t","received_at":"2026-11-30T10:00:00.000000Z","x":{"seq":9}},{"seq":5,"id":"b","time":"t","received_at":"2026-11-30T10:00:01.000000Z"}]}"#;
        assert_eq!(
            super::scan(body),
            [(4, "2026-11-30T10:00:00.000000Z"), (5, "2026-11-30T10:00:01.000000Z")],
            "a nested object without received_at is not an event"
        );
    }
}
