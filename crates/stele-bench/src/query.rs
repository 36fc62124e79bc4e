//! `stele bench query`: page and count latencies through the `Store` API on generated 1 M and
//! 10 M event databases, next to the hand-written SQL with the same index use on a plain
//! read-only connection, run for run in the same loop (alternating which goes first).
//!
//! With `--database postgres://…` the same corpus is loaded through `PostgresStore::append`
//! into `stele_bench_query_<size>` on that server (reused while it holds the right number of
//! events), and the raw column runs the SQL that `stele-postgres`'s compiler generates for
//! each shape, written by hand, on a plain `tokio-postgres` connection.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection};
use serde_json::Value;
use stele_core::Filter;
use stele_core::{
    parse_ingest_body, Cursor, Limit, Limits, NewEvent, PageRequest, Query, TenantId, TextQuery, Timestamp,
};
use stele_postgres::PostgresStore;
use stele_sqlite::{rows, SqliteStore};
use stele_store::{AppendOutcome, Store, StoreError};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use crate::query_corpus::{self, Corpus};
use crate::stats::percentile_ms;

#[derive(clap::Args, Debug, Clone)]
pub struct QueryOptions {
    /// Database sizes to build (or reuse) and measure, in events.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    pub sizes: Vec<u64>,
    /// Timed runs per query shape and tenant (each run times Stele and the raw SQL, in
    /// alternating order).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Where the generated databases are cached between runs.
    #[arg(long, default_value = "stele-bench-data")]
    pub dir: PathBuf,
    /// Regenerate the databases even when they exist.
    #[arg(long)]
    pub rebuild: bool,
    /// Most seconds spent on one shape for one tenant; slower shapes stop early (after at
    /// least 20 runs) and the table shows how many runs they got.
    #[arg(long, default_value_t = 30)]
    pub shape_budget_secs: u64,
    /// `sqlite` (files under --dir), or a `postgres://` URL of a server on which the corpus
    /// is built into the database `stele_bench_query_<size>` (reused unless --rebuild).
    #[arg(long, default_value = "sqlite")]
    pub database: String,
}

/// Brief §8: a first page with a selective filter, at 10 M events.
const PAGE_P50_MS: f64 = 5.0;
const PAGE_P99_MS: f64 = 25.0;
/// Brief §8: an exact count with a filter.
const COUNT_MS: f64 = 200.0;
/// Depth of the cursor page (issue: 100 000), capped for tenants smaller than twice that.
const CURSOR_DEPTH: u64 = 100_000;
/// Events per load transaction.
const LOAD_TX: usize = 200_000;
/// Events per `PostgresStore::append` while loading (one tenant per batch).
const PG_APPEND_BATCH: usize = 1000;
/// The generated log ends here (2026-01-01T00:00:00Z) and spans 90 days.
const END_MICROS: i64 = 1_767_225_600_000_000;
const SPAN_MICROS: i64 = 90 * 86_400 * 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Newest,
    ActionEq,
    EmailEq,
    ContextEq,
    And3,
    MessageCo,
    Text,
    Cursor,
    CountAll,
    CountFiltered,
}

const SHAPES: [Shape; 10] = [
    Shape::Newest,
    Shape::ActionEq,
    Shape::EmailEq,
    Shape::ContextEq,
    Shape::And3,
    Shape::MessageCo,
    Shape::Text,
    Shape::Cursor,
    Shape::CountAll,
    Shape::CountFiltered,
];

