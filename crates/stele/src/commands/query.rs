//! `stele query`: filter, search and sort the log; pages through cursors and prints the
//! events as a table, JSON, NDJSON or CSV.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::Client;
use crate::Remote;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
}

#[derive(clap::Args)]
pub struct QueryArgs {
    /// SCIM filter, e.g. 'actor.email eq "ana@acme.io" and status eq "failure"'.
    #[arg(long)]
    pub filter: Option<String>,
    /// Words that must all appear (message, action, actor, targets, reason).
    #[arg(long)]
    pub q: Option<String>,
    /// Only events newer than this long ago (15m, 24h, 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Only events older than this long ago.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub until: Option<Duration>,
    /// Sort order: -time (default), time, action, -actor.email, request.status_code…
    #[arg(long, default_value = "-time")]
    pub sort: String,
    /// Most events to print.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Only these fields (json/ndjson): id,time,action,actor.email
    #[arg(long)]
    pub fields: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn ago(d: Duration) -> anyhow::Result<String> {
    Ok(OffsetDateTime::from(SystemTime::now() - d).format(&Rfc3339)?)
}

/// Columns of the table and CSV forms: (header, path into the event).
const COLUMNS: &[(&str, &[&str])] = &[
    ("time", &["time"]),
    ("seq", &["seq"]),
    ("action", &["action"]),
    ("status", &["status"]),
    ("actor", &["actor", "email"]),
    ("target", &["targets", "0", "id"]),
    ("message", &["message"]),
    ("id", &["id"]),
];

fn cell(event: &Value, path: &[&str]) -> String {
    let mut v = event;
    for key in path {
        v = match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*key],
        };
    }
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fetches up to `args.limit` events, a page at a time.
async fn fetch(client: &Client, args: &QueryArgs, progress: &ProgressBar) -> anyhow::Result<Vec<Value>> {
    let mut body = json!({"sort": args.sort});
    for (name, value) in [("filter", &args.filter), ("q", &args.q), ("fields", &args.fields)] {
        if let Some(v) = value {
            body[name] = json!(v);
        }
    }
    if let Some(d) = args.since {
        body["from"] = json!(ago(d)?);
    }
    if let Some(d) = args.until {
        body["to"] = json!(ago(d)?);
    }
    let mut events = Vec::new();
    while events.len() < args.limit {
        body["limit"] = json!((args.limit - events.len()).min(1000));
        let page = client.json(client.request(Method::POST, "/v1/events/search").json(&body)).await?;
        let batch = page["events"].as_array().context("the server's answer has no events array")?;
        events.extend(batch.iter().cloned());
        progress.set_position(events.len() as u64);
        match page["next_cursor"].as_str() {
            Some(c) => body["cursor"] = json!(c),
            None => break,
        }
    }
    events.truncate(args.limit);
    Ok(events)
}

pub async fn run(args: QueryArgs, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    let progress = ProgressBar::new(args.limit as u64);
    progress.set_style(ProgressStyle::with_template("{spinner} {pos} events fetched")?);
    let events = fetch(&client, &args, &progress).await?;
    progress.finish_and_clear();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&events)?)?,
        Format::Ndjson => {
            for e in &events {
                writeln!(out, "{e}")?;
            }
        }
        Format::Csv => {
            // The server's writer: every cell is neutralised against formula injection.
            let mut w = stele_server::csv_out::CsvWriter::new(out);
            w.write_row(COLUMNS.iter().map(|c| c.0))?;
            for e in &events {
                w.write_row(COLUMNS.iter().map(|c| cell(e, c.1)))?;
            }
            w.flush()?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| COLUMNS[..7].iter().map(|c| cell(e, c.1).chars().take(60).collect()).collect())
                .collect();
            let widths: Vec<usize> = (0..7)
                .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([COLUMNS[i].0.len()]).max().unwrap_or(0))
                .collect();
            let line = |cells: Vec<&str>| {
                cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ")
            };
            writeln!(out, "{}", line(COLUMNS[..7].iter().map(|c| c.0).collect()).trim_end())?;
            for r in &rows {
                writeln!(out, "{}", line(r.iter().map(String::as_str).collect()).trim_end())?;
            }
            eprintln!("{} events", rows.len());
        }
    }
    Ok(())
}
