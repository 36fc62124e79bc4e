//! Creating databases on a PostgreSQL server: what the tests and benchmarks use to get a
//! fresh, empty database each (and an operator can use to set one up).

/// `url` with its database name replaced by `db` (query options are kept).
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

/// Creates an empty database `<prefix>_<random hex>` on the server of `url` and returns its
/// URL. `prefix` must be a plain identifier (letters, digits, `_`).
pub async fn create_database(url: &str, prefix: &str) -> Result<String, crate::tls::TlsError> {
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    let (config, tls) = crate::tls::parse(url)?;
    let (client, connection) = config.connect(tls).await?;
    let driver = tokio::spawn(connection);
    // An identifier cannot be a bind parameter; `name` is built from a fixed prefix and hex.
    client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    drop(client);
    let _ = driver.await;
    Ok(with_database(url, &name))
}

/// Drops the database named by `url`, ending its open sessions first (`WITH (FORCE)`), from
/// a connection to the server's `postgres` database. What a test does with its database when
/// it is done, so that a run of hundreds of tests does not fill the disk. The name must be a
/// plain identifier, as [`create_database`] makes them.
pub async fn drop_database(url: &str) -> Result<(), crate::tls::TlsError> {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    let name = base.rsplit_once('/').map_or("", |(_, n)| n).to_owned();
    if name.is_empty() || name == "postgres" || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Ok(());
    }
    let (config, tls) = crate::tls::parse(&with_database(url, "postgres"))?;
    let (client, connection) = config.connect(tls).await?;
    let driver = tokio::spawn(connection);
    // Checked above to be a plain identifier; an identifier cannot be a bind parameter.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgres://u@h:5/postgres?sslmode=disable", "x"),
            "postgres://u@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    }
}