const PAGE_SELECT: &str = "SELECT seq, time, json FROM events WHERE tenant_no = ?1";
const PAGE_ORDER: &str = " ORDER BY time DESC, seq DESC LIMIT 51";

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Newest => "first page, newest",
            Shape::ActionEq => "action eq",
            Shape::EmailEq => "actor.email eq",
            Shape::ContextEq => "context.product_id eq",
            Shape::And3 => "action and actor.email and context.env",
            Shape::MessageCo => "message co <word>",
            Shape::Text => "q=<word> (full text)",
            Shape::Cursor => "cursor page at depth",
            Shape::CountAll => "count, no filter",
            Shape::CountFiltered => "count, action eq",
        }
    }

    fn is_count(self) -> bool {
        matches!(self, Shape::CountAll | Shape::CountFiltered)
    }

    /// The Stele query for one run.
    fn query(self, s: &Sample, cursor: &Cursor) -> anyhow::Result<Query> {
        let filter = |text: String| -> anyhow::Result<Query> {
            Ok(Query {
                filter: Some(Filter::parse(&text).map_err(|e| anyhow::anyhow!("{text}: {e}"))?),
                ..Query::default()
            })
        };
        match self {
            Shape::Newest | Shape::CountAll => Ok(Query::default()),
            Shape::ActionEq | Shape::CountFiltered => filter(format!("action eq \"{}\"", s.action)),
            Shape::EmailEq => filter(format!("actor.email eq \"{}\"", s.email)),
            Shape::ContextEq => filter(format!("context.product_id eq \"{}\"", s.product)),
            Shape::And3 => filter(format!(
                "action eq \"{}\" and actor.email eq \"{}\" and context.environment_id eq \"{}\"",
                s.action, s.email, s.env
            )),
            Shape::MessageCo => filter(format!("message co \"{}\"", s.co_word)),
            Shape::Text => Ok(Query { text: TextQuery::parse(&s.q_word)?, ..Query::default() }),
            Shape::Cursor => Ok(Query { page: PageRequest::After(cursor.clone()), ..Query::default() }),
        }
    }

    /// What one run of this shape asked for, to name the slowest run in the report.
    fn describe(self, s: &Sample, cursor: &Cursor) -> String {
        match self {
            Shape::Text => format!("q={}", s.q_word),
            Shape::Newest | Shape::CountAll | Shape::Cursor => String::new(),
            _ => match self.query(s, cursor).map(|q| q.filter) {
                Ok(Some(filter)) => filter.expr().to_string(),
                _ => String::new(),
            },
        }
    }

    /// The hand-written SQL with the same index use, and its parameters.
    fn raw(self, no: i64, s: &Sample, cursor: &Cursor) -> (String, Vec<SqlValue>) {
        let t = |v: &str| SqlValue::Text(v.to_owned());
        let folded = |v: String| SqlValue::Text(v.to_ascii_lowercase());
        let page = |cond: &str| format!("{PAGE_SELECT}{cond}{PAGE_ORDER}");
        // The index file's postings (attached as `ix` on read connections), looked up the
        // way the compiler does: rowids from the postings, the column checked on the row.
        let base = no << rows::SEQ_BITS;
        let terms = format!(
            "pos IN (SELECT {base} + seq FROM postings WHERE tenant_no = ?1 AND tid = \
             (SELECT id FROM dictionary WHERE tenant_no = ?1 AND term = "
        );
        let (sql, mut params) = match self {
            Shape::Newest => (page(""), vec![]),
            Shape::ActionEq => (
                page(&format!(" AND action = ?2 AND {terms}?3))")),
                vec![t(&s.action), folded(format!("action={}", s.action))],
            ),
            Shape::EmailEq => (
                page(&format!(" AND actor_email = ?2 AND {terms}?3))")),
                vec![t(&s.email), folded(format!("actor.email={}", s.email))],
            ),
            Shape::ContextEq => {
                (page(&format!(" AND {terms}?2))")), vec![t(&format!("context.product_id={}", s.product))])
            }
            Shape::And3 => (
                page(&format!(" AND action = ?2 AND actor_email = ?3 AND {terms}?4)) AND {terms}?5))")),
                vec![
                    t(&s.action),
                    t(&s.email),
                    t(&format!("context.environment_id={}", s.env)),
                    folded(format!("actor.email={}", s.email)),
                ],
            ),
            Shape::MessageCo => (page(" AND message LIKE ?2 ESCAPE '\\'"), vec![t(&format!("%{}%", s.co_word))]),
            Shape::Text => (
                page(" AND pos IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?2 AND rowid > ?3 AND rowid < ?4)"),
                vec![t(&format!("\"{}\"", s.q_word)), SqlValue::Integer(rows::pos(no, 0)), SqlValue::Integer(rows::pos(no + 1, 0))],
            ),
            Shape::Cursor => {
                let time = cursor.values.first().and_then(Value::as_i64).unwrap_or(i64::MAX);
                (
                    page(" AND (time, seq) < (?2, ?3)"),
                    vec![SqlValue::Integer(time), SqlValue::Integer(cursor.seq as i64)],
                )
            }
            Shape::CountAll => ("SELECT COUNT(*) FROM events WHERE tenant_no = ?1".to_owned(), vec![]),
            Shape::CountFiltered => {
                ("SELECT COUNT(*) FROM events WHERE tenant_no = ?1 AND action = ?2".to_owned(), vec![t(&s.action)])
            }
        };
        params.insert(0, SqlValue::Integer(no));
        (sql, params)
    }

    /// The PostgreSQL SQL that `stele-postgres`'s compiler generates for this shape, written
    /// by hand (text compared through `stele_fold` against folded values), and its parameters.
    fn raw_pg(self, no: i64, s: &Sample, cursor: &Cursor) -> (String, Vec<PgParam>) {
        let t = |v: &str| PgParam::Text(v.to_ascii_lowercase());
        let page = |cond: &str| format!("{PG_PAGE_SELECT}{cond}{PG_PAGE_ORDER}");
        let terms = "seq IN (SELECT seq FROM event_terms WHERE tenant_no = $1 AND term = ";
        let (sql, mut params) = match self {
            Shape::Newest => (page(""), vec![]),
            Shape::ActionEq => (page(" AND stele_fold(action) = $2"), vec![t(&s.action)]),
            Shape::EmailEq => (page(" AND stele_fold(actor_email) = $2"), vec![t(&s.email)]),
            Shape::ContextEq => {
                (page(&format!(" AND {terms}$2)")), vec![t(&format!("context.product_id={}", s.product))])
            }
            Shape::And3 => (
                page(&format!(" AND (stele_fold(action) = $2 AND stele_fold(actor_email) = $3 AND {terms}$4))")),
                vec![t(&s.action), t(&s.email), t(&format!("context.environment_id={}", s.env))],
            ),
            Shape::MessageCo => {
                let mut pattern = String::from("%");
                for c in s.co_word.to_ascii_lowercase().chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                (page(" AND stele_fold(message) LIKE $2 ESCAPE '\\'"), vec![PgParam::Text(pattern)])
            }
            Shape::Text => {
                let quote = |w: &str| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"));
                let q = quote(&stele_postgres::rows::tenant_key(no, &s.q_word));
                let words = " AND seq IN (SELECT seq FROM event_docs WHERE tenant_no = $1 \
                             AND stele_doc_keys(tenant_no, time, doc) @@ to_tsquery('simple', $2))";
                (page(words), vec![PgParam::Text(q)])
            }
            Shape::Cursor => {
                let time = cursor.values.first().and_then(Value::as_i64).unwrap_or(i64::MAX);
                (page(" AND (time, seq) < ($2, $3)"), vec![PgParam::Int(time), PgParam::Int(cursor.seq as i64)])
            }
            Shape::CountAll => ("SELECT COUNT(*) FROM events WHERE tenant_no = $1".to_owned(), vec![]),
            Shape::CountFiltered => (
                "SELECT COUNT(*) FROM events WHERE tenant_no = $1 AND stele_fold(action) = $2".to_owned(),
                vec![t(&s.action)],
            ),
        };
        params.insert(0, PgParam::Int(no));
        (sql, params)
    }
}

