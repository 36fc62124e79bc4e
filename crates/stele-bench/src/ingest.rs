//! `stele bench ingest`: durable ingest over HTTP, batched and single-event, measured from
//! outside: the server is a `stele serve` process of its own (or `--server URL`), and its
//! CPU time, bytes written to storage and memory are read from `/proc`. The baseline is a
//! raw durable append of the same event JSON in the same run (SQLite: one table of
//! `(seq, json)`, WAL, `synchronous=FULL`, one commit per batch; PostgreSQL: `psql \copy`
//! into Stele's own schema). On SQLite the same rows inserted with Stele's own insert
//! statement into its schema and indexes are shown too: the gap between the two is what the
//! layout costs. With several `--database` values every backend is measured in the same run
//! and printed in one table.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::body::Bytes;
use hyper::StatusCode;
use indicatif::ProgressBar;
use serde_json::{json, Value};
use stele_core::{parse_ingest_body, Limits, Timestamp};

use crate::corpus;
use crate::stats::percentile_ms;

#[derive(clap::Args, Debug, Clone)]
pub struct IngestOptions {
    /// Events sent in batches (scenario a).
    #[arg(long, default_value_t = 200_000)]
    pub batched_events: usize,
    /// Events per batch request.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Concurrent clients sending batches.
    #[arg(long, default_value_t = 4)]
    pub batch_clients: usize,
    /// Events sent one per request (scenario b).
    #[arg(long, default_value_t = 40_000)]
    pub single_events: usize,
    /// Concurrent clients sending single events.
    #[arg(long, default_value_t = 64)]
    pub single_clients: usize,
    /// Backends to measure, comma-separated or repeated: `sqlite` (a temporary file) or a
    /// `postgres://` URL of a server on which fresh databases are created (and left behind).
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    pub database: Vec<String>,
    /// Measure a running server at this URL instead of starting one (with `--admin-key`;
    /// its integrity setting is whatever it runs with, and its resource use is not read).
    #[arg(long, requires = "admin_key")]
    pub server: Option<String>,
    /// The operator key of `--server`.
    #[arg(long, env = "STELE_BENCH_ADMIN_KEY")]
    pub admin_key: Option<String>,
}

/// A backend to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The URL of a PostgreSQL server.
    Postgres(String),
}

