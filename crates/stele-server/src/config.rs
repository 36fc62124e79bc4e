//! The server's configuration: one typed struct, read from an optional TOML file and
//! overridden by `STELE_*` environment variables and flags (the `stele` binary merges them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stele_core::Limits;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`STELE_LISTEN`).
    pub listen: SocketAddr,
    /// Where the embedded database and generated keys live (`STELE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Database URL (`STELE_DATABASE_URL`); default: the SQLite file `stele.db` in `data_dir`.
    pub database: Option<String>,
    /// The operator key (`STELE_ADMIN_KEY`). Never read from the file: secrets stay out of
    /// config files. When unset, one is generated into `<data_dir>/admin.key`.
    #[serde(skip)]
    pub admin_key: Option<String>,
    /// The deployment secret key that seals stored secrets (`STELE_SECRET_KEY`, base64 of 32
    /// bytes; set the same on every node sharing a database). Never read from the file; when
    /// unset, one is generated into `<data_dir>/secret.key`.
    #[serde(skip)]
    pub secret_key: Option<crate::secret_key::SecretText>,
    /// Ingest limits (`[limits]` table).
    pub limits: Limits,
    /// The tree-head signing key, base64 of its 32-byte Ed25519 seed (`STELE_SIGNING_KEY`;
    /// every node sharing a PostgreSQL database needs the same one). Never read from the
    /// file. When unset, one is generated into `<data_dir>/signing.key`.
    #[serde(skip)]
    pub signing_key: Option<String>,
    /// Tamper evidence (`[integrity]` table).
    pub integrity: Integrity,
    /// Connection timeouts and the connection cap (`[server]` table).
    pub server: Server,
    /// The deadline of every store read, in milliseconds (`[store]` table).
    pub store: StoreSettings,
    /// SCIM service provider settings (`[scim]` table).
    pub scim: Scim,
    /// Failed-authentication and per-key request limits (`[rate_limits]` table).
    pub rate_limits: crate::rate::RateLimits,
    /// The web viewer: sessions and sign-in limits (`[viewer]` table).
    pub viewer: Viewer,
    /// Stream delivery (`[streams]` table).
    pub streams: Streams,
    /// Retention (`[retention]` table).
    pub retention: Retention,
}

/// Retention (`crate::retention`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Days a tenant without a policy of its own keeps its events (default: none, forever).
    pub default_days: Option<u32>,
    /// Whether this node runs the retention job (default true).
    pub enabled: bool,
    /// Seconds between runs over every tenant (default 3600).
    pub interval_seconds: u64,
    /// Most events one run expires per tenant in one transaction (default 10 000); a tenant
    /// with more gets further runs at once.
    pub max_events_per_run: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self { default_days: None, enabled: true, interval_seconds: 3600, max_events_per_run: 10_000 }
    }
}

/// Stream delivery (`crate::delivery`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Streams {
    /// Whether this node delivers streams (default true; with several nodes, each stream is
    /// delivered by one node at a time whichever nodes have it on).
    pub enabled: bool,
    /// Whether destinations may be plain `http://` URLs (default false: a tenant admin must
    /// not aim the server at plain-HTTP internal services; a lab or a test may allow it).
    pub allow_http: bool,
    /// How long a node's claim on a stream lasts before another node may take it over
    /// (default 30 s; renewed at half-time while the node delivers).
    pub lease_seconds: u64,
    /// How often a caught-up stream looks for new events, in milliseconds (default 250).
    pub poll_ms: u64,
    /// How often new, changed and removed streams are noticed, in milliseconds (default 1000).
    pub scan_ms: u64,
    /// How often a delivering stream saves its cursor, in milliseconds (default 1000): the
    /// acknowledged batches in between are saved together. A crash re-sends at most this
    /// long's deliveries (at least once); a stream saves at once when it stops or fails.
    pub cursor_save_ms: u64,
    /// Timeout of one request to a destination, in milliseconds (default 10 000).
    pub request_timeout_ms: u64,
    /// First retry delay after a failure, in milliseconds (default 1000); it doubles per
    /// failure up to `retry_cap_ms` (default 300 000), with full jitter.
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_http: false,
            lease_seconds: 30,
            poll_ms: 250,
            scan_ms: 1000,
            cursor_save_ms: 1000,
            request_timeout_ms: 10_000,
            retry_base_ms: 1000,
            retry_cap_ms: 300_000,
        }
    }
}

