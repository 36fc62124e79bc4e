//! The store conformance suite against PostgreSQL, each case on a fresh database of the
//! server named by `STELE_TEST_POSTGRES_URL` (skipped, saying so, when it is not set).

mod common;

use std::sync::Arc;

use stele_postgres::PostgresStore;
use stele_store::conformance::Fixture;

/// A fresh store on its own database, or `None` when there is no test server.
async fn fresh(case: &str) -> Option<Fixture> {
    let url = common::server_url(case)?;
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect and migrate");
    Some((Arc::new(store), Box::new(())))
}

stele_store::conformance_tests!(fresh);
