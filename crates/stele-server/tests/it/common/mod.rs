//! Shared helpers for the HTTP-level tests: a real server on port 0 over a fresh database,
//! and a few client shortcuts.
//!
//! The backend comes from `STELE_TEST_BACKEND`: `sqlite` (default; a database in the
//! server's temporary directory) or `postgres` (a fresh database `stele_h_<random hex>` on
//! the server named by `STELE_TEST_POSTGRES_URL`, which must then be set). `scripts/test`
//! runs this crate's tests once per backend.

#![allow(dead_code)]

pub mod browser;
pub mod viewer_client;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use stele_server::{Config, Running};
use tempfile::TempDir;

/// The operator key every test server is started with.
pub const OPERATOR: &str = "test-operator-key";

/// A running server, its data directory and an HTTP client.
pub struct TestApp {
    pub base: String,
    pub http: Client,
    running: Running,
    config: Config,
    // Dropped (deleted) only after the server is shut down.
    _dir: TempDir,
    _database: Option<ScratchDatabase>,
}

/// A test's PostgreSQL database, dropped when the test is done with it (a run of the suite
/// on PostgreSQL makes a few hundred; kept, they filled CI's disk). `Drop` cannot await, so
/// the drop runs on a thread of its own with its own runtime.
pub struct ScratchDatabase(String);

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let url = std::mem::take(&mut self.0);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(stele_postgres::provision::drop_database(&url))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("the test database was not dropped: {e}");
        }
    }
}

/// The backend chosen by `STELE_TEST_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("STELE_TEST_BACKEND").as_deref().map(str::trim) {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") | Ok("postgresql") => Backend::Postgres,
        Ok(other) => panic!("STELE_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// Creates an empty database `stele_h_<random hex>` on the test PostgreSQL server and
/// returns its URL.
pub async fn fresh_postgres_database() -> String {
    let url = std::env::var("STELE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("STELE_TEST_BACKEND=postgres needs STELE_TEST_POSTGRES_URL");
    stele_postgres::provision::create_database(&url, "stele_h").await.expect("create test database")
}

/// Starts a server on 127.0.0.1:0 with its own data directory and a fresh database of the
/// backend chosen by `STELE_TEST_BACKEND`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings changed by `adjust` (timeouts, limits) before the start.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = match backend() {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let _database = database.clone().map(ScratchDatabase);
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("socket address"),
        data_dir: dir.path().into(),
        database,
        admin_key: Some(OPERATOR.into()),
        ..Config::default()
    };
    let mut config = config;
    adjust(&mut config);
    let running = stele_server::start(config.clone()).await.expect("server starts");
    let base = format!("http://{}", running.addr);
    TestApp { base, http: Client::new(), running, config, _dir: dir, _database }
}