/// The web viewer's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Viewer {
    /// How long a session lasts from sign-in, in seconds (default 43 200: 12 h).
    pub session_ttl_seconds: u64,
    /// Sign-in attempts one account (tenant + email) may make per minute, in a burst of as
    /// many (default 10). 0 turns the limit off.
    pub login_attempts_per_account_per_minute: u32,
    /// Sign-in attempts one client IP may make per minute, in a burst of as many (default
    /// 30). 0 turns the limit off.
    pub login_attempts_per_ip_per_minute: u32,
    /// Always mark cookies `Secure` (they are anyway when a request arrives with
    /// `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// The URL people reach this server at (`https://audit.example.com`), for the links it
    /// hands out (invites, embed links, SCIM base URLs, the OpenID Connect redirect). Unset:
    /// taken from each request's `Host` and `X-Forwarded-Proto`.
    pub public_url: Option<String>,
    /// How long the read-only session an embed link opens lasts, in seconds (default 3 600).
    pub link_session_ttl_seconds: u64,
    /// Accept `http://` OpenID Connect issuers (a lab, the tests). Off: only `https`, so a
    /// tenant admin cannot point the server at plain-HTTP services.
    pub oidc_allow_http: bool,
}

impl Default for Viewer {
    fn default() -> Self {
        Self {
            session_ttl_seconds: 12 * 3600,
            login_attempts_per_account_per_minute: 10,
            login_attempts_per_ip_per_minute: 30,
            secure_cookies: false,
            public_url: None,
            link_session_ttl_seconds: 3600,
            oidc_allow_http: false,
        }
    }
}

/// How long slow or idle clients may hold a connection, and how many connections are served
/// at once (security review, issue #10 finding 4). Every value is in milliseconds except
/// `max_connections`; `0` is refused (a timeout cannot be turned off).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Longest wait for a request's complete head (request line and headers), from the moment
    /// the server is ready for a request — so also the longest an idle keep-alive HTTP/1
    /// connection stays open (default 10 000).
    pub header_read_timeout_ms: u64,
    /// A connection on which no byte moved either way while no request was being handled is
    /// closed after this long (default 60 000; covers HTTP/2 and clients that stop reading).
    pub idle_timeout_ms: u64,
    /// Longest pause while reading a request body; a body that stalls longer is answered 408
    /// and the connection closed (default 30 000).
    pub body_timeout_ms: u64,
    /// Longest time from a complete request head to the response head; a handler that takes
    /// longer is answered 503 `request-timeout` (default 60 000). A streamed body (export)
    /// may take longer once started.
    pub request_timeout_ms: u64,
    /// Most connections served at once (default 512). Further connections wait in the
    /// kernel's accept backlog until one closes: a client over the cap sees a slow connect,
    /// not an error, and the server spends nothing on it.
    pub max_connections: usize,
    /// Most bytes of ingest bodies being read, parsed or waiting for the writer at once
    /// (default 256 MiB, at least `limits.max_batch_bytes`). An ingest request that would
    /// exceed it is answered 503 `ingest-busy` with `Retry-After: 1` instead of queueing, so a
    /// flood costs bounded memory.
    pub max_inflight_ingest_bytes: usize,
    /// Most live tails (`GET /v1/events/tail`) served at once (default 64); one more is
    /// answered 503 `tail-busy` with `Retry-After: 5`. Each polls the store four times a second.
    pub max_tail_streams: usize,
    /// A live tail this many events behind its tenant's head (its client reads slower than
    /// the tenant writes, or resumed from far back) gets an `error` message and ends
    /// (default 100 000): the gap is for `/v1/events/export`.
    pub tail_max_behind: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
            request_timeout_ms: 60_000,
            max_connections: 512,
            max_inflight_ingest_bytes: 256 * 1024 * 1024,
            max_tail_streams: 64,
            tail_max_behind: 100_000,
        }
    }
}