const PG_PAGE_SELECT: &str = "SELECT seq, time, json FROM events WHERE tenant_no = $1";
const PG_PAGE_ORDER: &str = " ORDER BY time DESC, seq DESC LIMIT 51 OFFSET 0";

/// A parameter of the hand-written PostgreSQL SQL.
enum PgParam {
    Int(i64),
    Text(String),
}

fn pg_refs(params: &[PgParam]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            PgParam::Int(i) => i as &(dyn ToSql + Sync),
            PgParam::Text(t) => t as &(dyn ToSql + Sync),
        })
        .collect()
}

/// Filter values taken from one existing event, so every value exists and common values are
/// picked as often as they occur.
#[derive(Debug, Clone)]
struct Sample {
    action: String,
    email: String,
    product: String,
    env: String,
    co_word: String,
    q_word: String,
}

/// One measured shape for one tenant.
pub struct Row {
    pub shape: String,
    pub runs: usize,
    /// Mean rows per page, or the mean count.
    pub mean_rows: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub raw_p50_ms: f64,
    pub raw_p99_ms: f64,
    pub count: bool,
    /// Runs whose Stele answer differed in size from the raw SQL's.
    pub mismatches: usize,
    /// Runs that ran past the store's read deadline (their time is the deadline's).
    pub timeouts: usize,
    pub plan: Vec<String>,
    /// The slowest Stele run: its milliseconds and what it asked for.
    pub slowest: (f64, String),
}

impl Row {
    fn target(&self) -> (String, bool) {
        if self.count {
            (format!("p50<={COUNT_MS:.0}"), self.p50_ms <= COUNT_MS && self.timeouts == 0)
        } else {
            let met = self.p50_ms <= PAGE_P50_MS && self.p99_ms <= PAGE_P99_MS && self.timeouts == 0;
            (format!("{PAGE_P50_MS:.0}/{PAGE_P99_MS:.0}"), met)
        }
    }
}

pub struct TenantReport {
    pub tenant: String,
    pub events: u64,
    pub cursor_depth: u64,
    pub rows: Vec<Row>,
}

pub struct SizeReport {
    pub events: u64,
    /// The SQLite file, or the PostgreSQL database's name.
    pub location: String,
    pub db_bytes: u64,
    pub build: String,
    pub tenants: Vec<TenantReport>,
}

