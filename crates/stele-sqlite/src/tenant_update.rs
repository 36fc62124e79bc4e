//! Changing a tenant's aliases and JWT key (run by the writer, inside its savepoint), and
//! reading the JWT key back.

use rusqlite::{params, Connection, OptionalExtension};
use stele_core::{TenantId, Timestamp};
use stele_store::{JwtAlg, StoreError, TenantJwt, TenantUpdate};

use crate::backend;

/// Applies `update` to the tenant with row number `no`. Fails with `AliasTaken` (the caller's
/// savepoint then undoes everything) when a new alias belongs to another tenant.
pub(crate) fn apply(conn: &Connection, no: i64, update: &TenantUpdate) -> Result<(), StoreError> {
    if let Some(aliases) = &update.aliases {
        conn.execute("DELETE FROM tenant_aliases WHERE tenant_no = ?1", [no]).map_err(backend)?;
        for alias in aliases {
            let taken: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM tenant_aliases WHERE alias = ?1) OR EXISTS (SELECT 1 FROM tenants WHERE id = ?1 AND no <> ?2)",
                    params![alias, no],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if taken {
                return Err(StoreError::AliasTaken(alias.clone()));
            }
            conn.execute("INSERT INTO tenant_aliases (alias, tenant_no) VALUES (?1, ?2)", params![alias, no])
                .map_err(backend)?;
        }
    }
    match &update.jwt {
        None => {}
        Some(None) => {
            conn.execute("DELETE FROM tenant_jwt WHERE tenant_no = ?1", [no]).map_err(backend)?;
        }
        Some(Some(jwt)) => {
            conn.execute(
                "INSERT OR REPLACE INTO tenant_jwt (tenant_no, alg, key, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![no, jwt.alg.as_str(), jwt.key, Timestamp::now().as_micros()],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

/// The tenant's JWT key; `UnknownTenant` when there is no such tenant.
pub(crate) fn jwt(conn: &Connection, tenant: &TenantId) -> Result<Option<TenantJwt>, StoreError> {
    let no = crate::read::tenant_no(conn, tenant)?;
    let row: Option<(String, Vec<u8>)> = conn
        .prepare_cached("SELECT alg, key FROM tenant_jwt WHERE tenant_no = ?1")
        .and_then(|mut s| s.query_row([no], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(backend)?;
    row.map(|(alg, key)| {
        let alg = JwtAlg::parse(&alg).ok_or_else(|| backend(format!("stored JWT algorithm {alg:?} is unknown")))?;
        Ok(TenantJwt { alg, key })
    })
    .transpose()
}
