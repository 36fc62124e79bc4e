//! `stele bench scim`: SCIM request throughput with the SCIM audit log on and off, in one
//! run. Each round starts two fresh servers (SQLite) that differ only in
//! `[scim] log_requests`, in alternating order, and drives the same workload through
//! `--clients` concurrent connections: create `--users` users (POST), read each (GET), look
//! each up by `userName` (the IdPs' lookup), deactivate each (PATCH). The table gives the
//! median requests per second of each phase over the rounds and what logging costs.
//!
//! With logging on every request is one more durable event: a read becomes a read plus an
//! append; a change carries its event in the same transaction.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::ProgressBar;
use serde_json::{json, Value};

#[derive(clap::Args, Debug, Clone)]
pub struct ScimOptions {
    /// Users created (and then read, looked up and deactivated) per run.
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Rounds (each runs logging off and on, in alternating order).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

const PHASES: [&str; 4] = ["POST /Users", "GET /Users/{id}", "GET /Users?filter=userName eq", "PATCH /Users/{id}"];

pub struct ScimReport {
    options: ScimOptions,
    /// Requests per second per phase: `[logging off, logging on]`, one entry per round.
    rates: [[Vec<f64>; 2]; 4],
    /// SCIM log events found after the last logged run (sanity: one per request).
    logged_events: u64,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

impl fmt::Display for ScimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(f, "SCIM on SQLite: {} users, {} clients, {} rounds (median req/s)", o.users, o.clients, o.rounds)?;
        writeln!(f, "{:<34} {:>12} {:>12} {:>10} {:>10}", "phase", "log off", "log on", "on/off", "cost")?;
        let (mut off_total, mut on_total) = (0.0, 0.0);
        for (phase, [off, on]) in PHASES.iter().zip(&self.rates) {
            let (off, on) = (median(off), median(on));
            off_total += o.users as f64 / off.max(1e-9);
            on_total += o.users as f64 / on.max(1e-9);
            let ratio = on / off.max(1e-9);
            writeln!(f, "{phase:<34} {off:>12.0} {on:>12.0} {ratio:>10.2} {:>9.0}%", (1.0 - ratio) * 100.0)?;
        }
        let ratio = off_total / on_total.max(1e-9);
        writeln!(
            f,
            "{:<34} {:>12} {:>12} {ratio:>10.2} {:>9.0}%",
            "all phases (time-weighted)",
            "",
            "",
            (1.0 - ratio) * 100.0
        )?;
        writeln!(f, "SCIM log events after a logged run: {} (requests sent: {})", self.logged_events, 4 * o.users)
    }
}

struct Server {
    running: stele_server::Running,
    base: String,
    scim: String,
    token: String,
    admin: String,
    _dir: tempfile::TempDir,
}

async fn start(log_requests: bool) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let admin = format!("bench-operator-{}", rand::random::<u64>());
    let config = stele_server::Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_owned(),
        admin_key: Some(admin.clone()),
        scim: stele_server::Scim { log_requests },
        rate_limits: stele_server::rate::RateLimits { key_requests_per_second: 0, ..Default::default() },
        ..stele_server::Config::default()
    };
    let running = stele_server::start(config).await?;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(&admin)
        .json(&json!({"id": "bench", "name": "bench"}))
        .send()
        .await?;
    if !made.status().is_success() {
        bail!("creating the tenant: {}", made.status());
    }
    let conn: Value = http
        .post(format!("{base}/v1/tenants/bench/scim-connections"))
        .bearer_auth(&admin)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let id = conn["id"].as_str().context("connection id")?;
    let token = conn["token"].as_str().context("connection token")?.to_owned();
    Ok(Server { scim: format!("{base}/scim/v2/{id}"), base, token, admin, running, _dir: dir })
}

