//! PostgreSQL helpers of the benchmarks: fresh databases on a server, and the `psql \copy`
//! baseline of `stele bench ingest`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use stele_core::NewEvent;
use stele_postgres::rows::{document, terms};
use stele_store::Store;
use tokio_postgres::NoTls;

/// The columns of `events` the baseline loads, in the order of the CSV files (the same
/// columns Stele's own insert fills).
pub const EVENT_COLUMNS: &str = "tenant_no, seq, id, time, received_at, action, status, origin, actor_type, \
     actor_id, actor_name, actor_email, actor_ip, message, reason, correlation_id, request_id, request_method, \
     request_path, request_status, metadata, search, terms, json";

pub use stele_postgres::provision::with_database;

/// Creates an empty database `stele_bench_<what>_<random hex>` on the server of `url` and
/// returns its URL.
pub async fn fresh_database(url: &str, what: &str) -> anyhow::Result<String> {
    stele_postgres::provision::create_database(url, &format!("stele_bench_{what}"))
        .await
        .with_context(|| format!("creating a database on {}", stele_server::redact_url(url)))
}

/// A PostgreSQL array literal of text: `{"a","b"}`, each element's `"` and `\` escaped.
fn array_literal(items: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> =
        items.into_iter().map(|t| format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{{{}}}", quoted.join(","))
}

/// One CSV field: NULL is an unquoted empty field, every value is quoted.
fn field(out: &mut String, value: Option<&str>) {
    if let Some(v) = value {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

/// The `psql \copy` baseline: the same validated rows, written as CSV with the columns of
/// `events` that Stele's commit fills (the terms and the document text in the row; the
/// indexer makes postings of them later), then loaded by one `psql` session into a fresh
/// database migrated by `PostgresStore::connect`, one transaction per batch (a `\copy`
/// into `events`, then COMMIT: `synchronous_commit` on, so each commit is flushed).
/// Returns the seconds `psql` took.
pub async fn copy_baseline(server_url: &str, batches: &[Vec<NewEvent>], dir: &Path) -> anyhow::Result<f64> {
    let url = fresh_database(server_url, "copy").await?;
    let store = stele_postgres::PostgresStore::connect(&url).await?;
    store.close().await;
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let no: i64 = client
        .query_one("INSERT INTO tenants (id, name, created_at) VALUES ('bench', 'bench', 0) RETURNING no", &[])
        .await?
        .get(0);

    // Untimed preparation: the CSV files and the psql script.
    let mut script = String::from("\\set ON_ERROR_STOP on\n");
    let mut seq = 0i64;
    for (b, batch) in batches.iter().enumerate() {
        let mut events_csv = String::new();
        for new in batch {
            seq += 1;
            let e = &new.event;
            let actor = e.actor.as_ref();
            let req = e.request.as_ref();
            let metadata = e.metadata.as_ref().map(|m| m.as_str().to_owned());
            let _ = write!(events_csv, "{no},{seq},");
            field(&mut events_csv, Some(&e.id.to_string()));
            let _ = write!(events_csv, ",{},{},", e.time.as_micros(), e.received_at.as_micros());
            let texts = [
                Some(e.action.as_str()),
                Some(e.status.as_str()),
                e.origin.map(|o| o.as_str()),
                actor.and_then(|a| a.kind.as_deref()),
                actor.and_then(|a| a.id.as_deref()),
                actor.and_then(|a| a.name.as_deref()),
                actor.and_then(|a| a.email.as_deref()),
                actor.and_then(|a| a.ip.as_deref()),
                e.message.as_deref(),
                e.reason.as_deref(),
                e.correlation_id.as_deref(),
                req.and_then(|r| r.id.as_deref()),
                req.and_then(|r| r.method.as_deref()),
                req.and_then(|r| r.path.as_deref()),
            ];
            for t in texts {
                field(&mut events_csv, t);
                events_csv.push(',');
            }
            if let Some(status) = req.and_then(|r| r.status_code) {
                let _ = write!(events_csv, "{status}");
            }
            events_csv.push(',');
            field(&mut events_csv, metadata.as_deref());
            events_csv.push(',');
            field(&mut events_csv, Some(&document(no, new)));
            events_csv.push(',');
            field(&mut events_csv, Some(&array_literal(terms(new))));
            events_csv.push(',');
            field(&mut events_csv, Some(&new.json));
            events_csv.push('\n');
        }
        let events_file = dir.join(format!("events_{b}.csv"));
        std::fs::write(&events_file, events_csv)?;
        script.push_str("BEGIN;\n");
        let _ = writeln!(
            script,
            "\\copy events ({EVENT_COLUMNS}) FROM '{}' (FORMAT csv)",
            events_file.display().to_string().replace('\'', "''")
        );
        script.push_str("COMMIT;\n");
    }
    drop(client);
    let _ = driver.await;
    let script_file = dir.join("load.sql");
    std::fs::write(&script_file, script)?;

    let start = Instant::now();
    let output = Command::new("psql")
        .arg("--no-psqlrc")
        .arg("--quiet")
        .arg("-d")
        .arg(&url)
        .arg("-f")
        .arg(&script_file)
        .output()
        .context("running psql (is it installed and on PATH?)")?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("psql failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }

    // The load really happened: count what arrived.
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let loaded: i64 = client.query_one("SELECT count(*) FROM events WHERE tenant_no = $1", &[&no]).await?.get(0);
    drop(client);
    let _ = driver.await;
    if loaded != seq {
        bail!("psql loaded {loaded} events, expected {seq}");
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_quote_and_null() {
        let mut s = String::new();
        field(&mut s, Some("a\"b,c"));
        s.push(',');
        field(&mut s, None);
        s.push(',');
        field(&mut s, Some(""));
        assert_eq!(s, "\"a\"\"b,c\",,\"\"");
        assert_eq!(array_literal(["a\"b".to_owned(), "c\\".to_owned()]), r#"{"a\"b","c\\"}"#);
        assert_eq!(with_database("postgres://u@h:1/postgres?x=y", "d"), "postgres://u@h:1/d?x=y");
    }
}
