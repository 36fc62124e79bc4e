//! `stele verify`: check an NDJSON export offline against a trusted public key, or act as a
//! monitor of a live server (its latest head must be consistent with the last one seen, and
//! randomly chosen events must prove their inclusion). Exits non-zero naming what failed.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stele_core::integrity::{
    served_leaf, verify_consistency, verify_inclusion, Frontier, Hash, HeadKey, LeafError, SignedTreeHead,
};

use crate::client::Client;
use crate::Remote;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Verify this NDJSON export (from `GET /v1/events/export`) instead of a live server.
    #[arg(long)]
    export: Option<PathBuf>,
    /// The trusted public key: base64, or a file holding it (or the JSON of /v1/integrity/key).
    /// Required with --export; a monitor pins the server's key in its state file otherwise.
    #[arg(long)]
    public_key: Option<String>,
    /// Monitor state: the last head seen (created on the first run).
    #[arg(long, default_value = "stele-monitor.json")]
    state: PathBuf,
    /// Events whose inclusion the monitor checks, chosen at random (all of them when the
    /// log has no more).
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// The tenant, when the key is the operator key.
    #[arg(long)]
    tenant: Option<String>,
}

pub async fn run(args: VerifyArgs, remote: &Remote) -> anyhow::Result<()> {
    match &args.export {
        Some(path) => {
            let key = args.public_key.as_deref().ok_or_else(|| anyhow!("--export needs --public-key"))?;
            verify_export(path, &load_key(key)?)
        }
        None => monitor(&args, remote).await,
    }
}

fn load_key(text: &str) -> anyhow::Result<HeadKey> {
    let content = if Path::new(text).is_file() { std::fs::read_to_string(text)? } else { text.to_owned() };
    let raw = match serde_json::from_str::<Value>(&content) {
        Ok(Value::Object(o)) => o.get("public_key").and_then(Value::as_str).unwrap_or_default().to_owned(),
        _ => content.trim().to_owned(),
    };
    HeadKey::from_base64(&raw).map_err(|e| anyhow!("public key: {e}"))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} ({{eta}})")) {
        bar.set_style(style);
    }
    bar
}

/// What an export line's event hashes to: its content's leaf, or, for a tombstone, the leaf
/// hash it kept.
fn leaf_of(event: &Value) -> Result<(Hash, bool), String> {
    let stated = event.get("hash").and_then(Value::as_str).and_then(|h| Hash::from_hex(h).ok());
    match served_leaf(event) {
        Ok(leaf) if stated == Some(leaf) => Ok((leaf, false)),
        Ok(_) => Err("does not hash to its leaf: its content was changed".into()),
        Err(LeafError::Redacted) => stated.map(|h| (h, true)).ok_or_else(|| "tombstone without a hash".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn verify_export(path: &Path, key: &HeadKey) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = bar(size, "verifying");
    let mut lines = std::io::BufReader::new(bar.wrap_read(file)).lines();
    let first: Value = serde_json::from_str(&lines.next().ok_or_else(|| anyhow!("the export is empty"))??)
        .context("line 1 is not the export header")?;
    let complete = first["complete"].as_bool().unwrap_or(false);
    let head: Option<SignedTreeHead> = serde_json::from_value(first["head"].clone()).context("line 1: head")?;
    let mut failures: Vec<String> = Vec::new();
    let Some(head) = head else {
        bail!("the export has no signed head (the log was empty or not yet signed)");
    };
    if let Err(e) = key.verify(&head) {
        bail!("the export's head (size {}) is not signed by this key: {e}", head.head.size);
    }
    let mut frontier = Frontier::new();
    let (mut count, mut redacted) = (0u64, Vec::new());
    let mut redaction_targets: HashSet<String> = HashSet::new();
    // Seq ranges that `stele.retention.applied` events say retention turned into tombstones.
    let mut expired: Vec<(u64, u64)> = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line?;
        let event: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("line {}: not JSON: {e}", i + 2));
                continue;
            }
        };
        count += 1;
        let seq = event["seq"].as_u64().unwrap_or(0);
        if complete && seq != count {
            failures.push(format!("seq {seq}: expected seq {count} (an event is missing or out of place)"));
        }
        if event["action"] == "stele.retention.applied" {
            for r in event["metadata"]["seqs"].as_array().into_iter().flatten() {
                if let (Some(a), Some(b)) = (r[0].as_u64(), r[1].as_u64()) {
                    expired.push((a, b));
                }
            }
        }
        if event["action"] == "stele.event.redacted" {
            if let Some(id) = event["targets"][0]["id"].as_str() {
                redaction_targets.insert(id.to_owned());
            }
        }
        let (leaf, is_tombstone) = match leaf_of(&event) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("seq {seq}: {e}"));
                continue;
            }
        };
        if is_tombstone {
            redacted.push((seq, event["id"].as_str().unwrap_or_default().to_owned()));
        }
        if complete {
            frontier.push(leaf, |_, _| {});
        } else {
            let proof: Vec<Hash> = serde_json::from_value(event["proof"].clone()).unwrap_or_default();
            if seq == 0 || verify_inclusion(seq - 1, head.head.size, &leaf, &proof, &head.head.root).is_err() {
                failures.push(format!("seq {seq}: not included in the signed head of size {}", head.head.size));
            }
        }
    }
    bar.finish_and_clear();
    if complete {
        if frontier.size() != head.head.size {
            failures.push(format!("the export holds {} events, the signed head {}", frontier.size(), head.head.size));
        } else if frontier.root() != head.head.root {
            failures
                .push("the events do not rebuild the signed root: events were changed, removed or reordered".into());
        }
        for (seq, id) in &redacted {
            let by_retention = expired.iter().any(|(a, b)| a <= seq && seq <= b);
            if !redaction_targets.contains(id) && !by_retention {
                failures.push(format!(
                    "seq {seq}: a tombstone without a stele.event.redacted or stele.retention.applied event"
                ));
            }
        }
    }
    report(failures)?;
    println!(
        "OK: {count} events ({} redacted) verify against the head of size {} root {} signed by key {} at {}",
        redacted.len(),
        head.head.size,
        head.head.root,
        head.key_id,
        head.head.time
    );
    Ok(())
}