pub struct Report {
    /// "SQLite" or "PostgreSQL".
    pub backend: &'static str,
    pub sizes: Vec<SizeReport>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "targets (brief §8, at 10 M): page p50/p99 <= {PAGE_P50_MS}/{PAGE_P99_MS} ms; count <= {COUNT_MS} ms"
        )?;
        let raw = if self.backend == "PostgreSQL" {
            "the SQL stele-postgres compiles, by hand, on a plain tokio-postgres connection"
        } else {
            "same SQL shape on a plain read-only rusqlite connection"
        };
        writeln!(f, "ratio = Stele p50 / raw p50 ({raw})")?;
        for size in &self.sizes {
            writeln!(f)?;
            writeln!(
                f,
                "== {}, {} events: {} ({:.2} GiB, {:.0} bytes/event); {}",
                self.backend,
                size.events,
                size.location,
                size.db_bytes as f64 / (1u64 << 30) as f64,
                size.db_bytes as f64 / size.events.max(1) as f64,
                size.build
            )?;
            for t in &size.tenants {
                writeln!(f, "-- tenant {} ({} events; cursor depth {})", t.tenant, t.events, t.cursor_depth)?;
                writeln!(
                    f,
                    "{:<40} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>10} {:>4}",
                    "shape", "runs", "rows", "p50 ms", "p99 ms", "raw p50", "raw p99", "ratio", "target", "met"
                )?;
                for r in &t.rows {
                    let (target, met) = r.target();
                    let ratio = if r.raw_p50_ms > 0.0 { r.p50_ms / r.raw_p50_ms } else { 0.0 };
                    writeln!(
                        f,
                        "{:<40} {:>5} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6.2} {:>10} {:>4}{}",
                        r.shape,
                        r.runs,
                        r.mean_rows,
                        r.p50_ms,
                        r.p99_ms,
                        r.raw_p50_ms,
                        r.raw_p99_ms,
                        ratio,
                        target,
                        if met { "yes" } else { "NO" },
                        match (r.mismatches, r.timeouts) {
                            (0, 0) => String::new(),
                            (m, 0) => format!("  ({m} runs differed from raw!)"),
                            (m, t) => format!("  ({t} runs past the read deadline, {m} differed from raw)"),
                        }
                    )?;
                }
            }
            for t in &size.tenants {
                let slow: Vec<&Row> = t.rows.iter().filter(|r| !r.target().1 && !r.slowest.1.is_empty()).collect();
                if !slow.is_empty() {
                    writeln!(f, "-- slowest run of each shape that missed its target (tenant {}):", t.tenant)?;
                    for r in slow {
                        writeln!(f, "{:<40} {:>9.2} ms  {}", r.shape, r.slowest.0, r.slowest.1)?;
                    }
                }
            }
            if let Some(t) = size.tenants.first() {
                writeln!(f, "-- query plans (tenant {}):", t.tenant)?;
                for r in &t.rows {
                    writeln!(f, "{:<40} {}", r.shape, r.plan.join(" | "))?;
                }
            }
        }
        Ok(())
    }
}

