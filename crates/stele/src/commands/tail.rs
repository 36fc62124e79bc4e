//! `stele tail --filter …`: the log as it grows, one event per line (NDJSON), from the
//! server's `GET /v1/events/tail` (Server-Sent Events, parsed by `eventsource-stream`).
//!
//! When the stream ends — the server restarts, the network drops, the server cut a client
//! that fell behind — the command reconnects with `Last-Event-ID` set to the last seq it
//! printed, so no event is skipped or printed twice. A refusal (4xx: bad filter, wrong key)
//! ends it with the server's message.

use std::time::Duration;

use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use reqwest::Method;

use crate::client::{check, Client};
use crate::Remote;

#[derive(clap::Args)]
pub struct TailArgs {
    /// SCIM filter, e.g. `action sw "user." and status eq "failure"`.
    #[arg(long)]
    pub filter: Option<String>,
    /// Words to find.
    #[arg(long)]
    pub q: Option<String>,
    /// Start after this seq instead of at the head.
    #[arg(long)]
    pub after: Option<u64>,
    /// Stop after printing this many events.
    #[arg(long)]
    pub limit: Option<u64>,
}

/// Longest silence before the connection is considered dead (the server's keep-alive
/// comes every 15 s).
const IDLE: Duration = Duration::from_secs(45);
/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub async fn run(args: TailArgs, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::streaming(remote, IDLE)?;
    let mut last = args.after;
    let mut printed = 0u64;
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(f) = &args.filter {
            params.push(("filter", f.clone()));
        }
        if let Some(q) = &args.q {
            params.push(("q", q.clone()));
        }
        let mut request = client.request(Method::GET, "/v1/events/tail").query(&params);
        if let Some(seq) = last {
            request = request.header("Last-Event-ID", seq.to_string());
        }
        let response = match request.send().await {
            Ok(r) if r.status().is_client_error() => return check(r).await.map(|_| ()),
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                eprintln!("stele tail: the server answered {}; retrying in {backoff:?}", r.status());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => {
                eprintln!("stele tail: cannot reach the server ({e}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut events = response.bytes_stream().eventsource();
        while let Some(message) = events.next().await {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("stele tail: the stream broke ({e}); resuming");
                    break;
                }
            };
            match message.event.as_str() {
                "event" => {
                    println!("{}", message.data);
                    backoff = Duration::from_millis(250);
                    let seq: u64 =
                        message.id.parse().with_context(|| format!("an event without a seq: {message:?}"))?;
                    last = Some(seq);
                    printed += 1;
                    if args.limit.is_some_and(|l| printed >= l) {
                        return Ok(());
                    }
                }
                // Where the stream starts: resuming from there loses nothing even if the
                // stream breaks before its first event.
                "ready" => last = message.id.parse().ok().or(last),
                "error" => eprintln!("stele tail: the server ended the stream: {}", message.data),
                other => bail!("the server sent an unknown message type {other:?}"),
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
