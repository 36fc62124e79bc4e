//! The store conformance suite against SQLite, each case on its own database file — four
//! times, with the index's high-water mark in each place it can be (issue #13): following
//! the log in the background (production), never moved (every read is a tail scan), always
//! at the head (every read from the index), and at pseudo-random points between. Reads
//! must not be able to tell where the mark is.

use std::sync::Arc;

use stele_sqlite::{IndexMode, SqliteOptions, SqliteStore};
use stele_store::conformance::Fixture;

fn open(mode: IndexMode) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions { index: mode, ..SqliteOptions::default() };
    let store = SqliteStore::open_with(&dir.path().join("stele.db"), options).expect("open");
    (Arc::new(store), Box::new(dir))
}

/// A seed per case, so each case splits differently but reproducibly.
fn seed(case: &str) -> u64 {
    case.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

mod background {
    use super::*;
    async fn fresh(_case: &str) -> Option<Fixture> {
        Some(open(IndexMode::Background))
    }
    stele_store::conformance_tests!(fresh);
}

mod mark_at_zero {
    use super::*;
    async fn fresh(_case: &str) -> Option<Fixture> {
        Some(open(IndexMode::Never))
    }
    stele_store::conformance_tests!(fresh);
}

mod mark_at_head {
    use super::*;
    async fn fresh(_case: &str) -> Option<Fixture> {
        Some(open(IndexMode::Eager))
    }
    stele_store::conformance_tests!(fresh);
}

mod mark_at_random_splits {
    use super::*;
    async fn fresh(case: &str) -> Option<Fixture> {
        Some(open(IndexMode::Random(seed(case))))
    }
    stele_store::conformance_tests!(fresh);
}