/// Builds (or reuses) each database and measures it.
pub async fn run(options: QueryOptions) -> anyhow::Result<Report> {
    if options.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let pg_url = match options.database.as_str() {
        "sqlite" => None,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => Some(url.to_owned()),
        other => bail!("--database {:?}: expected sqlite or a postgres:// URL", stele_server::redact_url(other)),
    };
    if pg_url.is_none() {
        std::fs::create_dir_all(&options.dir).with_context(|| format!("cannot create {}", options.dir.display()))?;
    }
    let mut sizes = Vec::new();
    for &events in &options.sizes {
        if events < query_corpus::TENANTS as u64 * 10 {
            bail!("--sizes: {events} is too small (at least {} events)", query_corpus::TENANTS * 10);
        }
        if let Some(server) = &pg_url {
            let name = format!("stele_bench_query_{events}");
            let (url, build) = build_pg(server, &name, events, options.rebuild).await?;
            eprintln!("{events} events (PostgreSQL {name}): {build}");
            let store = PostgresStore::connect(&url).await?;
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            let driver = tokio::spawn(connection);
            let db_bytes: i64 = client.query_one("SELECT pg_database_size(current_database())", &[]).await?.get(0);
            let raw = Raw::Pg(client);
            let tenants = measure(&store, &raw, events, &options).await;
            drop(raw);
            store.close().await;
            let _ = driver.await;
            sizes.push(SizeReport { events, location: name, db_bytes: db_bytes as u64, build, tenants: tenants? });
            continue;
        }
        let path = options.dir.join(format!("query-{events}.db"));
        let info_path = path.with_extension("build.txt");
        let build = if path.exists() && !options.rebuild {
            let earlier = std::fs::read_to_string(&info_path).unwrap_or_default();
            format!("reused ({})", earlier.trim())
        } else {
            let p = path.clone();
            let secs = tokio::task::spawn_blocking(move || build(&p, events)).await??;
            let text = format!("built in {secs:.0} s, {:.0} events/s", events as f64 / secs);
            std::fs::write(&info_path, &text)?;
            text
        };
        eprintln!("{events} events: {build}");
        let store = SqliteStore::open(&path)?;
        // The built file holds the log only; its index file is built here once (kept with
        // the log for later runs), and the queries are measured with the mark at the head.
        if store.index_lag() > 0 {
            let start = Instant::now();
            let lag = store.index_lag();
            store.catch_up_index().await?;
            let secs = start.elapsed().as_secs_f64();
            eprintln!("indexed {lag} events in {secs:.1} s ({:.0} events/s)", lag as f64 / secs);
        }
        // At rest, the idle indexer has merged its recent postings: measured so.
        store.merge_index().await?;
        let db_bytes = ["", "-wal", "-index", "-index-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
            .map(|m| m.len())
            .sum();
        let raw = Raw::Sqlite(rows::open_reader(&path)?);
        let tenants = measure(&store, &raw, events, &options).await;
        drop(raw);
        store.close().await;
        sizes.push(SizeReport { events, location: path.display().to_string(), db_bytes, build, tenants: tenants? });
    }
    Ok(Report { backend: if pg_url.is_some() { "PostgreSQL" } else { "SQLite" }, sizes })
}

/// A batch of one tenant's generated events: the tenant's rank and `(seq, event)` pairs.
type Batch = (usize, Vec<(u64, NewEvent)>);

/// Starts the thread that generates the corpus (tenant by tenant, seqs from 1, times
/// increasing), in batches of at most `batch_size` events of one tenant.
fn spawn_generator(
    events: u64,
    batch_size: usize,
    tx: mpsc::Sender<Batch>,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let sizes = query_corpus::tenant_sizes(events);
    Ok(std::thread::Builder::new().name("bench-generate".into()).spawn(move || -> anyhow::Result<()> {
        let corpus = Corpus::new(42);
        let limits = Limits::default();
        for (i, &n) in sizes.iter().enumerate() {
            let tenant = query_corpus::tenant_id(i);
            let mut rng = StdRng::seed_from_u64(1000 + i as u64);
            let step = (SPAN_MICROS / n as i64).max(1);
            let mut batch = Vec::with_capacity(batch_size);
            for seq in 1..=n {
                let time =
                    Timestamp::from_micros(END_MICROS - SPAN_MICROS + (seq as i64 - 1) * step + rng.gen_range(0..step));
                let json = corpus.event_json(&mut rng, &tenant, time);
                let received = time.plus_micros(rng.gen_range(1_000..200_000));
                let mut parsed = parse_ingest_body(json.as_bytes(), &limits, received)
                    .map_err(|e| anyhow::anyhow!("generated event is invalid: {e}: {json}"))?;
                batch.push((seq, parsed.events.remove(0)));
                if batch.len() == batch_size
                    && tx.blocking_send((i, std::mem::replace(&mut batch, Vec::with_capacity(batch_size)))).is_err()
                {
                    return Ok(());
                }
            }
            if !batch.is_empty() && tx.blocking_send((i, batch)).is_err() {
                return Ok(());
            }
        }
        Ok(())
    })?)
}

fn load_progress(events: u64, what: String) -> ProgressBar {
    let progress = ProgressBar::new(events).with_message(what);
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress
}

/// Generates the database at `path` (through a temporary file, so a half-built database is
/// never reused). Returns the seconds it took.
fn build(path: &Path, events: u64) -> anyhow::Result<f64> {
    let tmp = path.with_extension("db.tmp");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    let start = Instant::now();
    let mut conn = rows::open_writer(&tmp)?;
    // A throwaway file: no journal, no fsync, a large cache. The rows are the server's own.
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -1_500_000)?;
    let mut nos = Vec::with_capacity(query_corpus::TENANTS);
    for i in 0..query_corpus::tenant_sizes(events).len() {
        let id = query_corpus::tenant_id(i);
        conn.execute(
            "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, 0)",
            params![id, format!("Tenant {id}")],
        )?;
        nos.push(conn.last_insert_rowid());
    }

    let (tx, mut rx) = mpsc::channel::<Batch>(8);
    let generator = spawn_generator(events, 10_000, tx)?;
    let progress = load_progress(events, format!("building {}", path.display()));
    let mut in_tx = 0usize;
    let mut txn = conn.transaction()?;
    while let Some((i, batch)) = rx.blocking_recv() {
        let n = batch.len();
        for (seq, event) in batch {
            rows::insert_event(&txn, nos[i], seq, &event.into())?;
        }
        in_tx += n;
        progress.inc(n as u64);
        if in_tx >= LOAD_TX {
            txn.commit()?;
            txn = conn.transaction()?;
            in_tx = 0;
        }
    }
    txn.commit()?;
    generator.join().map_err(|_| anyhow::anyhow!("the generator thread panicked"))??;
    progress.finish_and_clear();
    conn.pragma_update(None, "journal_mode", "WAL")?;
    drop(conn);
    std::fs::rename(&tmp, path)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// A plain connection to `url`, with its driver task.
async fn pg_connect(url: &str) -> anyhow::Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>)> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {}", stele_server::redact_url(url)))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, driver))
}

