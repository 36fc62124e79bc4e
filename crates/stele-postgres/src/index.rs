//! Deferred indexing on PostgreSQL (issue #13), the SQLite design on one database.
//!
//! A commit writes each event's terms (`events.terms`) and full-text document text
//! (`events.search`) into its own row and nothing else at random key positions. The indexer
//! copies them, sorted, into `event_terms` and `event_docs` (GIN), and the folded message
//! into `event_messages` (a GIN index of its aligned trigrams, for `message co`), in large transactions and
//! moves the tenant's mark (`index_marks.seq`) in the same transaction. Reads take
//! `seq <= mark` from the postings and `seq > mark` from the rows' own `terms` and `search`
//! (`compile.rs`), with the mark read in the read's snapshot (`read.rs::in_snapshot`), so no
//! read can tell where the mark is. The postings are derived data: `reindex` rebuilds them from the rows.
//!
//! One indexer works per database (a session advisory lock; another node's indexer takes
//! over when its connection ends). Each tenant's indexing transaction and each redaction
//! (which removes an event's postings) take the tenant's transaction advisory lock, so the
//! indexer never copies the terms of a row that a redaction is changing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, Config, GenericClient};

/// The class of the per-tenant transaction advisory lock (`"STLI"`).
const TENANT_LOCK_CLASS: i32 = 0x5354_4c49;
/// The session advisory lock of the one indexer of a database.
const INDEXER_LOCK: i64 = 0x7374_656c_6503;
/// Most events indexed in one transaction.
pub const BATCH_EVENTS: i64 = 50_000;
/// How often the indexer looks for new events (and every node refreshes its lag).
const POLL: Duration = Duration::from_millis(200);

pub use stele_store::IndexMode;

/// Events committed but not yet indexed, over all tenants, as last measured; and the appends
/// waiting for it to drop (told at each measurement).
#[derive(Default)]
pub(crate) struct Lag {
    events: AtomicU64,
    pub(crate) gate: stele_store::LagGate,
}

impl Lag {
    pub(crate) fn get(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

/// Takes the tenant's index lock until the transaction ends.
pub(crate) async fn lock_tenant(client: &impl GenericClient, no: i64) -> Result<(), tokio_postgres::Error> {
    // Tenant numbers past 2^31 share a lock with a smaller one: only more waiting.
    let key = (no % i64::from(i32::MAX)) as i32;
    client.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&TENANT_LOCK_CLASS, &key]).await?;
    Ok(())
}

/// Indexes the tenant's events after its mark, up to `upto` (the head when `None`) and at
/// most [`BATCH_EVENTS`] of them, in one transaction; returns how many.
pub(crate) async fn index_tenant(
    client: &mut Client,
    no: i64,
    upto: Option<i64>,
) -> Result<i64, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    lock_tenant(&tx, no).await?;
    let row = tx
        .query_one(
            "SELECT t.head_seq, COALESCE(m.seq, 0) FROM tenants t LEFT JOIN index_marks m ON m.tenant_no = t.no
             WHERE t.no = $1",
            &[&no],
        )
        .await?;
    let (head, mark): (i64, i64) = (row.get(0), row.get(1));
    let to = upto.map_or(head, |u| u.min(head)).min(mark.saturating_add(BATCH_EVENTS));
    if to <= mark {
        tx.commit().await?;
        return Ok(0);
    }
    let range: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&no, &mark, &to];
    // Sorted by key, so the B-tree takes them in order.
    tx.execute(
        "INSERT INTO event_terms (tenant_no, term, seq)
         SELECT e.tenant_no, t.term, e.seq FROM events e, unnest(e.terms) AS t(term)
         WHERE e.tenant_no = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY 2, 3 ON CONFLICT DO NOTHING",
        &range,
    )
    .await?;
    tx.execute(
        "INSERT INTO event_docs (tenant_no, seq, time, doc)
         SELECT tenant_no, seq, time, stele_doc(tenant_no, search) FROM events
         WHERE tenant_no = $1 AND seq > $2 AND seq <= $3 AND search <> '' ON CONFLICT DO NOTHING",
        &range,
    )
    .await?;
    tx.execute(
        "INSERT INTO event_messages (tenant_no, seq, time, message)
         SELECT tenant_no, seq, time, stele_fold(message) FROM events
         WHERE tenant_no = $1 AND seq > $2 AND seq <= $3 AND message IS NOT NULL ORDER BY seq ON CONFLICT DO NOTHING",
        &range,
    )
    .await?;
    tx.execute(
        "INSERT INTO index_marks (tenant_no, seq) VALUES ($1, $2)
         ON CONFLICT (tenant_no) DO UPDATE SET seq = EXCLUDED.seq",
        &[&no, &to],
    )
    .await?;
    tx.commit().await?;
    Ok(to - mark)
}

