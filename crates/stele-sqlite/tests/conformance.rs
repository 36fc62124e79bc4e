//! The store conformance suite against SQLite, each case on its own database file.

use std::sync::Arc;

use stele_sqlite::SqliteStore;
use stele_store::conformance::Fixture;

async fn fresh(_case: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("stele.db")).expect("open");
    Some((Arc::new(store), Box::new(dir)))
}

stele_store::conformance_tests!(fresh);