/// Store settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Longest a store read may run, in milliseconds (default 10 000); a read that takes
    /// longer is stopped and answered 503 `query-timeout`.
    pub query_timeout_ms: u64,
    /// Largest the SQLite database may grow, in bytes (SQLite's `max_page_count`; default:
    /// unbounded). A write past it is refused like one on a full disk: 503 `storage-full`,
    /// and `/readyz` answers 503 until a write succeeds again. Ignored on PostgreSQL.
    pub sqlite_max_bytes: Option<u64>,
    /// Committed events the index may lag behind the log (default 100 000; SQLite's index
    /// file, and on PostgreSQL the postings, whose lag each node measures every 200 ms).
    /// Past it, ingest answers 503 `index-behind` with `Retry-After: 1`, so that the
    /// un-indexed tail every read scans stays bounded.
    pub sqlite_max_index_lag: u64,
    /// How long an ingest request that finds the index past `sqlite_max_index_lag` waits for
    /// it to come back within the bound before it is answered 503 `index-behind`, in
    /// milliseconds (default 1 000; 0 refuses at once; at most half of
    /// `server.request_timeout_ms`). It waits before its body is read.
    pub index_lag_wait_ms: u64,
    /// Memory all SQLite connections' page caches may hold together, in MiB (SQLite's soft
    /// heap limit; default 96). Ignored on PostgreSQL.
    pub sqlite_memory_mib: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            query_timeout_ms: 10_000,
            sqlite_max_bytes: None,
            sqlite_max_index_lag: stele_sqlite::DEFAULT_MAX_INDEX_LAG,
            index_lag_wait_ms: stele_store::DEFAULT_INDEX_LAG_WAIT.as_millis() as u64,
            sqlite_memory_mib: stele_sqlite::DEFAULT_MEMORY_BYTES / (1024 * 1024),
        }
    }
}

/// SCIM service provider settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scim {
    /// `false` stops recording SCIM requests in the tenants' logs (changes are still
    /// applied). Only for measuring what the SCIM audit log costs (`stele bench scim`): a
    /// deployment that turns it off has no SCIM audit log.
    pub log_requests: bool,
}

impl Default for Scim {
    fn default() -> Self {
        Self { log_requests: true }
    }
}

/// Tamper-evidence settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Integrity {
    /// Shortest time between two signed heads of one tenant, in milliseconds (default 500):
    /// every append is covered by a signed head within about this long.
    pub head_interval_ms: u64,
    /// `false` stores events without Merkle leaves and signs nothing. Only for measuring
    /// what integrity costs (`stele bench ingest`): a log written so cannot be verified.
    pub enabled: bool,
}

impl Default for Integrity {
    fn default() -> Self {
        Self { head_interval_ms: 500, enabled: true }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./stele-data"),
            database: None,
            admin_key: None,
            secret_key: None,
            limits: Limits::default(),
            signing_key: None,
            integrity: Integrity::default(),
            server: Server::default(),
            store: StoreSettings::default(),
            scim: Scim::default(),
            rate_limits: crate::rate::RateLimits::default(),
            viewer: Viewer::default(),
            streams: Streams::default(),
            retention: Retention::default(),
        }
    }
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("database URL {0:?}: {1}")]
    Database(String, &'static str),
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
    #[error("server.max_inflight_ingest_bytes ({0}) must be at least limits.max_batch_bytes ({1})")]
    IngestBudget(usize, usize),
}

impl Config {
    /// Reads a TOML config file; absent keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source: Box::new(source) })
    }

    /// Refuses settings that cannot work (a zero timeout or connection cap).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        let checks = [
            ("server.header_read_timeout_ms", s.header_read_timeout_ms == 0),
            ("server.idle_timeout_ms", s.idle_timeout_ms == 0),
            ("server.body_timeout_ms", s.body_timeout_ms == 0),
            ("server.request_timeout_ms", s.request_timeout_ms == 0),
            ("server.max_connections", s.max_connections == 0),
            ("store.query_timeout_ms", self.store.query_timeout_ms == 0),
            ("viewer.session_ttl_seconds", self.viewer.session_ttl_seconds == 0),
            ("viewer.link_session_ttl_seconds", self.viewer.link_session_ttl_seconds == 0),
            ("streams.lease_seconds", self.streams.lease_seconds == 0),
            ("streams.poll_ms", self.streams.poll_ms == 0),
            ("streams.scan_ms", self.streams.scan_ms == 0),
            ("streams.cursor_save_ms", self.streams.cursor_save_ms == 0),
            ("streams.request_timeout_ms", self.streams.request_timeout_ms == 0),
            ("streams.retry_base_ms", self.streams.retry_base_ms == 0),
            ("streams.retry_cap_ms", self.streams.retry_cap_ms == 0),
            ("retention.interval_seconds", self.retention.interval_seconds == 0),
            ("retention.max_events_per_run", self.retention.max_events_per_run == 0),
            ("retention.default_days", self.retention.default_days == Some(0)),
        ];
        if let Some((name, _)) = checks.into_iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Zero(name));
        }
        if s.max_inflight_ingest_bytes < self.limits.max_batch_bytes {
            return Err(ConfigError::IngestBudget(s.max_inflight_ingest_bytes, self.limits.max_batch_bytes));
        }
        Ok(())
    }

    /// How long ingest waits for the index to catch up (`store.index_lag_wait_ms`): at most
    /// half the request timeout, so that a waiting request is answered `index-behind`, not
    /// `request-timeout`.
    pub fn index_lag_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.store.index_lag_wait_ms.min(self.server.request_timeout_ms / 2))
    }

    /// Which database to open.
    pub fn database(&self) -> Result<Database, ConfigError> {
        let Some(url) = self.database.as_deref() else {
            return Ok(Database::Sqlite(self.data_dir.join("stele.db")));
        };
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(ConfigError::Database(url.to_owned(), "names no file"));
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        Err(ConfigError::Database(redact_url(url), "expected sqlite://PATH or postgres://…"))
    }
}

