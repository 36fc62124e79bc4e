//! TLS to PostgreSQL against the test server, which `scripts/test` starts with `ssl=on` and
//! a certificate signed by a throwaway CA (`STELE_TEST_POSTGRES_CA`; `..._OTHER_CA` signed
//! nothing). `verify-full` connects with the right CA and refuses another; `require` and the
//! default `prefer` encrypt; `disable` does not (the check can tell). Skipped, saying so,
//! without those variables — and failing instead under `STELE_TEST_REQUIRE_CLIENTS`.

use crate::common;

use stele_postgres::PostgresStore;

/// Whether the session of a connection made from `url` is encrypted (`pg_stat_ssl`).
async fn encrypted(url: &str) -> Result<bool, String> {
    let (config, tls) = stele_postgres::tls::parse(url).map_err(|e| e.to_string())?;
    let (client, connection) =
        config.connect(tls).await.map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    let driver = tokio::spawn(connection);
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    drop(client);
    let _ = driver.await;
    Ok(row.get(0))
}

#[tokio::test]
async fn tls_modes_against_a_server_with_a_certificate() {
    let Some(url) = common::server_url("tls_modes_against_a_server_with_a_certificate") else { return };
    let cas = (std::env::var("STELE_TEST_POSTGRES_CA"), std::env::var("STELE_TEST_POSTGRES_OTHER_CA"));
    let (Ok(ca), Ok(other)) = cas else {
        assert!(
            std::env::var("STELE_TEST_REQUIRE_CLIENTS").is_err(),
            "STELE_TEST_POSTGRES_CA is not set, but STELE_TEST_REQUIRE_CLIENTS is: scripts/test must start PostgreSQL with TLS"
        );
        println!("tls_modes_against_a_server_with_a_certificate: skipped: STELE_TEST_POSTGRES_CA is not set");
        return;
    };
    let db = common::fresh_database(&url).await;
    let with = |params: &str| format!("{db}?{params}");

    assert_eq!(encrypted(&with("sslmode=disable")).await, Ok(false), "disable: plain (the check sees it)");
    assert_eq!(encrypted(&db).await, Ok(true), "the default (prefer) encrypts when the server offers it");
    assert_eq!(encrypted(&with("sslmode=require")).await, Ok(true));
    let full = with(&format!("sslmode=verify-full&sslrootcert={ca}"));
    assert_eq!(encrypted(&full).await, Ok(true), "verify-full with the CA that signed the server");
    let localhost = full.replace("127.0.0.1", "localhost");
    assert_eq!(encrypted(&localhost).await, Ok(true), "the certificate names localhost too");

    let wrong = encrypted(&with(&format!("sslmode=verify-full&sslrootcert={other}"))).await;
    let message = wrong.expect_err("another CA is refused");
    assert!(message.to_lowercase().contains("certificate"), "{message}");

    // The store itself, all the way through (migrations, writer, pool) over verify-full.
    let store = PostgresStore::connect(&full).await.expect("a verified store");
    stele_store::Store::ping(&store).await.expect("ping");
    stele_store::Store::close(&store).await;
    let refused = PostgresStore::connect(&with("sslmode=verify-ca")).await.err().expect("verify-ca is refused");
    assert!(refused.to_string().contains("verify-full"), "{refused}");
}