/// A tenant key: its id and secret.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    /// The server's data directory (generated keys, the SQLite database).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and starts it again on the same database with settings changed by
    /// `adjust` (it listens on a new port).
    pub async fn restart_with(self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let TestApp { running, mut config, _dir, _database, .. } = self;
        running.shutdown().await.expect("clean shutdown");
        adjust(&mut config);
        let running = stele_server::start(config.clone()).await.expect("server restarts");
        let base = format!("http://{}", running.addr);
        TestApp { base, http: Client::new(), running, config, _dir, _database }
    }

    /// Stops the server gracefully; fails the test if shutdown reports an error.
    pub async fn shutdown(self) {
        self.running.shutdown().await.expect("clean shutdown");
    }

    pub fn get(&self, path: &str, secret: &str) -> RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(secret)
    }

    /// A GET by the operator on behalf of `tenant`.
    pub fn op_get(&self, path: &str, tenant: &str) -> RequestBuilder {
        self.get(path, OPERATOR).header("x-stele-tenant", tenant)
    }

    /// POST of a JSON value (Content-Type: application/json).
    pub fn post_json(&self, path: &str, secret: &str, body: &Value) -> RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(secret).json(body)
    }

    /// PATCH of a JSON value.
    pub fn patch_json(&self, path: &str, secret: &str, body: &Value) -> RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(secret).json(body)
    }

    /// POST of raw bytes with the given Content-Type (none when `None`).
    pub fn post_raw(&self, path: &str, secret: &str, content_type: Option<&str>, body: Vec<u8>) -> RequestBuilder {
        let mut r = self.http.post(self.url(path)).bearer_auth(secret).body(body);
        if let Some(ct) = content_type {
            r = r.header(CONTENT_TYPE, ct);
        }
        r
    }

    /// Creates a tenant with aliases as the operator; panics unless 201.
    pub async fn create_tenant_with_aliases(&self, id: &str, aliases: &[&str]) -> Value {
        let body = json!({"id": id, "name": format!("Tenant {id}"), "aliases": aliases});
        let resp = self.post_json("/v1/tenants", OPERATOR, &body).send().await.expect("request sent");
        assert_eq!(resp.status(), StatusCode::CREATED, "creating tenant {id}");
        resp.json().await.expect("tenant JSON")
    }

    /// Posts one event to the Retraced profile's ingest route of `project` with `key`.
    pub async fn retraced_publish(&self, key: &str, project: &str, body: &Value) -> Response {
        self.http
            .post(self.url(&format!("/auditlog/publisher/v1/project/{project}/event")))
            .header("Authorization", format!("token={key}"))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a tenant as the operator; panics unless 201.
    pub async fn create_tenant(&self, id: &str) -> Value {
        let resp = self
            .post_json("/v1/tenants", OPERATOR, &json!({"id": id, "name": format!("Tenant {id}"), "aliases": []}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), StatusCode::CREATED, "creating tenant {id}");
        resp.json().await.expect("tenant JSON")
    }

    /// Creates a key for `tenant` as the operator; panics unless 201.
    pub async fn create_key(&self, tenant: &str, scopes: &[&str]) -> Key {
        let resp = self
            .post_json("/v1/keys", OPERATOR, &json!({"tenant": tenant, "name": "test key", "scopes": scopes}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), StatusCode::CREATED, "creating key for {tenant}");
        let body: Value = resp.json().await.expect("key JSON");
        Key {
            id: body["id"].as_str().expect("key id").to_owned(),
            secret: body["secret"].as_str().expect("key secret").to_owned(),
        }
    }

    /// Creates a SCIM connection of `tenant` as the operator: its id and token.
    pub async fn scim_connection(&self, tenant: &str) -> (String, String) {
        let path = format!("/v1/tenants/{tenant}/scim-connections");
        let resp = self.post_json(&path, OPERATOR, &json!({"name": "test IdP"})).send().await.expect("request sent");
        assert_eq!(resp.status(), StatusCode::CREATED, "creating a SCIM connection for {tenant}");
        let made: Value = resp.json().await.expect("connection JSON");
        let field = |k: &str| made[k].as_str().expect("connection field").to_owned();
        (field("id"), field("token"))
    }

    /// A tenant with a key holding events:write and events:read.
    pub async fn tenant_with_key(&self, id: &str) -> Key {
        self.create_tenant(id).await;
        self.create_key(id, &["events:write", "events:read"]).await
    }

    /// Posts one event (or batch) as JSON with `secret`.
    pub async fn ingest(&self, secret: &str, body: &Value) -> Response {
        self.post_json("/v1/events", secret, body).send().await.expect("request sent")
    }

    /// Posts one event and returns its receipt; panics unless 201.
    pub async fn ingest_ok(&self, secret: &str, body: &Value) -> Value {
        let resp = self.ingest(secret, body).await;
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert_eq!(status, StatusCode::CREATED, "ingest answered {text}");
        serde_json::from_str(&text).expect("receipt JSON")
    }

    /// Every event of `tenant`, newest first, read by the operator page by page.
    pub async fn all_events(&self, tenant: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/v1/events?limit=1000".to_owned();
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let resp = self.op_get(&path, tenant).send().await.expect("request sent");
            assert_eq!(resp.status(), StatusCode::OK, "listing {tenant}");
            let page: Value = resp.json().await.expect("page JSON");
            out.extend(page["events"].as_array().expect("events array").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }

    /// How many events `tenant`'s log holds.
    pub async fn count(&self, tenant: &str) -> usize {
        self.all_events(tenant).await.len()
    }

    /// Events of `tenant` whose action is not one Stele writes about itself.
    pub async fn user_events(&self, tenant: &str) -> Vec<Value> {
        self.all_events(tenant)
            .await
            .into_iter()
            .filter(|e| !e["action"].as_str().unwrap_or_default().starts_with("stele."))
            .collect()
    }
}

/// Checks that `resp` is an `application/problem+json` answer with `status` and type
/// `urn:stele:problem:<slug>` whose detail holds no internal text; returns the problem.
pub async fn assert_problem(resp: Response, status: StatusCode, slug: &str) -> Value {
    let got_status = resp.status();
    let headers: HeaderMap = resp.headers().clone();
    let text = resp.text().await.expect("body");
    assert_eq!(got_status, status, "status; body: {text}");
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(ct, "application/problem+json", "content type; body: {text}");
    let problem: Value = serde_json::from_str(&text).expect("problem is JSON");
    assert_eq!(problem["type"], format!("urn:stele:problem:{slug}"), "type; body: {text}");
    assert_eq!(problem["status"], status.as_u16(), "status member; body: {text}");
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "title; body: {text}");
    let detail = problem["detail"].as_str().expect("detail is a string");
    assert!(!detail.is_empty(), "empty detail");
    assert_no_internals(&text);
    problem
}

/// Fails if an answer leaks implementation details.
pub fn assert_no_internals(text: &str) {
    let lower = text.to_ascii_lowercase();
    for needle in ["rusqlite", "sqlite", "postgres", "panicked", "backtrace", ".rs:", "stele_sqlite", "stele_core"] {
        assert!(!lower.contains(needle), "answer leaks {needle:?}: {text}");
    }
    assert!(!text.contains("SQL"), "answer leaks \"SQL\": {text}");
}

/// The `detail` of a problem.
pub fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().expect("detail")
}

/// The `seq` of an event or receipt.
pub fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().expect("seq")
}

/// The `id` of an event or receipt.
pub fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

/// Reads one HTTP/1.1 response (head and Content-Length body) from a raw stream.
pub async fn read_response(mut r: impl tokio::io::AsyncRead + Unpin) -> (u16, String, String) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = r.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length").and_then(|v| v.parse().ok()).expect("content-length");
    while buf.len() < head_end + len {
        let n = r.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
    (status, header("content-type").unwrap_or_default(), body)
}

/// Sends a request over a raw connection, writing `body` (already framed) while reading the
/// answer: a server may answer 413 and stop reading before the body ends, which an ordinary
/// client reports as a broken pipe instead of the answer.
pub async fn raw_exchange(addr: &str, head: String, body: Vec<u8>) -> (u16, String, String) {
    use tokio::io::AsyncWriteExt;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (reader, mut writer) = stream.into_split();
    // The write half is kept open until the answer is read (the task returns it): a client
    // that shuts its side down mid-request is taken by hyper as having given up.
    let write = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            for part in body.chunks(64 * 1024) {
                if writer.write_all(part).await.is_err() {
                    break;
                }
            }
        }
        writer
    });
    let answer =
        tokio::time::timeout(std::time::Duration::from_secs(60), read_response(reader)).await.expect("an answer");
    write.abort();
    answer
}
