//! `stele streams …` (a tenant's streams to SIEMs and archives, `/v1/streams`) and
//! `stele retention …` (its retention period and legal hold, `/v1/tenants/{tenant}/…`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::client::{check, Client};
use crate::Remote;

#[derive(Subcommand)]
pub enum StreamCommand {
    /// Make a stream. Its kind's settings come from `--set key=value` (repeatable; a value
    /// that reads as JSON — true, 5000 — is taken as such) and/or `--settings FILE` (a JSON
    /// object), e.g. `--kind webhook --set url=https://siem.example/in --set secret=…`.
    Create {
        #[arg(long)]
        name: String,
        /// webhook, splunk_hec, datadog, syslog or s3.
        #[arg(long)]
        kind: String,
        /// Only events matching this filter.
        #[arg(long)]
        filter: Option<String>,
        /// `now` (default) or `beginning` (the whole log first).
        #[arg(long)]
        start: Option<String>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long)]
        settings: Option<PathBuf>,
        /// The tenant (needed with the operator key).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List streams with their delivery status.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show one stream and its delivery status (cursor, lag, last success, last error).
    Status {
        id: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Rename a stream or change its filter (`--filter ""` streams every event).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Stop delivering (the cursor stays).
    Pause {
        id: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Deliver again from where the stream stopped.
    Resume {
        id: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    Delete {
        id: String,
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Show the tenant's retention period, legal hold and what waits for streams.
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Keep events this many days (`--days default` follows the deployment default).
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        days: String,
    },
    /// Apply retention now instead of at the next scheduled run.
    Run {
        #[arg(long)]
        tenant: String,
    },
    /// Put the tenant's log under legal hold (retention stops until it is lifted).
    Hold {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift the legal hold.
    Release {
        #[arg(long)]
        tenant: String,
    },
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `key=value` pairs as JSON members: a value that parses as JSON (true, 5000, null) is
/// taken as such, anything else as a string.
fn settings(pairs: &[String], file: Option<&PathBuf>) -> anyhow::Result<Map<String, Value>> {
    let mut out = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            match serde_json::from_str::<Value>(&text).with_context(|| format!("{} is not JSON", path.display()))? {
                Value::Object(map) => map,
                _ => bail!("{} must hold a JSON object", path.display()),
            }
        }
        None => Map::new(),
    };
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else { bail!("--set {pair}: expected KEY=VALUE") };
        let value = match serde_json::from_str::<Value>(value) {
            Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::Null)) => v,
            _ => Value::String(value.to_owned()),
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

pub async fn streams(command: StreamCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    let request = |method: Method, path: &str, tenant: &Option<String>| {
        let r = client.request(method, path);
        match tenant {
            Some(t) => r.header("x-stele-tenant", t),
            None => r,
        }
    };
    match command {
        StreamCommand::Create { name, kind, filter, start, set, settings: file, tenant } => {
            let mut body = settings(&set, file.as_ref())?;
            body.insert("name".into(), json!(name));
            body.insert("kind".into(), json!(kind));
            if let Some(f) = filter {
                body.insert("filter".into(), json!(f));
            }
            if let Some(s) = start {
                body.insert("start".into(), json!(s));
            }
            print(&client.json(request(Method::POST, "/v1/streams", &tenant).json(&body)).await?)
        }
        StreamCommand::List { tenant } => print(&client.json(request(Method::GET, "/v1/streams", &tenant)).await?),
        StreamCommand::Status { id, tenant } => {
            print(&client.json(request(Method::GET, &format!("/v1/streams/{id}"), &tenant)).await?)
        }
        StreamCommand::Update { id, name, filter, tenant } => {
            let body = json!({"name": name, "filter": filter});
            let body: Map<String, Value> = body
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            print(&client.json(request(Method::PATCH, &format!("/v1/streams/{id}"), &tenant).json(&body)).await?)
        }
        StreamCommand::Pause { id, tenant } => {
            print(&client.json(request(Method::POST, &format!("/v1/streams/{id}/pause"), &tenant)).await?)
        }
        StreamCommand::Resume { id, tenant } => {
            print(&client.json(request(Method::POST, &format!("/v1/streams/{id}/resume"), &tenant)).await?)
        }
        StreamCommand::Delete { id, tenant } => {
            check(request(Method::DELETE, &format!("/v1/streams/{id}"), &tenant).send().await?).await?;
            eprintln!("deleted stream {id}");
            Ok(())
        }
    }
}

pub async fn retention(command: RetentionCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    match command {
        RetentionCommand::Show { tenant } => {
            print(&client.json(client.request(Method::GET, &format!("/v1/tenants/{tenant}/retention"))).await?)
        }
        RetentionCommand::Set { tenant, days } => {
            let days: Value = match days.as_str() {
                "default" => Value::Null,
                n => json!(n.parse::<u32>().with_context(|| format!("--days {n}: a number of days, or default"))?),
            };
            let path = format!("/v1/tenants/{tenant}/retention");
            print(&client.json(client.request(Method::PUT, &path).json(&json!({"days": days}))).await?)
        }
        RetentionCommand::Run { tenant } => {
            print(&client.json(client.request(Method::POST, &format!("/v1/tenants/{tenant}/retention/run"))).await?)
        }
        RetentionCommand::Hold { tenant, reason } => {
            let path = format!("/v1/tenants/{tenant}/legal-hold");
            print(&client.json(client.request(Method::PUT, &path).json(&json!({"reason": reason}))).await?)
        }
        RetentionCommand::Release { tenant } => {
            let path = format!("/v1/tenants/{tenant}/legal-hold");
            print(&client.json(client.request(Method::DELETE, &path)).await?)
        }
    }
}
