//! The store conformance suite against PostgreSQL, each case on a fresh database of the
//! server named by `STELE_TEST_POSTGRES_URL` (skipped, saying so, when it is not set) —
//! four times, with the index marks in each place they can be (issue #13): following the
//! log in the background (production), never moved (every read takes the rows after the
//! mark), always at the head (every read from the postings), and at pseudo-random points
//! between. Reads must not be able to tell where the marks are.

use crate::common;

use std::sync::Arc;

use stele_postgres::{IndexMode, PostgresOptions, PostgresStore};
use stele_store::conformance::Fixture;

/// A fresh store on its own database, or `None` when there is no test server.
async fn open(case: &str, index: IndexMode) -> Option<Fixture> {
    let url = common::server_url(case)?;
    let db = common::fresh_database(&url).await;
    let options = PostgresOptions { index, ..PostgresOptions::default() };
    let store = PostgresStore::connect_with_options(&db, options).await.expect("connect and migrate");
    Some((Arc::new(store), Box::new(())))
}

/// A seed per case, so each case splits differently but reproducibly.
fn seed(case: &str) -> u64 {
    case.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The suite in one module per mode; `mode` picks the mode from the case's name.
macro_rules! in_mode {
    ($name:ident, $mode:expr) => {
        mod $name {
            use super::*;
            async fn fresh(case: &str) -> Option<Fixture> {
                let mode: fn(&str) -> IndexMode = $mode;
                open(case, mode(case)).await
            }
            stele_store::conformance_tests!(fresh);
        }
    };
}

in_mode!(background, |_| IndexMode::Background);
in_mode!(mark_at_zero, |_| IndexMode::Never);
in_mode!(mark_at_head, |_| IndexMode::Eager);
in_mode!(mark_at_random_splits, |case| IndexMode::Random(seed(case)));