/// Monthly partitions of the corpus's months (2025-10 to 2025-12), as a server running then
/// would have created ahead: `PostgresStore::connect` creates only the current months', and
/// the rest would land in the DEFAULT partition.
const PG_PARTITIONS: [(&str, i64, i64); 3] = [
    ("events_202510", 1_759_276_800, 1_761_955_200),
    ("events_202511", 1_761_955_200, 1_764_547_200),
    ("events_202512", 1_764_547_200, 1_767_225_600),
];

/// Reuses the database `name` on the server of `server_url` if it holds `events` events
/// (and `rebuild` is off), or (re)creates it and loads the corpus through
/// `PostgresStore::append`, batches of [`PG_APPEND_BATCH`] events of one tenant, then
/// `VACUUM ANALYZE`. Returns the database's URL and a line about the build.
async fn build_pg(server_url: &str, name: &str, events: u64, rebuild: bool) -> anyhow::Result<(String, String)> {
    let url = crate::pg::with_database(server_url, name);
    let (admin, admin_driver) = pg_connect(server_url).await?;
    let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if exists && !rebuild {
        let (client, driver) = pg_connect(&url).await?;
        let held = client.query_one("SELECT count(*) FROM events", &[]).await.ok().map(|r| r.get::<_, i64>(0));
        drop(client);
        let _ = driver.await;
        if held == Some(events as i64) {
            let note: Option<String> = admin
                .query_one("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", &[&name])
                .await?
                .get(0);
            drop(admin);
            let _ = admin_driver.await;
            return Ok((url, format!("reused ({})", note.unwrap_or_default())));
        }
        eprintln!("{name} holds {held:?} events, not {events}: rebuilding");
    }
    // The name is built from a number, never from input.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;

    let start = Instant::now();
    // Loaded without the background indexer (which would fall behind and refuse appends),
    // then indexed whole before it is measured.
    let options = stele_postgres::PostgresOptions {
        index: stele_postgres::IndexMode::Never,
        max_index_lag: u64::MAX,
        ..stele_postgres::PostgresOptions::default()
    };
    let store = PostgresStore::connect_with_options(&url, options).await?;
    let (client, driver) = pg_connect(&url).await?;
    for (part, from, to) in PG_PARTITIONS {
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {part} PARTITION OF events FOR VALUES FROM ({}) TO ({})",
                from * 1_000_000,
                to * 1_000_000
            ))
            .await?;
    }
    let mut tenants = Vec::with_capacity(query_corpus::TENANTS);
    for i in 0..query_corpus::tenant_sizes(events).len() {
        let id = query_corpus::tenant_id(i);
        client
            .execute("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, 0)", &[&id, &format!("Tenant {id}")])
            .await?;
        tenants.push(TenantId::parse(&id)?);
    }

    let (tx, mut rx) = mpsc::channel::<Batch>(16);
    let generator = spawn_generator(events, PG_APPEND_BATCH, tx)?;
    let progress = load_progress(events, format!("loading PostgreSQL {name}"));
    let mut loaded = 0u64;
    while let Some((i, batch)) = rx.recv().await {
        let n = batch.len();
        let first_seq = batch.first().map_or(0, |(seq, _)| *seq);
        let outcome = store.append(&tenants[i], batch.into_iter().map(|(_, e)| e).collect(), None).await?;
        match outcome {
            // The store assigns seqs; they are the generator's as long as batches arrive in order.
            AppendOutcome::Appended(receipts)
                if receipts.len() == n && receipts.first().map(|r| r.seq.get()) == Some(first_seq) => {}
            _ => bail!("append to {} did not store {n} events from seq {first_seq}", tenants[i]),
        }
        loaded += n as u64;
        progress.inc(n as u64);
    }
    generator.join().map_err(|_| anyhow::anyhow!("the generator thread panicked"))??;
    progress.finish_and_clear();
    eprintln!("indexing PostgreSQL {name}");
    store.reindex().await?;
    store.close().await;
    if loaded != events {
        bail!("loaded {loaded} events, expected {events}");
    }
    let load_secs = start.elapsed().as_secs_f64();
    let analyze = Instant::now();
    client.batch_execute("VACUUM (ANALYZE)").await?;
    let note = format!(
        "built in {:.0} s, {:.0} events/s through PostgresStore::append; VACUUM ANALYZE {:.0} s",
        load_secs,
        events as f64 / load_secs,
        analyze.elapsed().as_secs_f64()
    );
    drop(client);
    let _ = driver.await;
    admin.batch_execute(&format!("COMMENT ON DATABASE {name} IS '{note}'")).await?;
    drop(admin);
    let _ = admin_driver.await;
    Ok((url, note))
}

/// The plain connection the raw SQL runs on.
enum Raw {
    Sqlite(Connection),
    Pg(tokio_postgres::Client),
}