fn report(failures: Vec<String>) -> anyhow::Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    for f in failures.iter().take(50) {
        eprintln!("FAILED {f}");
    }
    bail!("verification failed: {} problem(s); first: {}", failures.len(), failures[0])
}

/// What a monitor remembers between runs.
#[derive(Debug, Serialize, Deserialize)]
struct MonitorState {
    server: String,
    tenant: Option<String>,
    public_key: String,
    head: Option<SignedTreeHead>,
}

async fn monitor(args: &VerifyArgs, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    let get = |path: String| {
        let mut r = client.request(Method::GET, &path);
        if let Some(t) = &args.tenant {
            r = r.header("x-stele-tenant", t);
        }
        r
    };
    let saved: Option<MonitorState> = match std::fs::read_to_string(&args.state) {
        Ok(text) => Some(serde_json::from_str(&text).with_context(|| format!("state file {}", args.state.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context(format!("state file {}", args.state.display())),
    };
    if let Some(s) = &saved {
        if s.tenant != args.tenant {
            bail!("{} is the state of tenant {:?}; use another --state", args.state.display(), s.tenant);
        }
        if s.server != remote.server {
            // The pinned key, not the address, identifies the log; a moved server is fine.
            eprintln!("note: {} was last checked at {}", args.state.display(), s.server);
        }
    }
    let key = match (&args.public_key, &saved) {
        (Some(k), _) => load_key(k)?,
        (None, Some(s)) => load_key(&s.public_key)?,
        (None, None) => {
            let served = client.json(get("/v1/integrity/key".into())).await?;
            eprintln!("warning: trusting the server's public key on first use; pass --public-key to pin one");
            load_key(&served.to_string())?
        }
    };
    let latest: SignedTreeHead = serde_json::from_value(client.json(get("/v1/integrity/head".into())).await?)?;
    key.verify(&latest)
        .map_err(|e| anyhow!("the latest head (size {}) is not signed by the key: {e}", latest.head.size))?;
    let mut failures = Vec::new();
    if let Some(old) = saved.as_ref().and_then(|s| s.head.as_ref()) {
        if latest.head.size < old.head.size {
            failures.push(format!(
                "the log shrank: the saved head has {} events, the server's latest {}: events {}..={} are missing \
                 (deleted, or the server was restored from a backup older than them)",
                old.head.size,
                latest.head.size,
                latest.head.size + 1,
                old.head.size
            ));
        } else {
            let path = format!("/v1/integrity/consistency?from={}&to={}", old.head.size, latest.head.size);
            let proof = client.json(get(path)).await?;
            let hashes: Vec<Hash> = serde_json::from_value(proof["proof"].clone()).unwrap_or_default();
            if verify_consistency(old.head.size, latest.head.size, &old.head.root, &latest.head.root, &hashes).is_err()
            {
                failures.push(format!(
                    "the head of size {} is not consistent with the saved head of size {}: the log was rewritten",
                    latest.head.size, old.head.size
                ));
            }
        }
    }
    // Random events; every event when there are no more than --samples.
    let samples = args.samples.min(latest.head.size as usize);
    let seqs: Vec<u64> = if samples as u64 == latest.head.size {
        (1..=latest.head.size).collect()
    } else {
        let mut rng = rand::thread_rng();
        (0..samples).map(|_| rng.gen_range(1..=latest.head.size)).collect()
    };
    let bar = bar(samples as u64, "spot-checking");
    for seq in seqs {
        if let Err(e) = spot_check(&client, &get, &latest, seq).await {
            failures.push(format!("seq {seq}: {e}"));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    report(failures)?;
    let state = MonitorState {
        server: remote.server.clone(),
        tenant: args.tenant.clone(),
        public_key: key.to_base64(),
        head: Some(latest.clone()),
    };
    std::fs::write(&args.state, serde_json::to_string_pretty(&state)?)?;
    println!(
        "OK: head of size {} root {} is signed, consistent with the last head seen, and {samples} sampled events prove their inclusion",
        latest.head.size, latest.head.root
    );
    Ok(())
}

async fn spot_check(
    client: &Client,
    get: &impl Fn(String) -> reqwest::RequestBuilder,
    head: &SignedTreeHead,
    seq: u64,
) -> anyhow::Result<()> {
    let page = client.json(get(format!("/v1/events?filter=seq%20eq%20{seq}"))).await?;
    let event = page["events"].get(0).cloned().ok_or_else(|| anyhow!("the server does not return this event"))?;
    let (leaf, _) = leaf_of(&event).map_err(|e| anyhow!(e))?;
    let id = event["id"].as_str().unwrap_or_default();
    let proof = client.json(get(format!("/v1/events/{id}/proof?size={}", head.head.size))).await?;
    let hashes: Vec<Hash> = serde_json::from_value(proof["proof"].clone()).unwrap_or_default();
    verify_inclusion(seq - 1, head.head.size, &leaf, &hashes, &head.head.root)
        .map_err(|e| anyhow!("not included in the signed head of size {}: {e}", head.head.size))
}
