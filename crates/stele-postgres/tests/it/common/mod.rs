//! A fresh database per test on the server named by `STELE_TEST_POSTGRES_URL`.

#![allow(dead_code)]

/// The URL of the test server, or `None` (after saying so) when it is not set.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var("STELE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("{test}: skipped: STELE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

pub use stele_postgres::provision::with_database;

/// Creates an empty database `stele_t_<random hex>` and returns its URL.
pub async fn fresh_database(url: &str) -> String {
    stele_postgres::provision::create_database(url, "stele_t").await.expect("create test database")
}

#[test]
fn database_is_replaced_in_urls() {
    assert_eq!(with_database("postgres://stele@127.0.0.1:5/postgres", "x"), "postgres://stele@127.0.0.1:5/x");
    assert_eq!(with_database("postgres://a:b@h/postgres?sslmode=disable", "x"), "postgres://a:b@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
}