impl Raw {
    async fn tenant_no(&self, id: &str) -> anyhow::Result<i64> {
        Ok(match self {
            Raw::Sqlite(c) => c.query_row("SELECT no FROM tenants WHERE id = ?1", [id], |r| r.get(0))?,
            Raw::Pg(c) => c.query_one("SELECT no FROM tenants WHERE id = $1", &[&id]).await?.get(0),
        })
    }

    async fn event_json(&self, no: i64, seq: u64) -> anyhow::Result<String> {
        Ok(match self {
            Raw::Sqlite(c) => c
                .prepare_cached("SELECT json FROM events WHERE pos = ?1")?
                .query_row([rows::pos(no, seq)], |r| r.get(0))?,
            Raw::Pg(c) => c
                .query_one("SELECT json FROM events WHERE tenant_no = $1 AND seq = $2", &[&no, &(seq as i64)])
                .await?
                .get(0),
        })
    }

    /// Runs the raw SQL of a shape and returns the number of rows (or the count).
    async fn run(&self, shape: Shape, no: i64, s: &Sample, c: &Cursor) -> anyhow::Result<u64> {
        let count = shape.is_count();
        match self {
            Raw::Sqlite(conn) => {
                let (sql, params) = shape.raw(no, s, c);
                run_raw(conn, &sql, &params, count)
            }
            Raw::Pg(client) => {
                let (sql, params) = shape.raw_pg(no, s, c);
                // Like the store: the text each time (unnamed statement, a custom plan).
                let rows = client.query(sql.as_str(), &pg_refs(&params)).await?;
                if count {
                    return Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) as u64);
                }
                for r in &rows {
                    let _seq: i64 = r.get(0);
                    let _time: i64 = r.get(1);
                    std::hint::black_box(r.get::<_, &str>(2));
                }
                Ok((rows.len() as u64).min(u64::from(Limit::DEFAULT.get())))
            }
        }
    }

    /// The plan of a count shape's raw SQL.
    async fn explain(&self, shape: Shape, no: i64, s: &Sample, c: &Cursor) -> anyhow::Result<Vec<String>> {
        match self {
            Raw::Sqlite(conn) => {
                let (sql, params) = shape.raw(no, s, c);
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let lines = stmt.query_map(params_from_iter(&params), |r| r.get::<_, String>(3))?;
                Ok(lines.collect::<Result<Vec<_>, _>>()?)
            }
            Raw::Pg(client) => {
                let (sql, params) = shape.raw_pg(no, s, c);
                let rows = client.query(format!("EXPLAIN {sql}").as_str(), &pg_refs(&params)).await?;
                Ok(rows.iter().map(|r| r.get::<_, String>(0).trim().to_owned()).collect())
            }
        }
    }
}

/// A plan line without its indentation and PostgreSQL's `(cost=…)` estimates.
fn compact_plan_line(line: &str) -> String {
    let line = line.trim();
    match (line.find("  (cost="), line.rfind(')')) {
        (Some(start), Some(end)) if end > start => format!("{}{}", &line[..start], &line[end + 1..]),
        _ => line.to_owned(),
    }
}

/// Reads `n` random events of a tenant and takes filter values from them.
async fn samples(raw: &Raw, no: i64, events: u64, n: usize, rng: &mut StdRng) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let seq = rng.gen_range(1..=events);
        let json = raw.event_json(no, seq).await?;
        let v: Value = serde_json::from_str(&json)?;
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
        let message = s("/message");
        let words: Vec<&str> = message.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        out.push(Sample {
            action: s("/action"),
            email: s("/actor/email"),
            product: s("/context/product_id"),
            env: s("/context/environment_id"),
            co_word: words[rng.gen_range(0..words.len())].to_owned(),
            q_word: words[rng.gen_range(0..words.len())].to_owned(),
        });
    }
    Ok(out)
}

/// Runs the raw SQL and returns the number of rows (or the count).
fn run_raw(raw: &Connection, sql: &str, params: &[SqlValue], count: bool) -> anyhow::Result<u64> {
    let mut stmt = raw.prepare_cached(sql)?;
    if count {
        let n: i64 = stmt.query_row(params_from_iter(params), |r| r.get(0))?;
        return Ok(n as u64);
    }
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let _seq: i64 = r.get(0)?;
        let _time: i64 = r.get(1)?;
        let json: String = r.get(2)?;
        std::hint::black_box(json);
        n += 1;
    }
    // Stele fetches limit + 1 rows to know whether there is a next page.
    Ok(n.min(u64::from(Limit::DEFAULT.get())))
}

