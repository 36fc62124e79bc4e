//! The store conformance suite against PostgreSQL, each case on a fresh database of the
//! server named by `STELE_TEST_POSTGRES_URL` (skipped, saying so, when it is not set).

mod common;

use std::sync::Arc;

use stele_postgres::PostgresStore;
use stele_store::Store;

/// A fresh store, or `None` when there is no test server.
async fn fresh(test: &str) -> Option<Arc<dyn Store>> {
    let url = common::server_url(test)?;
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect and migrate");
    Some(Arc::new(store))
}

/// One test per conformance case (like `stele_store::conformance_tests!`, plus the skip).
macro_rules! postgres_conformance {
    ($($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(store) = fresh(stringify!($case)).await else { return };
                stele_store::conformance::$case(store.clone()).await;
                store.close().await;
            }
        )*
    };
}

postgres_conformance!(
    tenants_and_aliases,
    keys_lifecycle,
    append_assigns_gapless_seq,
    concurrent_appends_are_gapless,
    idempotency,
    query_order_range_and_pages,
    tenants_are_isolated,
    close_rejects_later_writes,
    filter_table
);
