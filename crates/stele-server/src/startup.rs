//! Starting and stopping a server: open the store, settle the operator key, bind, serve,
//! and shut down gracefully (in-flight requests finish, queued writes are committed).

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stele_core::{KeySecret, SecretHash};
use stele_postgres::PostgresStore;
use stele_sqlite::{SqliteOptions, SqliteStore};
use stele_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{redact_url, Config, ConfigError, Database};
use crate::secret_key::SecretKey;
use crate::state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Sqlite(#[from] stele_sqlite::OpenError),
    /// Connecting to or migrating the PostgreSQL database failed (the message names the
    /// database without its password).
    #[error("cannot open the PostgreSQL database {database}")]
    Postgres { database: String, source: stele_postgres::ConnectError },
    #[error("operator key file {path}: {source}")]
    AdminKey { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    SigningKey(#[from] crate::integrity::SigningKeyError),
    #[error("STELE_SECRET_KEY: {0}")]
    SecretKey(crate::secret_key::BadSecretKey),
    #[error("secret key file {path}: {message}")]
    SecretKeyFile { path: PathBuf, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Where the operator key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminKey {
    /// `STELE_ADMIN_KEY` (or the config) set it.
    Configured,
    /// Read from this file, written on an earlier start.
    File(PathBuf),
    /// Generated now and written to this file (mode 0600).
    Generated(PathBuf),
}

/// Opens the configured store (migrating its schema). Must run inside the Tokio runtime.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let database = config.database()?;
    tracing::info!(database = %database.display(), "opening the store");
    let timeout = std::time::Duration::from_millis(config.store.query_timeout_ms);
    match database {
        Database::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent)?;
            }
            let options = SqliteOptions {
                max_bytes: config.store.sqlite_max_bytes,
                max_index_lag: config.store.sqlite_max_index_lag,
                index_lag_wait: config.index_lag_wait(),
                memory_bytes: config.store.sqlite_memory_mib.saturating_mul(1024 * 1024),
                ..SqliteOptions::default()
            };
            Ok(Arc::new(SqliteStore::open_with(&path, options)?.with_query_timeout(timeout)))
        }
        Database::Postgres(url) => {
            let options = stele_postgres::PostgresOptions {
                query_timeout: timeout,
                max_index_lag: config.store.sqlite_max_index_lag,
                index_lag_wait: config.index_lag_wait(),
                ..stele_postgres::PostgresOptions::default()
            };
            match PostgresStore::connect_with_options(&url, options).await {
                Ok(store) => Ok(Arc::new(store)),
                Err(source) => Err(StartError::Postgres { database: redact_url(&url), source }),
            }
        }
    }
}

/// The schema version of the configured database after opening (and so migrating) it:
/// what `stele migrate` reports. The store is closed again before returning.
pub async fn migrate(config: &Config) -> Result<(String, usize), StartError> {
    let database = config.database()?;
    let store = open_store(config).await?;
    store.close().await;
    let version = match database {
        Database::Sqlite(_) => stele_sqlite::schema::latest_version(),
        Database::Postgres(_) => stele_postgres::schema::latest_version(),
    };
    Ok((database.display(), version))
}

fn create_private_dir(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StartError::DataDir { path: path.to_owned(), source })
}

/// This node's name in stream leases: kept in `<data_dir>/node.id`, so a node restarted after
/// a crash takes its own streams back at once instead of waiting for its old leases to run
/// out. (Nodes sharing a PostgreSQL database have data directories of their own.)
fn settle_node_id(config: &Config) -> String {
    let path = config.data_dir.join("node.id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return id.to_owned();
        }
    }
    let id = format!("node-{}", uuid::Uuid::now_v7().simple());
    if let Err(e) = std::fs::write(&path, format!("{id}\n")) {
        tracing::warn!(path = %path.display(), error = %e, "cannot keep this node's id; streams wait for their leases after a restart");
    }
    id
}

