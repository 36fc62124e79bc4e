//! `stele send FILE|-`: JSON (one event, an array, or {"events": [...]}) or NDJSON, sent in
//! batches; each batch is retried with the same idempotency key, so a retry never duplicates.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use crate::client::{check, retryable, Client};
use crate::Remote;

#[derive(clap::Args)]
pub struct SendArgs {
    /// File to send; - reads standard input.
    pub file: PathBuf,
    /// Events per request (at most 1000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch_size: u16,
    /// Attempts per batch on connection errors, 5xx and 429.
    #[arg(long, default_value_t = 6)]
    pub attempts: u32,
}

/// The events of a JSON or NDJSON text.
fn parse_events(text: &str) -> anyhow::Result<Vec<Value>> {
    let trimmed = text.trim_start();
    if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
        return Ok(match value {
            Value::Array(items) => items,
            Value::Object(mut obj) if obj.len() == 1 && obj.get("events").is_some_and(Value::is_array) => {
                match obj.remove("events") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            other => vec![other],
        });
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}: not JSON", i + 1)))
        .collect()
}

/// Splits events into request bodies of at most `size` events and ~7 MiB.
fn batches(events: &[Value], size: usize) -> Vec<(usize, String)> {
    const MAX_BYTES: usize = 7 * 1024 * 1024;
    let mut out = Vec::new();
    let mut start = 0;
    while start < events.len() {
        let mut body = String::from("{\"events\":[");
        let mut n = 0;
        while start + n < events.len() && n < size {
            let text = events[start + n].to_string();
            if n > 0 && body.len() + text.len() > MAX_BYTES {
                break;
            }
            if n > 0 {
                body.push(',');
            }
            body.push_str(&text);
            n += 1;
        }
        body.push_str("]}");
        out.push((n, body));
        start += n;
    }
    out
}

pub async fn run(args: SendArgs, remote: &Remote) -> anyhow::Result<()> {
    let mut text = String::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    }
    let events = parse_events(&text)?;
    if events.is_empty() {
        bail!("no events in the input");
    }
    let client = Client::new(remote)?;
    let progress = ProgressBar::new(events.len() as u64);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")?);
    let run_id = uuid_like();
    let mut first = 0usize;
    for (index, (count, body)) in batches(&events, usize::from(args.batch_size)).into_iter().enumerate() {
        let key = format!("stele-send-{run_id}-{index}");
        send_batch(&client, &key, body, args.attempts)
            .await
            .with_context(|| format!("events {}..{} (counting from 0) were not stored", first, first + count))?;
        first += count;
        progress.inc(count as u64);
    }
    progress.finish();
    eprintln!("sent {} events", events.len());
    Ok(())
}

async fn send_batch(client: &Client, key: &str, body: String, attempts: u32) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let request = client
            .request(Method::POST, "/v1/events")
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.clone());
        let retry = match request.send().await {
            Ok(response) if retryable(response.status()) && attempt < attempts => format!("HTTP {}", response.status()),
            Ok(response) => return check(response).await.map(drop),
            Err(e) if attempt < attempts => e.to_string(),
            Err(e) => return Err(e.into()),
        };
        eprintln!("attempt {attempt} failed ({retry}); retrying in {delay:?} with the same idempotency key");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
        attempt += 1;
    }
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_shape() {
        assert_eq!(parse_events(r#"{"action":"a"}"#).expect("one").len(), 1);
        assert_eq!(parse_events(r#"[{"action":"a"},{"action":"b"}]"#).expect("array").len(), 2);
        assert_eq!(parse_events(r#"{"events":[{"action":"a"}]}"#).expect("batch").len(), 1);
        assert_eq!(parse_events("{\"action\":\"a\"}\n\n{\"action\":\"b\"}\n").expect("ndjson").len(), 2);
        assert!(parse_events("{\"action\":\"a\"}\nnot json\n").is_err());
    }

    #[test]
    fn batches_respect_size() {
        let events: Vec<Value> = (0..25).map(|i| serde_json::json!({"action": i.to_string()})).collect();
        let b = batches(&events, 10);
        assert_eq!(b.iter().map(|x| x.0).collect::<Vec<_>>(), vec![10, 10, 5]);
        let parsed: Value = serde_json::from_str(&b[2].1).expect("valid JSON");
        assert_eq!(parsed["events"].as_array().map(Vec::len), Some(5));
    }
}