impl Backend {
    pub fn parse(value: &str) -> anyhow::Result<Self> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("sqlite") {
            Ok(Backend::Sqlite)
        } else if v.starts_with("postgres://") || v.starts_with("postgresql://") {
            Ok(Backend::Postgres(v.to_owned()))
        } else {
            bail!("--database {:?}: expected sqlite or a postgres:// URL", stele_server::redact_url(v))
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// One measured scenario.
pub struct Row {
    pub name: String,
    pub events: usize,
    pub seconds: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// What the scenario cost the server process (None for baselines and `--server`).
    pub cost: Option<crate::process::Cost>,
    /// Requests answered 503 + Retry-After and sent again.
    pub refused: usize,
}

impl Row {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

/// One backend's figures: its baseline and the HTTP scenarios.
pub struct Section {
    pub backend: &'static str,
    pub baseline: Row,
    pub rows: Vec<Row>,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

pub struct Report {
    pub sections: Vec<Section>,
    pub event_bytes: usize,
    /// Integrity figures (ratios and latencies measured in the same run).
    pub notes: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "corpus: mean event size {} bytes of JSON", self.event_bytes)?;
        writeln!(f, "vs baseline: against the raw load of the same backend, in this run")?;
        writeln!(
            f,
            "{:<60} {:>7} {:>7} {:>9} {:>7} {:>8} {:>7} {:>9} {:>9} {:>12}",
            "scenario",
            "events",
            "secs",
            "events/s",
            "p50 ms",
            "p99 ms",
            "vs base",
            "CPU us/ev",
            "bytes/ev",
            "RSS/peak MiB"
        )?;
        for section in &self.sections {
            let base = section.baseline.rate();
            for row in std::iter::once(&section.baseline).chain(&section.rows) {
                let cost = row.cost;
                writeln!(
                    f,
                    "{:<60} {:>7} {:>7.2} {:>9.0} {:>7} {:>8} {:>6.0}% {:>9} {:>9} {:>12}",
                    match row.refused {
                        0 => format!("{}: {}", section.backend, row.name),
                        n => format!("{}: {} ({n} x 503 retried)", section.backend, row.name),
                    },
                    row.events,
                    row.seconds,
                    row.rate(),
                    opt(row.p50_ms, 2),
                    opt(row.p99_ms, 2),
                    100.0 * row.rate() / base,
                    opt(cost.map(|c| c.cpu_us_per_event), 0),
                    opt(cost.and_then(|c| c.bytes_per_event), 0),
                    cost.map_or_else(|| "-".to_owned(), |c| format!("{:.0}/{:.0}", c.rss_mib, c.peak_rss_mib)),
                )?;
            }
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

/// Runs the whole benchmark: per backend, baseline first, then the two HTTP scenarios on a
/// fresh server over a fresh database.
pub async fn run(options: IngestOptions) -> anyhow::Result<Report> {
    if options.batch_size == 0 || options.batch_size > 1000 {
        bail!("--batch-size must be 1-1000");
    }
    let backends = options.database.iter().map(|d| Backend::parse(d)).collect::<anyhow::Result<Vec<_>>>()?;
    if backends.is_empty() {
        bail!("--database names no backend");
    }
    eprintln!("generating {} + {} events", options.batched_events, options.single_events);
    let batched: Vec<Value> = corpus::events(options.batched_events, 1);
    let single: Vec<Value> = corpus::events(options.single_events, 2);
    let event_bytes =
        batched.iter().take(1000).map(|e| e.to_string().len()).sum::<usize>() / batched.len().clamp(1, 1000);

    let bodies: Vec<String> = batched.chunks(options.batch_size).map(|c| json!({"events": c}).to_string()).collect();
    let singles: Vec<String> = single.iter().map(Value::to_string).collect();

    let mut sections = Vec::new();
    let mut notes = Vec::new();
    if let (Some(url), Some(admin)) = (&options.server, &options.admin_key) {
        eprintln!("SQLite: baseline (raw durable append) for the external server");
        let baseline = raw_append_baseline(&bodies, options.batch_size).await?;
        let target = Target { base: url.trim_end_matches('/').to_owned(), admin: admin.clone(), process: None };
        let s = run_scenarios(&target, &bodies, &singles, &options, false).await?;
        sections.push(Section { backend: "external server", baseline, rows: vec![s.batched, s.single] });
        return Ok(Report { sections, event_bytes, notes });
    }
    for backend in &backends {
        eprintln!("{}: baseline", backend.label());
        let (baseline, mut extra) = match backend {
            Backend::Sqlite => {
                let raw = raw_append_baseline(&bodies, options.batch_size).await?;
                (raw, vec![baseline(&bodies, options.batch_size).await?])
            }
            Backend::Postgres(url) => (copy_baseline(url, &bodies, options.batch_size).await?, vec![]),
        };

        // Integrity on (the product) and off (what it costs), each on a fresh server and
        // database, in this run.
        let on = http_scenarios(backend, &bodies, &singles, &options, true).await?;
        let off = http_scenarios(backend, &bodies, &singles, &options, false).await?;
        let name = |what: &str, integrity: &str| format!("HTTP {what}, integrity {integrity}");
        notes.push(format!(
            "{}: integrity on/off, same run: batches {:.0}% ({:.0} vs {:.0} ev/s), singles {:.0}% ({:.0} vs {:.0} ev/s)",
            backend.label(),
            100.0 * on.batched.rate() / off.batched.rate(),
            on.batched.rate(),
            off.batched.rate(),
            100.0 * on.single.rate() / off.single.rate(),
            on.single.rate(),
            off.single.rate()
        ));
        if let Some(mut lags) = on.head_lag {
            notes.push(format!(
                "{}: append acknowledged -> covered by a signed head, under the batched load: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} probes)",
                backend.label(),
                percentile_ms(&mut lags, 50.0),
                percentile_ms(&mut lags, 99.0),
                percentile_ms(&mut lags, 100.0),
                lags.len()
            ));
        }
        if let Some(index) = on.index {
            let p99 = |d: &Option<DelayP99>| d.as_ref().map_or("n/a".into(), ToString::to_string);
            notes.push(format!(
                "{}: index caught up {:.0} ms after the last batch was acknowledged; commit -> indexed p99 (per indexer group): under the batches {}, under the single events {}",
                backend.label(),
                index.drained.as_secs_f64() * 1000.0,
                p99(&index.batched),
                p99(&index.single)
            ));
        }
        let batch_label = format!("batches of {} x {} clients", options.batch_size, options.batch_clients);
        let single_label = format!("single events x {} clients", options.single_clients);
        extra.extend([
            Row { name: name(&batch_label, "on"), ..on.batched },
            Row { name: name(&single_label, "on"), ..on.single },
            Row { name: name(&batch_label, "off"), ..off.batched },
            Row { name: name(&single_label, "off"), ..off.single },
        ]);
        sections.push(Section { backend: backend.label(), baseline, rows: extra });
    }
    Ok(Report { sections, event_bytes, notes })
}

/// The HTTP scenarios on one fresh server.
struct Scenarios {
    batched: Row,
    single: Row,
    /// Acknowledged append -> covering signed head, sampled during the batched scenario.
    head_lag: Option<Vec<Duration>>,
    /// SQLite's deferred index: how long after the last batch was acknowledged the index
    /// had caught up, and the delay from commit to indexed under each load.
    index: Option<IndexDelays>,
}

/// The index's delay from commit to indexed under each scenario's load.
struct IndexDelays {
    drained: Duration,
    batched: Option<DelayP99>,
    single: Option<DelayP99>,
}

/// The p99 of `stele_index_delay_seconds` over a scenario: the upper bound of the bucket it
/// falls in, and how many indexer groups were observed.
struct DelayP99 {
    at_most_secs: f64,
    groups: u64,
}

impl fmt::Display for DelayP99 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at_most_secs.is_infinite() {
            write!(f, "over the largest bucket ({} groups)", self.groups)
        } else {
            write!(f, "<= {} ms ({} groups)", self.at_most_secs * 1000.0, self.groups)
        }
    }
}

/// The cumulative bucket counts of `stele_index_delay_seconds` in one scrape of `/metrics`
/// (`le` bound, count), `+Inf` last; empty when the server does not export them.
struct DelayBuckets(Vec<(f64, u64)>);

impl DelayBuckets {
    async fn scrape(base: &str) -> anyhow::Result<Self> {
        Ok(Self::parse(&metrics_text(base).await?))
    }

    fn parse(text: &str) -> Self {
        let mut buckets: Vec<(f64, u64)> = text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("stele_index_delay_seconds_bucket{le=\"")?;
                let (le, rest) = rest.split_once("\"}")?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, rest.trim().parse().ok()?))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self(buckets)
    }

    /// The p99 of what was recorded after `before` up to `self`; `None` when nothing was.
    fn p99_since(&self, before: &Self) -> Option<DelayP99> {
        let count_before = |le: f64| before.0.iter().find(|(b, _)| *b == le).map_or(0, |(_, n)| *n);
        let diff: Vec<(f64, u64)> = self.0.iter().map(|&(le, n)| (le, n.saturating_sub(count_before(le)))).collect();
        let groups = diff.last().map_or(0, |(_, n)| *n);
        if groups == 0 {
            return None;
        }
        let wanted = (groups as f64 * 0.99).ceil() as u64;
        let at_most_secs = diff.iter().find(|(_, n)| *n >= wanted).map_or(f64::INFINITY, |(le, _)| *le);
        Some(DelayP99 { at_most_secs, groups })
    }
}

/// Where the scenarios send their load: a server process of this run, or `--server`.
struct Target {
    base: String,
    admin: String,
    process: Option<crate::process::ServerProcess>,
}

impl Target {
    /// The server's resource use at the start of a phase (its peak RSS reset).
    fn phase_start(&self) -> Option<crate::process::Usage> {
        self.process.as_ref().and_then(|p| p.phase_start())
    }

