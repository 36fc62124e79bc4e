//! Runs the real `stele` binary as a child process.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const OPERATOR: &str = "test-operator-key-0123456789";

pub fn stele() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stele"))
}

/// A `stele serve` process listening on a free port.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `stele serve` on `data_dir` (SQLite in it) and waits for its "listening on" line.
    pub fn start(data_dir: &Path, operator: Option<&str>) -> Server {
        Self::start_with(data_dir, operator, None)
    }

    /// [`Server::start`] on the database at `database` (`--database`) when given.
    pub fn start_with(data_dir: &Path, operator: Option<&str>, database: Option<&str>) -> Server {
        Self::start_configured(data_dir, operator, database, None)
    }

    /// [`Server::start_with`] reading the TOML file `config` (`--config`) when given.
    pub fn start_configured(
        data_dir: &Path,
        operator: Option<&str>,
        database: Option<&str>,
        config: Option<&Path>,
    ) -> Server {
        let mut cmd = stele();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("STELE_ADMIN_KEY")
            .env_remove("STELE_DATABASE_URL")
            .env_remove("STELE_CONFIG")
            .env("STELE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(key) = operator {
            cmd.env("STELE_ADMIN_KEY", key);
        }
        if let Some(url) = database {
            cmd.arg("--database").arg(url);
        }
        if let Some(path) = config {
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd.spawn().expect("stele serve starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().expect("server printed its address").expect("readable stdout");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test PostgreSQL server (`STELE_TEST_POSTGRES_URL`), or `None` after printing why the
/// test is skipped.
pub fn postgres_server(test: &str) -> Option<String> {
    match std::env::var("STELE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("{test}: skipped: STELE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// Creates an empty database `stele_p_<random hex>` on the server at `url`; returns its URL.
pub async fn fresh_postgres_database(url: &str) -> String {
    stele_postgres::provision::create_database(url, "stele_p").await.expect("create a test database")
}

/// Creates a tenant and a read+write key with the operator key; returns the key's secret.
pub async fn tenant_with_key(url: &str, tenant: &str) -> String {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/v1/tenants"))
        .bearer_auth(OPERATOR)
        .json(&json!({"id": tenant, "name": tenant}))
        .send()
        .await
        .expect("tenant request");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let key: Value = http
        .post(format!("{url}/v1/keys"))
        .bearer_auth(OPERATOR)
        .json(&json!({"tenant": tenant, "name": "test", "scopes": ["events:write", "events:read", "events:export"]}))
        .send()
        .await
        .expect("key request")
        .json()
        .await
        .expect("key json");
    key["secret"].as_str().expect("secret").to_owned()
}

/// Appends `events` as one batch with `key`; panics unless 201.
pub async fn post_events(url: &str, key: &str, events: Vec<Value>) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/events"))
        .bearer_auth(key)
        .json(&json!({ "events": events }))
        .send()
        .await
        .expect("ingest request");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// Waits (the server long-polls) for a signed head covering `size` events; returns it.
pub async fn wait_for_head(url: &str, key: &str, size: u64) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/integrity/head?min_size={size}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("head request");
    assert_eq!(r.status(), 200);
    r.json().await.expect("head json")
}

/// `stele verify --server` as a monitor keeping its state in `state`.
pub fn monitor(url: &str, key: &str, state: &Path, samples: u32) -> std::process::Output {
    stele()
        .args(["verify", "--server", url, "--key", key, "--samples", &samples.to_string(), "--state"])
        .arg(state)
        .output()
        .expect("stele verify runs")
}

/// A process's stdout and stderr as one text.
pub fn output_text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `GET /v1/events/count` of the tenant.
pub async fn count(url: &str, key: &str) -> u64 {
    let r = reqwest::Client::new().get(format!("{url}/v1/events/count")).bearer_auth(key).send().await.expect("count");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("count json");
    body["count"].as_u64().expect("count is a number")
}

/// Every event of the tenant, oldest first, by walking cursors.
pub async fn all_events(url: &str, key: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("limit", "1000".to_owned()), ("sort", "time".to_owned())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let page: Value = http
            .get(format!("{url}/v1/events"))
            .bearer_auth(key)
            .query(&q)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        out.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// What a client sent and what the server acknowledged for it.
pub type Acked = std::sync::Arc<tokio::sync::Mutex<std::collections::HashMap<String, (u64, Value)>>>;

/// Starts `clients` writers that send batches of 5 until their requests start failing;
/// each acknowledged event is recorded. Returns a channel that ticks per acknowledged batch.
pub fn load(url: &str, key: &str, clients: usize, acked: Acked) -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tick, ticks) = tokio::sync::mpsc::unbounded_channel();
    for client in 0..clients {
        let (url, key, acked, tick) = (url.to_owned(), key.to_owned(), acked.clone(), tick.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for round in 0.. {
                let events: Vec<Value> = (0..5)
                    .map(|i| {
                        json!({"action": "load.write", "message": format!("c{client} r{round} i{i}"),
                               "metadata": {"client": client, "round": round, "i": i}})
                    })
                    .collect();
                let sent = http
                    .post(format!("{url}/v1/events"))
                    .bearer_auth(&key)
                    .json(&json!({ "events": events }))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != 201 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else { return };
                let mut map = acked.lock().await;
                for (receipt, event) in body["events"].as_array().into_iter().flatten().zip(&events) {
                    let id = receipt["id"].as_str().unwrap_or_default().to_owned();
                    map.insert(id, (receipt["seq"].as_u64().unwrap_or(0), event.clone()));
                }
                drop(map);
                if tick.send(()).is_err() {
                    return;
                }
            }
        });
    }
    ticks
}

/// Runs `stele verify <args> <path>` off the async threads.
pub async fn verify(args: &[&str], path: &std::path::Path) -> std::process::Output {
    let mut cmd = stele();
    cmd.arg("verify").args(args).arg(path);
    tokio::task::spawn_blocking(move || cmd.output().expect("stele verify runs")).await.expect("joined")
}

/// Exports the whole log of `key`'s tenant into `dir` and checks it with `stele verify
/// --export` against the server's public key (fails the test otherwise).
pub async fn export_verifies_offline(url: &str, key: &str, dir: &Path) {
    let http = reqwest::Client::new();
    let export = http.get(format!("{url}/v1/events/export")).bearer_auth(key).send().await.expect("export");
    let file = dir.join("export.ndjson");
    std::fs::write(&file, export.text().await.expect("export body")).expect("write export");
    let key_json = http.get(format!("{url}/v1/integrity/key")).bearer_auth(key).send().await.expect("key");
    let public: Value = key_json.json().await.expect("key json");
    let public = public["public_key"].as_str().expect("public key").to_owned();
    let offline = verify(&["--public-key", &public, "--export"], &file).await;
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
}