/// The operator key's hash, and where the key came from.
fn settle_admin_key(config: &Config) -> Result<(SecretHash, AdminKey), StartError> {
    if let Some(key) = config.admin_key.as_deref().filter(|k| !k.trim().is_empty()) {
        return Ok((SecretHash::of(key.trim()), AdminKey::Configured));
    }
    create_private_dir(&config.data_dir)?;
    let path = config.data_dir.join("admin.key");
    let err = |source| StartError::AdminKey { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((SecretHash::of(text.trim()), AdminKey::File(path))),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let secret = KeySecret::generate_operator();
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).map_err(err)?;
    file.write_all(format!("{}\n", secret.expose()).as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok((secret.hash(), AdminKey::Generated(path)))
}

/// The deployment secret key: `STELE_SECRET_KEY`, else `<data_dir>/secret.key`, generated
/// (mode 0600) on first start.
fn settle_secret_key(config: &Config) -> Result<SecretKey, StartError> {
    if let Some(text) = config.secret_key.as_ref().filter(|k| !k.expose().trim().is_empty()) {
        return SecretKey::from_base64(text.expose()).map_err(StartError::SecretKey);
    }
    create_private_dir(&config.data_dir)?;
    let path = config.data_dir.join("secret.key");
    let err = |message: String| StartError::SecretKeyFile { path: path.clone(), message };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return SecretKey::from_base64(&text).map_err(|e| err(e.to_string())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let key = SecretKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| err(e.to_string()))?;
    file.write_all(format!("{}\n", key.to_base64()).as_bytes()).map_err(|e| err(e.to_string()))?;
    file.sync_all().map_err(|e| err(e.to_string()))?;
    if matches!(config.database(), Ok(Database::Postgres(_))) {
        tracing::warn!(
            path = %path.display(),
            "generated a secret key for this node; nodes sharing a database need the same STELE_SECRET_KEY"
        );
    }
    Ok(key)
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_key: AdminKey,
    store: Arc<dyn Store>,
    signer: Option<crate::integrity::SignerHandle>,
    delivery: Option<crate::delivery::DeliveryHandle>,
    retention: Option<crate::retention::RetentionHandle>,
    stop: Option<oneshot::Sender<()>>,
    state: AppState,
    task: JoinHandle<std::io::Result<()>>,
}

/// Opens the store, binds `config.listen` and starts serving in the background.
pub async fn start(config: Config) -> Result<Running, StartError> {
    crate::metrics::install();
    config.validate()?;
    let (operator, admin_key) = settle_admin_key(&config)?;
    let secrets = settle_secret_key(&config)?;
    create_private_dir(&config.data_dir)?;
    let key = Arc::new(crate::integrity::settle_signing_key(config.signing_key.as_deref(), &config.data_dir)?);
    let store = open_store(&config).await?;
    let enabled = config.integrity.enabled;
    let state = AppState::new(store.clone(), operator, config.limits.clone(), secrets, key.clone(), enabled)
        .configured(&config);
    let interval = std::time::Duration::from_millis(config.integrity.head_interval_ms);
    let signed = state.heads_signed.clone();
    let signer = enabled.then(|| crate::integrity::spawn_signer(store.clone(), key, interval, signed));
    let delivery = config.streams.enabled.then(|| {
        crate::delivery::spawn(
            state.clone(),
            crate::delivery::Settings::from_config(&config.streams, settle_node_id(&config)),
        )
    });
    let retention = config.retention.enabled.then(|| {
        crate::retention::spawn(state.clone(), std::time::Duration::from_secs(config.retention.interval_seconds))
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = crate::app(state.clone());
    let (settings, unread_limit) = (config.server.clone(), config.limits.max_batch_bytes);
    let task = tokio::spawn(async move {
        crate::serve::serve(listener, app, settings, unread_limit, async {
            let _ = stopped.await;
        })
        .await
    });
    tracing::info!(%addr, "listening");
    Ok(Running { addr, admin_key, store, signer, delivery, retention, stop: Some(stop), state, task })
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, then commits every
    /// queued write and closes the store.
    pub async fn shutdown(mut self) -> Result<(), StartError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Live tails never end by themselves: tell them, so the connections can close.
        self.state.stopping.send_replace(true);
        let served = (&mut self.task).await;
        if let Some(delivery) = self.delivery.take() {
            delivery.stop().await;
        }
        if let Some(retention) = self.retention.take() {
            retention.stop().await;
        }
        if let Some(signer) = self.signer.take() {
            signer.stop().await;
        }
        self.store.close().await;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StartError::Serve(e)),
            Err(e) => Err(StartError::Serve(std::io::Error::other(e))),
        }
    }

    /// Serves until SIGTERM or ctrl-c, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<(), StartError> {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(StartError::Serve)?;
        tokio::select! {
            _ = ctrl_c => tracing::info!("interrupted; shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM; shutting down"),
        }
        self.shutdown().await
    }
}
