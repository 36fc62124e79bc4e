//! `stele bench soak`: a long, steady, mixed load on a `stele serve` process of its own, to
//! see what time does to it. Every `--interval-seconds` (default a minute) it prints one row:
//! the server's resident memory, open files, WAL size, CPU, and p50/p99 per operation, so
//! that growth shows as a trend and not as an anecdote. At the end it compares the memory of
//! the last interval with the second (the first warms caches up).
//!
//! The load is paced (open loop: operations start on a clock, not when the previous one
//! ended), at `--rate` events per second in batches of 10, plus per second: 4 searches (a
//! filter on an indexed attribute and a free-text `q` for one batch's number, alternating), 2 inclusion proofs of
//! recent events and, every 10 s, an export of the last minute. Errors are counted per
//! operation; none is expected.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::process::{ServerProcess, Usage};

#[derive(clap::Args, Debug, Clone)]
pub struct SoakOptions {
    /// How long to run, in minutes.
    #[arg(long, default_value_t = 30)]
    pub minutes: u64,
    /// Events per second to ingest (in batches of 10). Take about half of what
    /// `stele bench ingest` measured on the machine.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds per report row.
    #[arg(long, default_value_t = 60)]
    pub interval_seconds: u64,
}

const OPS: [&str; 4] = ["ingest", "search", "proof", "export"];

/// Latencies (ms), errors and "not yet" answers of one interval, per operation.
#[derive(Default)]
struct Window {
    latencies: HashMap<&'static str, Vec<f64>>,
    errors: HashMap<&'static str, u64>,
    not_yet: HashMap<&'static str, u64>,
}

type Shared = Arc<Mutex<Window>>;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// 409 `not-yet-covered`: a proof asked for before the signer's next head covers the
    /// event. The API's documented answer, not a failure; counted apart as a measure of the
    /// signer's lag.
    NotYet,
    Error,
}

fn record(window: &Shared, op: &'static str, started: Instant, outcome: Outcome) {
    if let Ok(mut w) = window.lock() {
        match outcome {
            Outcome::Ok => w.latencies.entry(op).or_default().push(started.elapsed().as_secs_f64() * 1000.0),
            Outcome::NotYet => *w.not_yet.entry(op).or_default() += 1,
            Outcome::Error => *w.errors.entry(op).or_default() += 1,
        }
    }
}

pub struct Row {
    minute: f64,
    rss_mib: f64,
    open_files: usize,
    wal_mib: f64,
    cpu_percent: f64,
    /// Per operation: count, p50, p99 (ms), errors, "not yet" answers.
    ops: Vec<(usize, f64, f64, u64, u64)>,
}

pub struct SoakReport {
    options: SoakOptions,
    rows: Vec<Row>,
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "Soak on SQLite: {} min at {} events/s (+4 searches/s, 2 proofs/s, an export per 10 s), a row per {} s",
            o.minutes, o.rate, o.interval_seconds
        )?;
        write!(f, "{:>6} {:>8} {:>6} {:>8} {:>5}", "min", "RSS MiB", "files", "WAL MiB", "CPU%")?;
        for op in OPS {
            write!(f, " | {op:>7} n  p50  p99 err")?;
            if op == "proof" {
                write!(f, " 409")?;
            }
        }
        writeln!(f)?;
        for r in &self.rows {
            write!(
                f,
                "{:>6.1} {:>8.1} {:>6} {:>8.1} {:>5.0}",
                r.minute, r.rss_mib, r.open_files, r.wal_mib, r.cpu_percent
            )?;
            for (op, (n, p50, p99, err, not_yet)) in OPS.iter().zip(&r.ops) {
                write!(f, " | {n:>9} {p50:>4.0} {p99:>4.0} {err:>3}")?;
                if *op == "proof" {
                    write!(f, " {not_yet:>3}")?;
                }
            }
            writeln!(f)?;
        }
        if let (Some(second), Some(last)) = (self.rows.get(1), self.rows.last()) {
            let growth = (last.rss_mib - second.rss_mib) / second.rss_mib.max(1e-9) * 100.0;
            writeln!(
                f,
                "memory: {:.1} MiB after the warm-up row, {:.1} MiB at the end ({growth:+.1}%)",
                second.rss_mib, last.rss_mib
            )?;
        }
        Ok(())
    }
}