    fn usage(&self) -> Option<crate::process::Usage> {
        self.process.as_ref().and_then(|p| p.usage())
    }
}

async fn http_scenarios(
    backend: &Backend,
    bodies: &[String],
    singles: &[String],
    options: &IngestOptions,
    integrity: bool,
) -> anyhow::Result<Scenarios> {
    let dir = tempfile::tempdir()?;
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(url) => Some(crate::pg::fresh_database(url, "http").await?),
    };
    // The load comes from one key: its request limit would measure the limiter.
    let config = format!("[integrity]\nenabled = {integrity}\n[rate_limits]\nkey_requests_per_second = 0\n");
    let process = crate::process::ServerProcess::start(dir.path(), database.as_deref(), &config).await?;
    let target = Target { base: process.base.clone(), admin: process.admin.clone(), process: Some(process) };
    let state = if integrity { "on" } else { "off" };
    eprintln!(
        "{}: HTTP, integrity {state} (server pid {})",
        backend.label(),
        target.process.as_ref().map_or(0, |p| p.pid())
    );
    let scenarios = run_scenarios(&target, bodies, singles, options, integrity).await?;
    if let Some(p) = target.process {
        p.stop()?;
    }
    Ok(scenarios)
}

/// The two scenarios against one server, each with what it cost the server when it is ours.
async fn run_scenarios(
    target: &Target,
    bodies: &[String],
    singles: &[String],
    options: &IngestOptions,
    probe_heads: bool,
) -> anyhow::Result<Scenarios> {
    let base = target.base.clone();
    let key = setup_tenant(&base, &target.admin).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = probe_heads.then(|| tokio::spawn(head_lag_probe(base.clone(), key.clone(), stop.clone())));
    let delays_start = DelayBuckets::scrape(&base).await?;
    let before = target.phase_start();
    let mut batched =
        send_all(&base, &key, bodies.to_vec(), options.batch_clients, options.batched_events, "HTTP batched").await?;
    batched.cost = before.zip(target.usage()).map(|(b, a)| crate::process::Cost::between(b, a, options.batched_events));
    stop.store(true, Ordering::Relaxed);
    let head_lag = match probe {
        Some(p) => Some(p.await??),
        None => None,
    };
    let drained = index_drained(&base).await?;
    let delays_batched = DelayBuckets::scrape(&base).await?;
    let before = target.phase_start();
    let mut single =
        send_all(&base, &key, singles.to_vec(), options.single_clients, options.single_events, "HTTP single").await?;
    single.cost = before.zip(target.usage()).map(|(b, a)| crate::process::Cost::between(b, a, options.single_events));
    index_drained(&base).await?;
    let delays_single = DelayBuckets::scrape(&base).await?;
    let index = drained.map(|drained| IndexDelays {
        drained,
        batched: delays_batched.p99_since(&delays_start),
        single: delays_single.p99_since(&delays_batched),
    });
    Ok(Scenarios { batched, single, head_lag, index })
}