/// A parsed database location.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`), password included: print it
    /// with [`Database::display`], never as is.
    Postgres(String),
}

impl Database {
    /// The location for logs and messages: a PostgreSQL URL without its password.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.debug_tuple("Postgres").field(&self.display()).finish(),
        }
    }
}

/// `url` with the password of its user-info part (`scheme://user:PASSWORD@host…`) replaced
/// by `***`, and any `password=` query parameter too.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let (head, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{head}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let mut c = Config::default();
        assert_eq!(c.database().ok(), Some(Database::Sqlite(PathBuf::from("./stele-data/stele.db"))));
        c.database = Some("sqlite:///var/lib/stele.db".into());
        assert_eq!(c.database().ok(), Some(Database::Sqlite(PathBuf::from("/var/lib/stele.db"))));
        c.database = Some("postgres://stele:s3cret@db:5432/audit".into());
        let db = c.database().expect("postgres URL");
        assert_eq!(db, Database::Postgres("postgres://stele:s3cret@db:5432/audit".into()));
        assert!(!format!("{db:?} {}", db.display()).contains("s3cret"), "password never printed");
        c.database = Some("postgresql://h/audit".into());
        assert_eq!(c.database().ok(), Some(Database::Postgres("postgresql://h/audit".into())));
        c.database = Some("mysql://u:hidden@x".into());
        let err = c.database().expect_err("mysql is not supported").to_string();
        assert!(!err.contains("hidden"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:p@h:1/db"), "postgres://u:***@h:1/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p&sslmode=disable"),
            "postgres://h/db?user=u&password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://u:p%40x@h"), "postgres://u:***@h");
    }

    #[test]
    fn file_overrides_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("stele.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\n[limits]\nmax_batch_events = 10\n").expect("write");
        let c = Config::from_file(&path).expect("parses");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.max_batch_events, 10);
        assert_eq!(c.limits.max_event_bytes, Limits::default().max_event_bytes);
        std::fs::write(&path, "[server]\nmax_connections = 8\n[store]\nquery_timeout_ms = 250\n").expect("write");
        let c = Config::from_file(&path).expect("parses");
        assert_eq!((c.server.max_connections, c.store.query_timeout_ms), (8, 250));
        assert_eq!(c.server.header_read_timeout_ms, Server::default().header_read_timeout_ms);
        assert!(c.validate().is_ok());
        std::fs::write(&path, "[server]\nidle_timeout_ms = 0\n").expect("write");
        let err = Config::from_file(&path).expect("parses").validate().expect_err("zero is refused");
        assert!(err.to_string().contains("server.idle_timeout_ms"), "{err}");
        // The wait for the index is at most half the request timeout.
        std::fs::write(&path, "[server]\nrequest_timeout_ms = 1000\n[store]\nindex_lag_wait_ms = 800\n")
            .expect("write");
        assert_eq!(Config::from_file(&path).expect("parses").index_lag_wait(), std::time::Duration::from_millis(500));
        std::fs::write(&path, "[store]\nindex_lag_wait_ms = 800\n").expect("write");
        assert_eq!(Config::from_file(&path).expect("parses").index_lag_wait(), std::time::Duration::from_millis(800));
        std::fs::write(&path, "listn = \"x\"\n").expect("write");
        assert!(matches!(Config::from_file(&path), Err(ConfigError::Parse { .. })));
    }
}
