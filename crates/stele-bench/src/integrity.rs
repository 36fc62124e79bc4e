//! `stele bench proofs`: inclusion and consistency proof latency on a log of `--events`
//! events (default 1 M), next to reading one event by id from the same store in the same run
//! (the baseline: one indexed row read). Proofs are built from stored subtree hashes, so
//! their cost grows with log2(size), not with the size.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use stele_core::integrity::{verify_consistency, verify_inclusion, Hash};
use stele_core::{parse_ingest_body, EventId, Limits, NewEvent, TenantId, Timestamp};
use stele_store::{proofs, NewTenant, Store};

use crate::corpus;
use crate::stats::percentile_ms;

#[derive(clap::Args, Debug, Clone)]
pub struct ProofOptions {
    /// Events in the log.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Timed runs per measurement.
    #[arg(long, default_value_t = 2000)]
    pub runs: usize,
}

pub struct ProofReport {
    events: u64,
    load_seconds: f64,
    rows: Vec<(String, Vec<Duration>)>,
}

impl fmt::Display for ProofReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "log of {} events (SQLite, loaded in {:.0} s through the store)", self.events, self.load_seconds)?;
        writeln!(f, "{:<52} {:>8} {:>8} {:>8} {:>14}", "measurement", "runs", "p50 ms", "p99 ms", "p50 vs base")?;
        let mut base = self.rows.first().map(|r| r.1.clone()).unwrap_or_default();
        let base_p50 = percentile_ms(&mut base, 50.0).max(1e-6);
        for (name, samples) in &self.rows {
            let mut s = samples.clone();
            let p50 = percentile_ms(&mut s, 50.0);
            writeln!(
                f,
                "{:<52} {:>8} {:>8.3} {:>8.3} {:>13.1}x",
                name,
                s.len(),
                p50,
                percentile_ms(&mut s, 99.0),
                p50 / base_p50
            )?;
        }
        Ok(())
    }
}

pub async fn run(options: ProofOptions) -> anyhow::Result<ProofReport> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(stele_sqlite::SqliteStore::open(&dir.path().join("proofs.db"))?);
    let tenant = TenantId::parse("bench")?;
    let creation = parse_ingest_body(
        json!({"action": "stele.tenant.created"}).to_string().as_bytes(),
        &Limits::default(),
        Timestamp::now(),
    )?
    .events
    .remove(0);
    store
        .create_tenant(
            NewTenant { id: tenant.clone(), name: "bench".into(), aliases: vec![], created_at: Timestamp::now() },
            creation,
        )
        .await?;

    // Load: the corpus's 1000 distinct events, re-validated (fresh ids) for every batch.
    let bodies: Vec<String> = corpus::events(1000, 7).chunks(1000).map(|c| json!({"events": c}).to_string()).collect();
    let target = options.events.max(2) - 1;
    let progress = ProgressBar::new(target);
    let start = Instant::now();
    let mut loaded = 0u64;
    let mut ids: Vec<EventId> = Vec::new();
    while loaded < target {
        let n = (target - loaded).min(1000) as usize;
        let mut batch: Vec<NewEvent> =
            parse_ingest_body(bodies[0].as_bytes(), &Limits::default(), Timestamp::now())?.events;
        batch.truncate(n);
        if ids.len() < 100_000 {
            ids.extend(batch.iter().step_by(10).map(|e| e.event.id));
        }
        store.append(&tenant, batch, None).await?;
        loaded += n as u64;
        progress.inc(n as u64);
    }
    progress.finish_and_clear();
    let load_seconds = start.elapsed().as_secs_f64();
    let tree = store.tree(&tenant).await?;
    let size = tree.size;

    let mut rng = StdRng::seed_from_u64(11);
    let mut by_id = Vec::with_capacity(options.runs);
    let mut inclusion = Vec::with_capacity(options.runs);
    let mut consistency = Vec::with_capacity(options.runs);
    let mut root = Vec::with_capacity(options.runs);
    for _ in 0..options.runs {
        let id = ids[rng.gen_range(0..ids.len())];
        let t = Instant::now();
        let event = store.get_event(&tenant, &id).await?.context("event by id")?;
        by_id.push(t.elapsed());

        let index = event.seq.get() - 1;
        let t = Instant::now();
        let proof = proofs::inclusion(&*store, &tenant, index, size).await?;
        inclusion.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_str(&event.json)?;
        let leaf = Hash::from_hex(v["hash"].as_str().context("hash")?)?;
        verify_inclusion(index, size, &leaf, &proof, &tree.root).context("inclusion proof verifies")?;

        let m = rng.gen_range(1..size);
        let t = Instant::now();
        let proof = proofs::consistency(&*store, &tenant, m, size).await?;
        consistency.push(t.elapsed());
        let t = Instant::now();
        let m_root = proofs::root(&*store, &tenant, m).await?;
        root.push(t.elapsed());
        verify_consistency(m, size, &m_root, &tree.root, &proof).context("consistency proof verifies")?;
    }
    store.close().await;
    Ok(ProofReport {
        events: size,
        load_seconds,
        rows: vec![
            ("event by id (baseline: one indexed row)".into(), by_id),
            (format!("inclusion proof, random event, size {size}"), inclusion),
            (format!("consistency proof, random m -> {size}"), consistency),
            ("root of a random earlier size m".into(), root),
        ],
    })
}