/// Sends `count` requests made by `make(i)` over `clients` connections; requests per second.
async fn phase<F>(server: &Server, clients: usize, count: usize, label: &str, make: F) -> anyhow::Result<f64>
where
    F: Fn(&reqwest::Client, &str, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let progress = ProgressBar::new(count as u64).with_message(label.to_owned());
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients.max(1) {
        let (next, make, progress) = (next.clone(), make.clone(), progress.clone());
        let (scim, token) = (server.scim.clone(), server.token.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let resp = make(&http, &scim, i).bearer_auth(&token).send().await?;
                if !resp.status().is_success() {
                    bail!("request {i} answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
                }
                progress.inc(1);
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    progress.finish_and_clear();
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// One run on a fresh server: the four phases' rates.
async fn run_once(
    options: &ScimOptions,
    log_requests: bool,
    ids: &mut Vec<String>,
) -> anyhow::Result<([f64; 4], Server)> {
    let server = start(log_requests).await?;
    let n = options.users;
    let created = Arc::new(std::sync::Mutex::new(vec![String::new(); n]));
    let post = {
        let created = created.clone();
        let http = reqwest::Client::new();
        let scim = server.scim.clone();
        let token = server.token.clone();
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..options.clients.max(1) {
            let (created, http, scim, token, next) =
                (created.clone(), http.clone(), scim.clone(), token.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return anyhow::Ok(());
                    }
                    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("user{i}@bench.example"),
                        "name": {"givenName": "Bench", "familyName": format!("User {i}")},
                        "emails": [{"value": format!("user{i}@bench.example"), "type": "work", "primary": true}],
                        "externalId": format!("ext-{i}"), "active": true});
                    let resp = http.post(format!("{scim}/Users")).bearer_auth(&token).json(&body).send().await?;
                    if resp.status().as_u16() != 201 {
                        bail!("create {i} answered {}", resp.status());
                    }
                    let v: Value = resp.json().await?;
                    let id = v["id"].as_str().context("id")?.to_owned();
                    if let Ok(mut c) = created.lock() {
                        c[i] = id;
                    }
                }
            }));
        }
        for w in workers {
            w.await??;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    *ids = created.lock().map(|c| c.clone()).unwrap_or_default();
    let shared = Arc::new(ids.clone());
    let get_ids = shared.clone();
    let get = phase(&server, options.clients, n, PHASES[1], move |http, scim, i| {
        http.get(format!("{scim}/Users/{}", get_ids[i]))
    })
    .await?;
    let lookup = phase(&server, options.clients, n, PHASES[2], |http, scim, i| {
        http.get(format!("{scim}/Users")).query(&[("filter", format!("userName eq \"user{i}@bench.example\""))])
    })
    .await?;
    let patch_ids = shared.clone();
    let patch = phase(&server, options.clients, n, PHASES[3], move |http, scim, i| {
        http.patch(format!("{scim}/Users/{}", patch_ids[i])).json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]}))
    })
    .await?;
    Ok(([post, get, lookup, patch], server))
}

pub async fn run(options: ScimOptions) -> anyhow::Result<ScimReport> {
    let mut rates: [[Vec<f64>; 2]; 4] = Default::default();
    let mut logged_events = 0;
    let mut ids = Vec::new();
    for round in 0..options.rounds.max(1) {
        let order = if round % 2 == 0 { [false, true] } else { [true, false] };
        for log_requests in order {
            eprintln!("round {}: SCIM log {}", round + 1, if log_requests { "on" } else { "off" });
            let (r, server) = run_once(&options, log_requests, &mut ids).await?;
            for (phase, rate) in r.into_iter().enumerate() {
                rates[phase][usize::from(log_requests)].push(rate);
            }
            if log_requests {
                let count: Value = reqwest::Client::new()
                    .get(format!("{}/v1/events/count", server.base))
                    .query(&[("filter", "action sw \"scim.\"")])
                    .bearer_auth(&server.admin)
                    .header("x-stele-tenant", "bench")
                    .send()
                    .await?
                    .json()
                    .await?;
                logged_events = count["count"].as_u64().unwrap_or(0);
            }
            server.running.shutdown().await?;
        }
    }
    Ok(ScimReport { options, rates, logged_events })
}
