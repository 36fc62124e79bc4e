//! `stele bench viewer`: how long the viewer's Events page takes on a large tenant (issue
//! #12: "first paint of the Events page on a 1 M-event tenant under 300 ms").
//!
//! A real server (SQLite, integrity on) gets `--events` generated events in one tenant over
//! HTTP (batches of 1000 from 4 clients, the query bench's corpus), waits for its index to
//! catch up, and a member signs in through the real login form. Then, shape by shape and
//! run by run in alternating order, it times the complete HTML of the Events page (the
//! filter bar and the table of 50 rows: what the browser paints first; the stylesheet and
//! script are cached assets of a few KB) against the JSON API's page of the same 50 rows
//! (`GET /v1/events`), the baseline measured in the same loop. The histogram and facets,
//! which count every matching event and which the page's script loads next
//! (`/t/{tenant}/events/summary`), are timed apart.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use stele_core::Timestamp;

use crate::query_corpus::Corpus;
use crate::stats::percentile_ms;

#[derive(clap::Args, Debug, Clone)]
pub struct ViewerOptions {
    /// Events in the tenant.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Timed runs per page shape (each also times the JSON baseline).
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
}

/// The issue's target for the Events page on a 1 M-event tenant.
const TARGET_MS: f64 = 300.0;
const BATCH: u64 = 1000;
const CLIENTS: u64 = 4;
const PASSWORD: &str = "bench password, long enough";

pub struct Row {
    shape: &'static str,
    page_p50: f64,
    page_p99: f64,
    api_p50: f64,
    api_p99: f64,
    html_bytes: usize,
    /// The histogram and facets fragment the page's script loads next.
    summary_p50: f64,
    summary_runs: usize,
}

pub struct Report {
    events: u64,
    load: String,
    rows: Vec<Row>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stele bench viewer: Events page, complete HTML, on a tenant of {} events ({})",
            self.events, self.load
        )?;
        writeln!(f, "| shape | page p50 ms | page p99 ms | JSON page p50 ms | JSON p99 ms | page/JSON p50 | HTML KB | first paint ≤ {TARGET_MS:.0} ms | histogram + facets p50 ms (runs) |")?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|")?;
        for r in &self.rows {
            writeln!(
                f,
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1}× | {:.0} | {} | {:.0} ({}) |",
                r.shape,
                r.page_p50,
                r.page_p99,
                r.api_p50,
                r.api_p99,
                r.page_p50 / r.api_p50.max(0.001),
                r.html_bytes as f64 / 1024.0,
                if r.page_p99 <= TARGET_MS { "met" } else { "missed" },
                r.summary_p50,
                r.summary_runs
            )?;
        }
        Ok(())
    }
}

struct Server {
    running: stele_server::Running,
    base: String,
    admin: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let admin = format!("bench-operator-{}", rand::random::<u64>());
    let config = stele_server::Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_owned(),
        admin_key: Some(admin.clone()),
        rate_limits: stele_server::rate::RateLimits { key_requests_per_second: 0, ..Default::default() },
        ..stele_server::Config::default()
    };
    let running = stele_server::start(config).await?;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    Ok(Server { running, base, admin, http, _dir: dir })
}

async fn ok_json(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    if !status.is_success() {
        bail!("{what}: {status}: {}", resp.text().await.unwrap_or_default());
    }
    Ok(resp.json().await?)
}

