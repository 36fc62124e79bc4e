//! `stele`: the server (`serve`) and a thin HTTP client for everything else.

mod allocator;
mod client;
mod commands;

/// jemalloc (see [`allocator`]) instead of glibc's malloc. An allocator of its own was
/// first chosen for speed: allocation and freeing were about a fifth of the server's CPU per
/// single-event request under glibc (issue #13 item 3), and mimalloc gave batches +15% and
/// single events +10% events/s. jemalloc replaced mimalloc for memory: at the same CPU, it
/// returns freed memory after 100 ms and serves SQLite's page caches too (its `malloc` is
/// the process's), which cut the ingest benchmark's peak RSS by a third.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "stele", version, about = "Tamper-evident, multi-tenant audit log service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a client command finds the server and its credential.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// Base URL of the Stele server.
    #[arg(long, env = "STELE_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
    pub server: String,
    /// API key (default: the operator key in <data-dir>/admin.key, if readable).
    #[arg(long, env = "STELE_KEY", hide_env_values = true, global = true)]
    pub key: Option<String>,
    /// Data directory whose admin.key is used when no key is given.
    #[arg(long = "key-data-dir", env = "STELE_DATA_DIR", default_value = "./stele-data", global = true, hide = true)]
    pub data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Bring the configured database to the current schema version, then exit.
    Migrate(MigrateArgs),
    /// Copy a running SQLite deployment's database into a file (online, consistent).
    Backup(BackupArgs),
    /// Put a backup in place of the database (stop the server first).
    Restore(RestoreArgs),
    /// Rebuild the index from the log: a SQLite deployment's index file (with the server
    /// stopped; `serve` also rebuilds a missing one in the background), or PostgreSQL's
    /// postings (servers may keep running; ingest may answer `index-behind` meanwhile).
    Reindex(MigrateArgs),
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: commands::admin::TenantCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: commands::admin::KeyCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage a tenant's members (the people who sign in to the viewer).
    Members {
        #[command(subcommand)]
        command: commands::directory::MemberCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make a single-use link that opens a read-only viewer session (needs a tenant key
    /// with events:read; the session sees the key's view AND --filter).
    ViewerLink {
        /// Narrow what the session sees (the filter language).
        #[arg(long)]
        filter: Option<String>,
        /// Seconds the link may wait to be opened (10–900, default 900).
        #[arg(long)]
        ttl_seconds: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage a tenant's groups (and the role each gives its members).
    Groups {
        #[command(subcommand)]
        command: commands::directory::GroupCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage a tenant's SCIM connections (an identity provider's way in).
    ScimConnections {
        #[command(subcommand)]
        command: commands::directory::ScimConnectionCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Manage streams of the log to SIEMs and archives (webhook, Splunk HEC, Datadog,
    /// syslog, S3).
    Streams {
        #[command(subcommand)]
        command: commands::streams::StreamCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// A tenant's retention period and legal hold.
    Retention {
        #[command(subcommand)]
        command: commands::streams::RetentionCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Send events from a JSON or NDJSON file (or - for stdin).
    Send {
        #[command(flatten)]
        args: commands::send::SendArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print one event.
    Get {
        /// Event id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List events, newest first, as NDJSON.
    List {
        #[command(flatten)]
        args: commands::list::ListArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Follow the log live as NDJSON (resumes by itself after a disconnect, without gaps).
    Tail {
        #[command(flatten)]
        args: commands::tail::TailArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Filter, search and sort events (table, json, ndjson or csv).
    Query {
        #[command(flatten)]
        args: commands::query::QueryArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Verify an export offline, or monitor a server's signed heads (exit 1 naming what failed).
    Verify {
        #[command(flatten)]
        args: commands::verify::VerifyArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: commands::bench::BenchCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file (flags and STELE_* variables override it).
    #[arg(long, env = "STELE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "STELE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory [default: ./stele-data].
    #[arg(long, env = "STELE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL [default: sqlite://<data-dir>/stele.db].
    #[arg(long, env = "STELE_DATABASE_URL")]
    database: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "STELE_LOG_JSON")]
    log_json: bool,
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// TOML config file (flags and STELE_* variables override it).
    #[arg(long, env = "STELE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./stele-data].
    #[arg(long, env = "STELE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL [default: sqlite://<data-dir>/stele.db].
    #[arg(long, env = "STELE_DATABASE_URL")]
    database: Option<String>,
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The file to write (must not exist).
    #[arg(long)]
    to: PathBuf,
    #[command(flatten)]
    location: MigrateArgs,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    from: PathBuf,
    /// Replace an existing database.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    location: MigrateArgs,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STELE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    allocator::tune();
    let cli = Cli::parse();
    // Blocking work left on tokio's pool (parsing large ingest bodies, password hashing,
    // joins at shutdown) is bounded: past this many threads it queues instead of growing
    // the pool (the default cap is 512). Store reads have threads of their own.
    let runtime = tokio::runtime::Builder::new_multi_thread().max_blocking_threads(32).enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Backup(args) => {
                let l = args.location;
                let config = base_config(l.config.as_deref(), l.data_dir, l.database)?;
                commands::backup::backup(&config.database()?, &args.to, &config.data_dir)
            }
            Command::Restore(args) => {
                let l = args.location;
                let config = base_config(l.config.as_deref(), l.data_dir, l.database)?;
                commands::backup::restore(&config.database()?, &args.from, args.force)
            }
            Command::Reindex(l) => {
                let config = base_config(l.config.as_deref(), l.data_dir, l.database)?;
                commands::backup::reindex(&config.database()?).await
            }
            Command::Tenants { command, remote } => commands::admin::tenants(command, &remote).await,
            Command::Keys { command, remote } => commands::admin::keys(command, &remote).await,
            Command::Members { command, remote } => commands::directory::members(command, &remote).await,
            Command::ViewerLink { filter, ttl_seconds, remote } => {
                commands::directory::viewer_link(filter, ttl_seconds, &remote).await
            }
            Command::Groups { command, remote } => commands::directory::groups(command, &remote).await,
            Command::ScimConnections { command, remote } => {
                commands::directory::scim_connections(command, &remote).await
            }
            Command::Streams { command, remote } => commands::streams::streams(command, &remote).await,
            Command::Retention { command, remote } => commands::streams::retention(command, &remote).await,
            Command::Send { args, remote } => commands::send::run(args, &remote).await,
            Command::Get { id, remote } => commands::list::get(&id, &remote).await,
            Command::List { args, remote } => commands::list::run(args, &remote).await,
            Command::Query { args, remote } => commands::query::run(args, &remote).await,
            Command::Tail { args, remote } => commands::tail::run(args, &remote).await,
            Command::Verify { args, remote } => commands::verify::run(args, &remote).await,
            Command::Bench { command } => {
                init_logging(false);
                commands::bench::run(command).await
            }
        }
    })
}

/// Turns transparent huge pages off for the server process (`prctl(PR_SET_THP_DISABLE)`):
/// with them, a few live kilobytes of an allocator's page could keep 2 MiB resident. Under
/// `stele bench ingest --server` (100 000 batched and 20 000 single events, two alternated
/// rounds, session 21, then with mimalloc) the server's peak RSS was 187–193 MiB with them
/// and 156–169 MiB without, at the same events/s.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::warn!(error = %e, "could not turn transparent huge pages off; memory use may be higher");
    }
}

/// The config file (if any) with the data directory and database flags applied.
fn base_config(
    file: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
) -> anyhow::Result<stele_server::Config> {
    let mut config = match file {
        Some(path) => stele_server::Config::from_file(path)?,
        None => stele_server::Config::default(),
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    if let Some(db) = database {
        config.database = Some(db);
    }
    Ok(config)
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    init_logging(false);
    let config = base_config(args.config.as_deref(), args.data_dir, args.database)?;
    let (database, version) = stele_server::migrate(&config).await?;
    println!("{database}: schema version {version}");
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    without_huge_pages();
    let mut config = base_config(args.config.as_deref(), args.data_dir, args.database)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.admin_key = std::env::var("STELE_ADMIN_KEY").ok().filter(|k| !k.trim().is_empty());
    config.signing_key = std::env::var("STELE_SIGNING_KEY").ok().filter(|k| !k.trim().is_empty());
    config.secret_key = std::env::var("STELE_SECRET_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .map(stele_server::secret_key::SecretText::new);
    let running = stele_server::start(config).await?;
    match &running.admin_key {
        stele_server::AdminKey::Configured => println!("operator key: from STELE_ADMIN_KEY"),
        stele_server::AdminKey::File(p) => println!("operator key: {}", p.display()),
        stele_server::AdminKey::Generated(p) => println!("operator key: generated into {} (mode 0600)", p.display()),
    }
    println!("listening on http://{}", running.addr);
    running.run_until_signal().await?;
    Ok(())
}
