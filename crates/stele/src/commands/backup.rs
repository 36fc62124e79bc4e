//! `stele backup`, `stele restore` and `stele reindex` for a SQLite deployment (PostgreSQL
//! has its own backup tools: the README gives the procedure), and `stele reindex` for
//! PostgreSQL's postings.

use std::path::{Path, PathBuf};

use anyhow::bail;
use stele_server::Database;

fn print_summary(what: &str, path: &Path, s: &stele_sqlite::backup::Summary) {
    println!("{what} {} ({} bytes):", path.display(), s.bytes);
    for (tenant, size) in &s.tenants {
        println!("  {tenant}: {size} events");
    }
}

/// The SQLite file of the configured database, or why there is none.
fn sqlite_path(database: &Database) -> anyhow::Result<PathBuf> {
    match database {
        Database::Sqlite(path) => Ok(path.clone()),
        Database::Postgres(_) => bail!(
            "the database is PostgreSQL: back it up with pg_dump (or continuous archiving) as the README describes"
        ),
    }
}

pub fn backup(database: &Database, to: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let db = sqlite_path(database)?;
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!("copying {}", db.display()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let summary = stele_sqlite::backup::backup(&db, to);
    spinner.finish_and_clear();
    print_summary("backed up into", to, &summary?);
    eprintln!(
        "keep the key files of {} too (secret.key, signing.key, admin.key): they do not change, and a restore needs them",
        data_dir.display()
    );
    Ok(())
}

pub fn restore(database: &Database, from: &Path, force: bool) -> anyhow::Result<()> {
    let db = sqlite_path(database)?;
    let summary = stele_sqlite::backup::restore(from, &db, force)?;
    print_summary("restored into", &db, &summary);
    eprintln!(
        "events appended after the backup are not in it: `stele verify --server … --state …` reports them as missing"
    );
    Ok(())
}

/// Rebuilds PostgreSQL's postings from the rows (with no background indexer of this process
/// running; other nodes' indexers wait for the tenants' index locks).
async fn reindex_postgres(url: &str) -> anyhow::Result<()> {
    let options = stele_postgres::PostgresOptions { index: stele_postgres::IndexMode::Never, ..Default::default() };
    let store =
        stele_postgres::PostgresStore::connect_with_options(url, options).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let spinner = indicatif::ProgressBar::new_spinner().with_message("reindexing the PostgreSQL database");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let done = store.reindex().await;
    spinner.finish_and_clear();
    stele_store::Store::close(&store).await;
    done?;
    println!("reindexed the PostgreSQL database");
    Ok(())
}

/// Rebuilds the SQLite index file from the log (the server must be stopped), or PostgreSQL's
/// postings (`stele reindex`).
pub async fn reindex(database: &Database) -> anyhow::Result<()> {
    let db = match database {
        Database::Sqlite(path) => path.clone(),
        Database::Postgres(url) => return reindex_postgres(url).await,
    };
    if !db.exists() {
        bail!("{} does not exist", db.display());
    }
    let progress = indicatif::ProgressBar::new(0).with_message(format!("indexing {}", db.display()));
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let total = stele_sqlite::SqliteStore::reindex(&db, |done, total| {
        progress.set_length(total);
        progress.set_position(done);
    });
    progress.finish_and_clear();
    println!("reindexed {} events of {}", total?, db.display());
    Ok(())
}
