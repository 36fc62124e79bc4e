//! A fresh database per test on the server named by `STELE_TEST_POSTGRES_URL`.

#![allow(dead_code)]

use rand::Rng;
use tokio_postgres::NoTls;

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

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

/// Creates an empty database `stele_t_<random hex>` and returns its URL.
pub async fn fresh_database(url: &str) -> String {
    let name = format!("stele_t_{:016x}", rand::thread_rng().gen::<u64>());
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect to the test server");
    let driver = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    drop(client);
    let _ = driver.await;
    with_database(url, &name)
}

#[test]
fn database_is_replaced_in_urls() {
    assert_eq!(with_database("postgres://stele@127.0.0.1:5/postgres", "x"), "postgres://stele@127.0.0.1:5/x");
    assert_eq!(with_database("postgres://a:b@h/postgres?sslmode=disable", "x"), "postgres://a:b@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
}