/// Loads `events` generated events into tenant `acme` over HTTP; answers the key's secret.
async fn load(server: &Server, events: u64) -> anyhow::Result<String> {
    let made = server.http.post(format!("{}/v1/tenants", server.base)).bearer_auth(&server.admin);
    ok_json(made.json(&json!({"id": "acme", "name": "Acme"})).send().await?, "creating the tenant").await?;
    let body = json!({"tenant": "acme", "name": "bench", "scopes": ["events:write", "events:read"]});
    let key = server.http.post(format!("{}/v1/keys", server.base)).bearer_auth(&server.admin).json(&body);
    let key = ok_json(key.send().await?, "creating a key").await?;
    let secret = key["secret"].as_str().context("key secret")?.to_owned();

    let progress = ProgressBar::new(events).with_message("loading events over HTTP");
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = Arc::new(AtomicU64::new(0));
    let corpus = Arc::new(Corpus::new(42));
    let span = 90 * 86_400 * 1_000_000_i64;
    let end = Timestamp::now().as_micros() - 60_000_000;
    let mut workers = Vec::new();
    for c in 0..CLIENTS {
        let (next, corpus, progress) = (next.clone(), corpus.clone(), progress.clone());
        let (http, url, secret) = (server.http.clone(), format!("{}/v1/events", server.base), secret.clone());
        workers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(7 + c);
            loop {
                let first = next.fetch_add(BATCH, Ordering::Relaxed);
                if first >= events {
                    return anyhow::Ok(());
                }
                let n = BATCH.min(events - first);
                let mut body = String::from("{\"events\":[");
                for i in 0..n {
                    let at = end - span + ((first + i) as i64) * (span / events as i64) + rng.gen_range(0..1000);
                    if i > 0 {
                        body.push(',');
                    }
                    body.push_str(&corpus.event_json(&mut rng, "acme", Timestamp::from_micros(at)));
                }
                body.push_str("]}");
                loop {
                    let resp = http
                        .post(&url)
                        .bearer_auth(&secret)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await?;
                    // 503 (the index is behind, or the ingest budget is spent): nothing was
                    // stored; send the batch again after the server's Retry-After.
                    if resp.status().as_u16() == 503 {
                        let wait = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                            .unwrap_or(1);
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                        continue;
                    }
                    ok_json(resp, "ingesting a batch").await?;
                    break;
                }
                progress.inc(n);
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    progress.finish_and_clear();
    Ok(secret)
}

/// Signs a member in through the real forms; answers the session cookie.
async fn sign_in(server: &Server) -> anyhow::Result<String> {
    let body = json!({"email": "bench@acme.io", "name": "Bench", "role": "auditor"});
    let made = server.http.post(format!("{}/v1/tenants/acme/members", server.base)).bearer_auth(&server.admin);
    let member = ok_json(made.json(&body).send().await?, "creating a member").await?;
    let invite = member["invite_url"].as_str().context("invite URL")?.to_owned();
    let csrf_of = |html: &str| {
        html.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned()
    };
    let cookie_of = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
    };
    let page = server.http.get(&invite).send().await?;
    let pre = cookie_of(&page, "stele_csrf").context("no CSRF cookie")?;
    let csrf = csrf_of(&page.text().await?);
    let form = [("csrf", csrf.as_str()), ("password", PASSWORD), ("confirm", PASSWORD)];
    let set = server.http.post(&invite).header("cookie", &pre).form(&form).send().await?;
    if set.status().as_u16() != 303 {
        bail!("setting the password: {}", set.status());
    }
    let login = server.http.get(format!("{}/login?tenant=acme", server.base)).header("cookie", &pre).send().await?;
    let csrf = csrf_of(&login.text().await?);
    let form = [("csrf", csrf.as_str()), ("tenant", "acme"), ("email", "bench@acme.io"), ("password", PASSWORD)];
    let signed = server.http.post(format!("{}/login", server.base)).header("cookie", &pre).form(&form).send().await?;
    cookie_of(&signed, "stele_session").context("signing in gave no session")
}

async fn timed(req: reqwest::RequestBuilder) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let resp = req.send().await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok((start.elapsed(), bytes.len()))
}