/// A sample of the server's `/metrics` (`None` when it does not export it).
async fn metric(base: &str, name: &str) -> anyhow::Result<Option<f64>> {
    let text = metrics_text(base).await?;
    Ok(text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()))
}

/// The server's `/metrics` text.
async fn metrics_text(base: &str) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("{base}/metrics")).await?.text().await?)
}

/// Waits until the server's index has caught up with its log (`stele_index_lag_events` 0)
/// and says how long that took; `None` for a server without a deferred index.
pub(crate) async fn index_drained(base: &str) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    loop {
        match metric(base, "stele_index_lag_events").await? {
            None => return Ok(None),
            Some(lag) if lag <= 0.0 => return Ok(Some(start.elapsed())),
            Some(_) if start.elapsed() > Duration::from_secs(600) => bail!("the index did not catch up in 10 minutes"),
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Appends one event at a time while `stop` is unset and measures how long after its 201
/// a signed head covering it is served (`GET /v1/integrity/head?min_size=` long-polls).
async fn head_lag_probe(
    base: String,
    key: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let mut lags = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        lags.extend(probe_head_once(&http, &base, &key).await?);
    }
    Ok(lags)
}

/// One probe: appends an event, then waits for a signed head covering it. `None` when the
/// server asked to come back later (503 + `Retry-After`: the index is too far behind, as it
/// may be under the batches); the probe waits as asked, and that probe is not counted.
async fn probe_head_once(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<Option<Duration>> {
    let response =
        http.post(format!("{base}/v1/events")).bearer_auth(key).json(&json!({"action": "bench.probe"})).send().await?;
    let wait = crate::poster::retry_after_seconds(response.headers());
    if let (reqwest::StatusCode::SERVICE_UNAVAILABLE, Some(seconds)) = (response.status(), wait) {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return Ok(None);
    }
    let receipt: Value = response.error_for_status()?.json().await?;
    let acked = Instant::now();
    let seq = receipt["seq"].as_u64().context("no seq in the receipt")?;
    http.get(format!("{base}/v1/integrity/head?min_size={seq}")).bearer_auth(key).send().await?.error_for_status()?;
    Ok(Some(acked.elapsed()))
}

/// The validated rows of the batch bodies, as the server would store them.
fn validated(bodies: &[String]) -> anyhow::Result<Vec<Vec<stele_core::NewEvent>>> {
    let now = Timestamp::now();
    let limits = Limits::default();
    Ok(bodies
        .iter()
        .map(|b| parse_ingest_body(b.as_bytes(), &limits, now).map(|i| i.events))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The PostgreSQL baseline: the same validated rows loaded with `psql \copy` into the same
/// schema (a fresh database migrated by `PostgresStore::connect`), one transaction per
/// batch; see [`crate::pg::copy_baseline`].
async fn copy_baseline(server_url: &str, bodies: &[String], batch_size: usize) -> anyhow::Result<Row> {
    let batches = validated(bodies)?;
    let events: usize = batches.iter().map(Vec::len).sum();
    let dir = tempfile::tempdir()?;
    let seconds = crate::pg::copy_baseline(server_url, &batches, dir.path()).await?;
    Ok(Row {
        name: format!("psql \\copy, {batch_size} rows/tx, fsync (baseline)"),
        events,
        seconds,
        p50_ms: None,
        p99_ms: None,
        cost: None,
        refused: 0,
    })
}

/// The baseline: a raw durable append of the same validated event JSON, one fsync'd commit
/// per batch (WAL, `synchronous=FULL`) into a table of `(seq, json)`: what a log that only
/// appends costs on this disk.
async fn raw_append_baseline(bodies: &[String], batch_size: usize) -> anyhow::Result<Row> {
    let batches = validated(bodies)?;
    let events: usize = batches.iter().map(Vec::len).sum();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Row> {
        let dir = tempfile::tempdir()?;
        let mut conn = rusqlite::Connection::open(dir.path().join("append.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch("CREATE TABLE log (seq INTEGER PRIMARY KEY, json TEXT NOT NULL)")?;
        let progress = ProgressBar::new(events as u64).with_message("raw append");
        let start = Instant::now();
        let mut seq = 0i64;
        for batch in &batches {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached("INSERT INTO log (seq, json) VALUES (?1, ?2)")?;
                for e in batch {
                    seq += 1;
                    insert.execute(rusqlite::params![seq, e.json])?;
                }
            }
            tx.commit()?;
            progress.inc(batch.len() as u64);
        }
        let seconds = start.elapsed().as_secs_f64();
        progress.finish_and_clear();
        Ok(Row {
            name: format!("raw durable append, {batch_size} rows/tx (baseline)"),
            events,
            seconds,
            p50_ms: None,
            p99_ms: None,
            cost: None,
            refused: 0,
        })
    })
    .await?
}

/// Stele's own insert statement into Stele's schema and indexes on raw SQLite, one
/// transaction (fsync'd commit) per batch: what the layout costs before HTTP and the writer.
async fn baseline(bodies: &[String], batch_size: usize) -> anyhow::Result<Row> {
    // As the store takes them (its rows), converted before the clock starts.
    let batches: Vec<Vec<stele_sqlite::rows::EventRow>> =
        validated(bodies)?.into_iter().map(|b| b.into_iter().map(Into::into).collect()).collect();
    let events: usize = batches.iter().map(Vec::len).sum();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Row> {
        let dir = tempfile::tempdir()?;
        let mut conn = stele_sqlite::rows::open_writer(&dir.path().join("baseline.db"))?;
        conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ('bench', 'bench', 0)", [])?;
        let no = conn.last_insert_rowid();
        let progress = ProgressBar::new(events as u64).with_message("raw SQLite");
        let start = Instant::now();
        let mut seq = 0u64;
        for batch in &batches {
            let tx = conn.transaction()?;
            for e in batch {
                seq += 1;
                stele_sqlite::rows::insert_event(&tx, no, seq, e)?;
            }
            tx.commit()?;
            progress.inc(batch.len() as u64);
        }
        let seconds = start.elapsed().as_secs_f64();
        progress.finish_and_clear();
        Ok(Row {
            name: format!("Stele's schema on raw SQLite, {batch_size} rows/tx, fsync"),
            events,
            seconds,
            p50_ms: None,
            p99_ms: None,
            cost: None,
            refused: 0,
        })
    })
    .await?
}

async fn setup_tenant(base: &str, admin: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    http.post(format!("{base}/v1/tenants"))
        .bearer_auth(admin)
        .json(&json!({"id": "bench", "name": "Bench"}))
        .send()
        .await?
        .error_for_status()?;
    let key: Value = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(admin)
        .json(&json!({"tenant": "bench", "name": "bench", "scopes": ["events:write", "events:read"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    key["secret"].as_str().map(str::to_owned).context("no secret in the key answer")
}

/// Sends every body from `clients` concurrent clients; returns throughput and latency.
async fn send_all(
    base: &str,
    key: &str,
    bodies: Vec<String>,
    clients: usize,
    total: usize,
    label: &str,
) -> anyhow::Result<Row> {
    let endpoint = crate::poster::Endpoint::new(base, key)?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(bodies.into_iter().map(Bytes::from).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(bodies.len())));
    let progress = ProgressBar::new(bodies.len() as u64).with_message(label.to_owned());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (bodies, next, latencies, progress, refused) =
            (bodies.clone(), next.clone(), latencies.clone(), progress.clone(), refused.clone());
        let mut poster = crate::poster::Poster::new(endpoint.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<Duration> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                // A 503 with Retry-After (ingest busy, index behind) is retried as a client
                // would, after the wait it asks for; its latency counts from the first try.
                let answer = loop {
                    let answer = poster.post(body).await?;
                    match (answer.status, answer.retry_after) {
                        (StatusCode::SERVICE_UNAVAILABLE, Some(seconds)) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_secs(seconds)).await;
                        }
                        _ => break answer,
                    }
                };
                if answer.status != StatusCode::CREATED {
                    bail!("request {i}: HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body));
                }
                mine.push(t.elapsed());
                progress.inc(1);
            }
            latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.extend(mine);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let mut samples = std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let refused = refused.load(Ordering::Relaxed);
    if refused > 0 {
        eprintln!("{label}: {refused} requests answered 503 with Retry-After and were retried");
    }
    Ok(Row {
        name: label.to_owned(),
        events: total,
        seconds,
        p50_ms: Some(percentile_ms(&mut samples, 50.0)),
        p99_ms: Some(percentile_ms(&mut samples, 99.0)),
        cost: None,
        refused,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::http::StatusCode;
    use axum::routing::{get, post};

    use super::DelayBuckets;

    fn scrape(counts: [u64; 4]) -> DelayBuckets {
        let text = format!(
            "# TYPE stele_index_delay_seconds histogram\n\
             stele_index_delay_seconds_bucket{{le=\"0.5\"}} {}\n\
             stele_index_delay_seconds_bucket{{le=\"1\"}} {}\n\
             stele_index_delay_seconds_bucket{{le=\"2\"}} {}\n\
             stele_index_delay_seconds_bucket{{le=\"+Inf\"}} {}\n\
             stele_index_delay_seconds_sum 12.5\nstele_index_lag_events 0\n",
            counts[0], counts[1], counts[2], counts[3]
        );
        DelayBuckets::parse(&text)
    }

    #[test]
    fn the_p99_of_a_phase_comes_from_the_difference_of_two_scrapes() {
        let start = scrape([0, 0, 0, 0]);
        // The first phase: 100 groups, 2 of them over a second.
        let first = scrape([90, 98, 100, 100]);
        let p99 = first.p99_since(&start).expect("groups recorded");
        assert_eq!((p99.at_most_secs, p99.groups), (2.0, 100));
        // The second phase alone: 200 more groups, all within half a second, which the
        // cumulative counts (p99 still in the 1 s bucket) would hide.
        let second = scrape([290, 298, 300, 300]);
        let p99 = second.p99_since(&first).expect("groups recorded");
        assert_eq!((p99.at_most_secs, p99.groups), (0.5, 200));
        assert_eq!(second.p99_since(&start).map(|p| p.at_most_secs), Some(1.0));
        // Past the largest bound, and nothing at all.
        let slow = scrape([0, 0, 0, 100]);
        assert!(slow.p99_since(&start).expect("groups").at_most_secs.is_infinite());
        assert!(first.p99_since(&first).is_none(), "nothing recorded between equal scrapes");
        assert!(DelayBuckets::parse("stele_index_lag_events 0\n").p99_since(&start).is_none());
    }

    /// A server whose ingest answers `answers[i]` to its i-th post (then 201 with a seq).
    async fn server(answers: Vec<StatusCode>) -> String {
        let posts = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/v1/events",
                post(move || {
                    let n = posts.fetch_add(1, Ordering::Relaxed);
                    let status = answers.get(n).copied().unwrap_or(StatusCode::CREATED);
                    async move { (status, [("retry-after", "0")], axum::Json(serde_json::json!({"seq": n + 1}))) }
                }),
            )
            .route("/v1/integrity/head", get(|| async { "{}" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    /// The head probe runs beside the batches, which may push the index to its lag bound:
    /// a 503 with `Retry-After` is waited out and not counted (the probe failed the whole
    /// `stele bench ingest` run before); any other error still fails it.
    #[tokio::test]
    async fn a_probe_answered_503_with_retry_after_waits_and_the_next_one_counts() {
        let http = reqwest::Client::new();
        let base = server(vec![StatusCode::SERVICE_UNAVAILABLE]).await;
        let first = super::probe_head_once(&http, &base, "k").await.expect("a 503 is not an error");
        assert!(first.is_none(), "the refused probe is not counted");
        let second = super::probe_head_once(&http, &base, "k").await.expect("the next probe");
        assert!(second.is_some(), "the next probe measures the head's lag");
        // Control: an error without Retry-After semantics still fails the probe.
        let base = server(vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
        assert!(super::probe_head_once(&http, &base, "k").await.is_err(), "a 500 fails the probe");
    }
}
