//! `stele get ID` and `stele list --since 1h`.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use reqwest::Method;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::Client;
use crate::Remote;

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only events newer than this long ago (e.g. 15m, 1h, 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Only events older than this long ago.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub until: Option<Duration>,
    /// At most this many events in all.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub oldest_first: bool,
}

fn ago(d: Duration) -> anyhow::Result<String> {
    let t = OffsetDateTime::from(SystemTime::now() - d);
    Ok(t.format(&Rfc3339)?)
}

pub async fn get(id: &str, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    let event = client.json(client.request(Method::GET, &format!("/v1/events/{id}"))).await?;
    println!("{}", serde_json::to_string_pretty(&event)?);
    Ok(())
}

pub async fn run(args: ListArgs, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(d) = args.since {
        params.push(("from", ago(d)?));
    }
    if let Some(d) = args.until {
        params.push(("to", ago(d)?));
    }
    if args.oldest_first {
        params.push(("sort", "time".into()));
    }
    let mut remaining = args.limit.unwrap_or(usize::MAX);
    let mut cursor: Option<String> = None;
    while remaining > 0 {
        let page_size = remaining.min(1000);
        let mut query = params.clone();
        query.push(("limit", page_size.to_string()));
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page = client.json(client.request(Method::GET, "/v1/events").query(&query)).await?;
        let events = page["events"].as_array().context("the server's answer has no events array")?;
        for e in events.iter().take(remaining) {
            println!("{e}");
        }
        remaining = remaining.saturating_sub(events.len());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(())
}