pub async fn run(options: ViewerOptions) -> anyhow::Result<Report> {
    if options.runs == 0 || options.events < 1000 {
        bail!("--runs must be at least 1 and --events at least 1000");
    }
    let server = start().await?;
    let started = Instant::now();
    let secret = load(&server, options.events).await?;
    let loaded = started.elapsed();
    let indexed = crate::ingest::index_drained(&server.base).await?;
    let load = format!(
        "loaded in {:.0} s, index caught up {:.1} s later",
        loaded.as_secs_f64(),
        indexed.map_or(0.0, |d| d.as_secs_f64())
    );
    eprintln!("{load}");

    // A common action and word of the corpus, read from the tenant itself (its newest by
    // seq is the last generated event; by time, the tenant and key made before the load).
    let newest: Value = ok_json(
        server.http.get(format!("{}/v1/events?limit=1&sort=-seq", server.base)).bearer_auth(&secret).send().await?,
        "reading the newest event",
    )
    .await?;
    let action = newest["events"][0]["action"].as_str().context("an action")?.to_owned();
    let word = newest["events"][0]["message"]
        .as_str()
        .and_then(|m| m.split_whitespace().find(|w| w.len() > 3 && w.chars().all(char::is_alphabetic)))
        .unwrap_or("the")
        .to_owned();
    // Signed in after the sample was read, so the shapes are the corpus's, not the sign-in's.
    let cookie = sign_in(&server).await?;
    let filter = format!("action eq \"{action}\"");
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let shapes: Vec<(&'static str, String, String)> = vec![
        ("newest, no filter", "/t/acme/events".into(), "/v1/events?limit=50".into()),
        (
            "status chip (failure)",
            "/t/acme/events?status=failure".into(),
            format!("/v1/events?limit=50&filter={}", enc("status eq \"failure\"")),
        ),
        (
            "action eq",
            format!("/t/acme/events?filter={}", enc(&filter)),
            format!("/v1/events?limit=50&filter={}", enc(&filter)),
        ),
        ("free text q", format!("/t/acme/events?q={}", enc(&word)), format!("/v1/events?limit=50&q={}", enc(&word))),
    ];
    let mut rows = Vec::new();
    for (shape, page, api) in shapes {
        let (mut pages, mut apis, mut html_bytes) = (Vec::new(), Vec::new(), 0);
        // One untimed warm-up of each.
        timed(server.http.get(format!("{}{page}", server.base)).header("cookie", &cookie)).await?;
        timed(server.http.get(format!("{}{api}", server.base)).bearer_auth(&secret)).await?;
        for run in 0..options.runs {
            let page_req = || server.http.get(format!("{}{page}", server.base)).header("cookie", &cookie);
            let api_req = || server.http.get(format!("{}{api}", server.base)).bearer_auth(&secret);
            if run % 2 == 0 {
                let (d, n) = timed(page_req()).await?;
                pages.push(d);
                html_bytes = n;
                apis.push(timed(api_req()).await?.0);
            } else {
                apis.push(timed(api_req()).await?.0);
                let (d, n) = timed(page_req()).await?;
                pages.push(d);
                html_bytes = n;
            }
        }
        // The summary counts every matching event: slower, so fewer runs.
        let summary = format!(
            "{}{}",
            page.replacen("/t/acme/events", "/t/acme/events/summary", 1),
            if page.contains('?') { "&summary=fragment" } else { "?summary=fragment" }
        );
        let mut summaries = Vec::new();
        for _ in 0..options.runs.min(3) {
            summaries
                .push(timed(server.http.get(format!("{}{summary}", server.base)).header("cookie", &cookie)).await?.0);
        }
        let summary_runs = summaries.len();
        rows.push(Row {
            summary_p50: percentile_ms(&mut summaries, 50.0),
            summary_runs,
            shape,
            page_p50: percentile_ms(&mut pages, 50.0),
            page_p99: percentile_ms(&mut pages, 99.0),
            api_p50: percentile_ms(&mut apis, 50.0),
            api_p99: percentile_ms(&mut apis, 99.0),
            html_bytes,
        });
    }
    server.running.shutdown().await?;
    Ok(Report { events: options.events, load, rows })
}