/// Rows of a page (or the count); `None` when the read ran past the store's deadline (the
/// server would have answered 503 `query-timeout`).
async fn run_stele(store: &dyn Store, tenant: &TenantId, query: &Query, count: bool) -> anyhow::Result<Option<u64>> {
    let answer = if count {
        store.count(tenant, query).await
    } else {
        store.query(tenant, query).await.map(|p| p.events.len() as u64)
    };
    match answer {
        Ok(n) => Ok(Some(n)),
        Err(StoreError::QueryTimeout) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Timed-out runs after which a shape stops (each costs the store's whole deadline).
const MAX_TIMEOUTS: usize = 3;

async fn measure(
    store: &dyn Store,
    raw: &Raw,
    events: u64,
    options: &QueryOptions,
) -> anyhow::Result<Vec<TenantReport>> {
    let sizes = query_corpus::tenant_sizes(events);
    let median = sizes.len() / 2 - 1;
    let budget = Duration::from_secs(options.shape_budget_secs);
    let mut reports = Vec::new();
    let progress = ProgressBar::new((2 * SHAPES.len()) as u64);
    progress.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} shapes")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for rank in [0, median] {
        let id = query_corpus::tenant_id(rank);
        let tenant = TenantId::parse(&id)?;
        let n = sizes[rank];
        let no = raw.tenant_no(&id).await?;
        let mut rng = StdRng::seed_from_u64(7 + rank as u64);
        let samples = samples(raw, no, n, options.runs.max(20), &mut rng).await?;

        // Ten cursors around the target depth, each from the `next` of an offset page.
        let depth = CURSOR_DEPTH.min(n / 2);
        let spread = (n / 100).clamp(1, 1000);
        let mut cursors = Vec::new();
        for k in 0..10 {
            let q =
                Query { page: PageRequest::Offset(depth + k * spread - 1), limit: Limit::new(1)?, ..Query::default() };
            let page = store.query(&tenant, &q).await?;
            cursors.push(page.next.context("no cursor at the requested depth")?);
        }

        let mut rows_out = Vec::new();
        for shape in SHAPES {
            progress.set_message(format!("{events} events, tenant {id}: {}", shape.name()));
            let count = shape.is_count();
            let plan = {
                let q = shape.query(&samples[0], &cursors[0])?;
                if count {
                    raw.explain(shape, no, &samples[0], &cursors[0]).await?
                } else {
                    store.explain(&tenant, &q).await?
                }
            };
            let plan: Vec<String> = plan.iter().map(|line| compact_plan_line(line)).collect();
            // Warm-up: the first runs of a shape load its index pages and prepare statements.
            for i in 0..3 {
                let (s, c) = (&samples[i % samples.len()], &cursors[i % cursors.len()]);
                run_stele(store, &tenant, &shape.query(s, c)?, count).await?;
                raw.run(shape, no, s, c).await?;
            }
            let (mut stele, mut baseline) = (Vec::new(), Vec::new());
            let mut slowest = (Duration::ZERO, String::new());
            let (mut total_rows, mut mismatches, mut timeouts) = (0u64, 0usize, 0usize);
            let start = Instant::now();
            for i in 0..options.runs {
                if (i >= 20 && start.elapsed() > budget) || timeouts >= MAX_TIMEOUTS {
                    break;
                }
                let (s, c) = (&samples[i % samples.len()], &cursors[i % cursors.len()]);
                let query = shape.query(s, c)?;
                // Alternate which side goes first: the second one finds the pages the first
                // one read already in the OS cache.
                let raw_first = i % 2 == 1;
                let mut want = 0;
                if raw_first {
                    let t = Instant::now();
                    want = raw.run(shape, no, s, c).await?;
                    baseline.push(t.elapsed());
                }
                let t = Instant::now();
                let got = run_stele(store, &tenant, &query, count).await?;
                let took = t.elapsed();
                if took > slowest.0 {
                    slowest = (took, shape.describe(s, c));
                }
                stele.push(took);
                if !raw_first {
                    let t = Instant::now();
                    want = raw.run(shape, no, s, c).await?;
                    baseline.push(t.elapsed());
                }
                match got {
                    Some(got) => {
                        total_rows += got;
                        mismatches += usize::from(got != want);
                    }
                    None => timeouts += 1,
                }
            }
            let runs = stele.len();
            rows_out.push(Row {
                shape: if shape == Shape::Cursor {
                    format!("{} {depth}", shape.name())
                } else {
                    shape.name().to_owned()
                },
                runs,
                mean_rows: total_rows as f64 / runs.saturating_sub(timeouts).max(1) as f64,
                p50_ms: percentile_ms(&mut stele, 50.0),
                p99_ms: percentile_ms(&mut stele, 99.0),
                raw_p50_ms: percentile_ms(&mut baseline, 50.0),
                raw_p99_ms: percentile_ms(&mut baseline, 99.0),
                count,
                mismatches,
                timeouts,
                plan,
                slowest: (slowest.0.as_secs_f64() * 1e3, slowest.1),
            });
            progress.inc(1);
        }
        reports.push(TenantReport { tenant: id, events: n, cursor_depth: depth, rows: rows_out });
    }
    progress.finish_and_clear();
    Ok(reports)
}
