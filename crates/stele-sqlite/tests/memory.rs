//! The store bounds what SQLite's page caches hold together (the soft heap limit is
//! process-wide, so this test has a binary of its own).

use stele_sqlite::{SqliteOptions, SqliteStore, DEFAULT_MEMORY_BYTES};

fn limit() -> i64 {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    conn.query_row("PRAGMA soft_heap_limit", [], |r| r.get(0)).expect("pragma")
}

#[test]
fn opening_a_store_sets_the_soft_heap_limit_it_was_given() {
    let dir = tempfile::tempdir().expect("dir");
    // Positive control: before any store, SQLite has no limit.
    assert_eq!(limit(), 0);
    let _default = SqliteStore::open(&dir.path().join("a.db")).expect("open");
    assert_eq!(limit(), DEFAULT_MEMORY_BYTES as i64);
    let options = SqliteOptions { memory_bytes: 5 * 1024 * 1024, ..SqliteOptions::default() };
    let _small = SqliteStore::open_with(&dir.path().join("b.db"), options).expect("open");
    assert_eq!(limit(), 5 * 1024 * 1024);
}