/// Forgets every tenant's postings and puts its mark at 0, each tenant under its index lock
/// (so a running indexer's transaction either finished before or starts after); `reindex`.
pub(crate) async fn reset(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tenants: Vec<i64> =
        client.query("SELECT no FROM tenants ORDER BY no", &[]).await?.iter().map(|r| r.get(0)).collect();
    for no in tenants {
        let tx = client.transaction().await?;
        lock_tenant(&tx, no).await?;
        tx.execute("DELETE FROM event_terms WHERE tenant_no = $1", &[&no]).await?;
        tx.execute("DELETE FROM event_docs WHERE tenant_no = $1", &[&no]).await?;
        tx.execute("DELETE FROM event_messages WHERE tenant_no = $1", &[&no]).await?;
        tx.execute("DELETE FROM index_marks WHERE tenant_no = $1", &[&no]).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Tenants with events after their mark: `(no, head, mark)`.
pub(crate) async fn behind(client: &impl GenericClient) -> Result<Vec<(i64, i64, i64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT t.no, t.head_seq, COALESCE(m.seq, 0) FROM tenants t LEFT JOIN index_marks m ON m.tenant_no = t.no
             WHERE t.head_seq > COALESCE(m.seq, 0) ORDER BY t.no",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// Indexes every tenant up to its head (the [`IndexMode::Eager`] step and `reindex`).
pub(crate) async fn catch_up(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    loop {
        let pending = behind(client).await?;
        if pending.is_empty() {
            return Ok(());
        }
        for (no, _, _) in pending {
            index_tenant(client, no, None).await?;
        }
    }
}

/// The [`IndexMode::Random`] step: each tenant behind is indexed to a pseudo-random point
/// between its mark and its head (`state` is a xorshift generator's state).
pub(crate) async fn random_step(client: &mut Client, state: &mut u64) -> Result<(), tokio_postgres::Error> {
    for (no, head, mark) in behind(client).await? {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let to = mark + (*state % (head - mark + 1) as u64) as i64;
        index_tenant(client, no, Some(to)).await?;
    }
    Ok(())
}

async fn connect(config: &Config, tls: &crate::tls::Tls) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls.clone()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL indexer connection ended");
        }
    });
    Ok(client)
}

/// The background indexer of one node: refreshes the node's view of the lag and, while it
/// holds the database's indexer lock, indexes every tenant that is behind. Ends when
/// `stop` is dropped or sent to.
pub(crate) async fn run(config: Config, tls: crate::tls::Tls, lag: Arc<Lag>, stop: flume::Receiver<()>) {
    let mut client: Option<Client> = None;
    let mut holder = false;
    loop {
        if client.as_ref().is_none_or(Client::is_closed) {
            holder = false;
            client = match connect(&config, &tls).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect the PostgreSQL indexer");
                    None
                }
            };
        }
        if let Some(c) = client.as_mut() {
            if let Err(e) = step(c, &mut holder, &lag).await {
                tracing::warn!(error = %e, "PostgreSQL indexing failed; trying again");
            }
        }
        match tokio::time::timeout(POLL, stop.recv_async()).await {
            Ok(_) => return,
            Err(_elapsed) => {}
        }
    }
}

async fn step(client: &mut Client, holder: &mut bool, lag: &Lag) -> Result<(), tokio_postgres::Error> {
    if !*holder {
        *holder = client.query_one("SELECT pg_try_advisory_lock($1)", &[&INDEXER_LOCK]).await?.get(0);
    }
    // Round after round, a batch per tenant each, so one busy tenant does not starve the
    // others; bounded, so the lag is refreshed under any load. The lag is what the last
    // look found behind.
    let mut pending = behind(client).await?;
    for _ in 0..64 {
        if !*holder || pending.is_empty() {
            break;
        }
        for (no, _, _) in &pending {
            index_tenant(client, *no, None).await?;
        }
        pending = behind(client).await?;
    }
    let total: i64 = pending.iter().map(|(_, head, mark)| head - mark).sum();
    let total = total.max(0) as u64;
    lag.events.store(total, Ordering::Relaxed);
    lag.gate.advanced();
    record_lag(total);
    Ok(())
}

/// `stele_index_lag_events`: committed events not indexed yet, as SQLite's indexer reports
/// it. Label-free, so the closed-label-set rule (clippy.toml, stele-server's `metrics`) has
/// nothing to guard.
#[allow(clippy::disallowed_macros)]
fn record_lag(lag: u64) {
    metrics::gauge!("stele_index_lag_events").set(lag as f64);
}