/// Ok when a read answered 2xx and its whole body arrived; `NotYet` for a 409
/// `not-yet-covered` problem.
async fn read_ok(sent: reqwest::Result<reqwest::Response>) -> Outcome {
    match sent {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        },
        Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => match r.json::<Value>().await {
            Ok(p) if p["type"].as_str().is_some_and(|t| t.ends_with(":not-yet-covered")) => Outcome::NotYet,
            _ => Outcome::Error,
        },
        _ => Outcome::Error,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => sorted[((n as f64 - 1.0) * p).round() as usize],
    }
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with("-wal"))
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// Starts `per_second` operations a second (at least one every 10 s) until `until`.
fn paced<F, Fut>(per_second: f64, until: Instant, mut op: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0;
        let mut running = tokio::task::JoinSet::new();
        while Instant::now() < until {
            tick.tick().await;
            running.spawn(op(n));
            n += 1;
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    })
}

pub async fn run(options: SoakOptions) -> anyhow::Result<SoakReport> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start(dir.path(), None, "").await?;
    let http = reqwest::Client::new();
    let made: Value = http
        .post(format!("{}/v1/tenants", server.base))
        .bearer_auth(&server.admin)
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    drop(made);
    let key: Value = http
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(&server.admin)
        .json(&json!({"tenant": "acme", "name": "soak", "scopes": ["events:write", "events:read", "events:export"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key = key["secret"].as_str().context("key secret")?.to_owned();
    let base = server.base.clone();
    let until = Instant::now() + Duration::from_secs(options.minutes * 60);
    let window: Shared = Arc::default();
    // Ids of recent events, for proofs (bounded).
    let recent: Arc<Mutex<VecDeque<String>>> = Arc::default();

    let mut tasks = Vec::new();
    {
        let (http, base, key, window, recent) =
            (http.clone(), base.clone(), key.clone(), window.clone(), recent.clone());
        tasks.push(paced(options.rate as f64 / 10.0, until, move |n| {
            let (http, base, key, window, recent) = (http.clone(), base.clone(), key.clone(), window.clone(), recent.clone());
            async move {
                let events: Vec<Value> = (0..10)
                    .map(|i| {
                        let action = ["user.login", "user.update", "repo.push", "billing.charge"][(n as usize + i) % 4];
                        json!({"action": action,
                               "actor": {"id": format!("u_{}", (n * 10 + i as u64) % 500), "email": format!("user{}@acme.io", n % 97)},
                               "message": format!("soak batch {n} event {i} with some words to search"),
                               "metadata": {"batch": n, "i": i}})
                    })
                    .collect();
                let started = Instant::now();
                let sent = http.post(format!("{base}/v1/events")).bearer_auth(&key).json(&json!({"events": events})).send().await;
                let body = match sent {
                    Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                    _ => None,
                };
                record(&window, "ingest", started, if body.is_some() { Outcome::Ok } else { Outcome::Error });
                if let (Some(body), Ok(mut ids)) = (body, recent.lock()) {
                    for r in body["events"].as_array().into_iter().flatten() {
                        if let Some(id) = r["id"].as_str() {
                            ids.push_back(id.to_owned());
                        }
                    }
                    while ids.len() > 1000 {
                        ids.pop_front();
                    }
                }
            }
        }));
    }
    {
        let (http, base, key, window) = (http.clone(), base.clone(), key.clone(), window.clone());
        tasks.push(paced(4.0, until, move |n| {
            let (http, base, key, window) = (http.clone(), base.clone(), key.clone(), window.clone());
            async move {
                let query: Vec<(&str, String)> = match n % 2 {
                    0 => vec![("filter", format!("actor.id eq \"u_{}\"", n % 500)), ("limit", "50".into())],
                    // Free text for one batch's number: a handful of matches, as when
                    // someone looks for an id. (A word in every event is #13's open query
                    // shape: it reads every match, and such reads hold the WAL.)
                    _ => vec![("q", (n * 5 + 10).to_string()), ("limit", "50".into())],
                };
                let started = Instant::now();
                let outcome =
                    read_ok(http.get(format!("{base}/v1/events")).query(&query).bearer_auth(&key).send().await).await;
                record(&window, "search", started, outcome);
            }
        }));
    }
    {
        let (http, base, key, window, recent) =
            (http.clone(), base.clone(), key.clone(), window.clone(), recent.clone());
        tasks.push(paced(2.0, until, move |n| {
            let (http, base, key, window) = (http.clone(), base.clone(), key.clone(), window.clone());
            let id = recent.lock().ok().and_then(|ids| (!ids.is_empty()).then(|| ids[n as usize % ids.len()].clone()));
            async move {
                let Some(id) = id else { return };
                let started = Instant::now();
                let outcome =
                    read_ok(http.get(format!("{base}/v1/events/{id}/proof")).bearer_auth(&key).send().await).await;
                record(&window, "proof", started, outcome);
            }
        }));
    }
    {
        let (http, base, key, window) = (http.clone(), base.clone(), key.clone(), window.clone());
        tasks.push(paced(0.1, until, move |_| {
            let (http, base, key, window) = (http.clone(), base.clone(), key.clone(), window.clone());
            async move {
                let from = stele_core::Timestamp::from_micros(stele_core::Timestamp::now().as_micros() - 60_000_000);
                let started = Instant::now();
                let outcome = read_ok(
                    http.get(format!("{base}/v1/events/export"))
                        .query(&[("from", from.to_string())])
                        .bearer_auth(&key)
                        .send()
                        .await,
                )
                .await;
                record(&window, "export", started, outcome);
            }
        }));
    }

    let pid = server.pid();
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut last_cpu = Usage::of(pid).map_or(0.0, |u| u.cpu_seconds);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(options.interval_seconds),
        Duration::from_secs(options.interval_seconds),
    );
    while Instant::now() < until {
        tick.tick().await;
        let taken = window.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
        let usage = Usage::of(pid).unwrap_or_default();
        let cpu_percent = (usage.cpu_seconds - last_cpu) / options.interval_seconds as f64 * 100.0;
        last_cpu = usage.cpu_seconds;
        let ops = OPS
            .iter()
            .map(|op| {
                let mut l = taken.latencies.get(op).cloned().unwrap_or_default();
                l.sort_by(f64::total_cmp);
                let count = |m: &HashMap<&'static str, u64>| m.get(op).copied().unwrap_or(0);
                (l.len(), percentile(&l, 0.5), percentile(&l, 0.99), count(&taken.errors), count(&taken.not_yet))
            })
            .collect();
        let row = Row {
            minute: started.elapsed().as_secs_f64() / 60.0,
            rss_mib: usage.rss_bytes as f64 / 1048576.0,
            open_files: open_files(pid),
            wal_mib: wal_bytes(dir.path()) as f64 / 1048576.0,
            cpu_percent,
            ops,
        };
        eprintln!(
            "soak: {:.1} min, RSS {:.1} MiB, {} files, WAL {:.1} MiB, CPU {:.0}%",
            row.minute, row.rss_mib, row.open_files, row.wal_mib, row.cpu_percent
        );
        rows.push(row);
    }
    for t in tasks {
        let _ = t.await;
    }
    server.stop()?;
    Ok(SoakReport { options, rows })
}
