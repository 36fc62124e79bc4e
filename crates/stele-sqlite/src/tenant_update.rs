//! Changing a tenant's aliases and JWT key (run by the writer, inside its savepoint), and
//! reading the JWT key back.

use rusqlite::{params, Connection, OptionalExtension};
use stele_core::{TenantId, Timestamp};
use stele_store::{JwtAlg, StoreError, TenantJwt, TenantUpdate};

use crate::backend;

/// Claims `name` (an id or an alias) for tenant `no` in the one namespace of ids and aliases
/// (`tenant_names`, whose primary key is the guard); `AliasTaken` when another tenant has it.
pub(crate) fn claim_name(conn: &Connection, no: i64, name: &str) -> Result<(), StoreError> {
    let inserted = conn
        .execute(
            "INSERT INTO tenant_names (name, tenant_no) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, no],
        )
        .map_err(backend)?;
    if inserted == 1 {
        return Ok(());
    }
    let owner: i64 =
        conn.query_row("SELECT tenant_no FROM tenant_names WHERE name = ?1", [name], |r| r.get(0)).map_err(backend)?;
    if owner == no {
        Ok(())
    } else {
        Err(StoreError::AliasTaken(name.to_owned()))
    }
}

/// Applies `update` to the tenant with row number `no`. Fails with `AliasTaken` (the caller's
/// savepoint then undoes everything) when a new alias belongs to another tenant.
pub(crate) fn apply(conn: &Connection, no: i64, update: &TenantUpdate) -> Result<(), StoreError> {
    if let Some(aliases) = &update.aliases {
        conn.execute("DELETE FROM tenant_aliases WHERE tenant_no = ?1", [no]).map_err(backend)?;
        // Frees the tenant's old aliases in the namespace; its id stays claimed.
        conn.execute(
            "DELETE FROM tenant_names WHERE tenant_no = ?1 AND name <> (SELECT id FROM tenants WHERE no = ?1)",
            [no],
        )
        .map_err(backend)?;
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
            claim_name(conn, no, alias)?;
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
                "INSERT OR REPLACE INTO tenant_jwt (tenant_no, alg, key, updated_at, issuer, audience)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![no, jwt.alg.as_str(), jwt.key, Timestamp::now().as_micros(), jwt.issuer, jwt.audience],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

/// The tenant's JWT key; `UnknownTenant` when there is no such tenant.
pub(crate) fn jwt(conn: &Connection, tenant: &TenantId) -> Result<Option<TenantJwt>, StoreError> {
    let no = crate::read::tenant_no(conn, tenant)?;
    type Row = (String, Vec<u8>, Option<String>, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached("SELECT alg, key, issuer, audience FROM tenant_jwt WHERE tenant_no = ?1")
        .and_then(|mut s| s.query_row([no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional())
        .map_err(backend)?;
    row.map(|(alg, key, issuer, audience)| {
        let alg = JwtAlg::parse(&alg).ok_or_else(|| backend(format!("stored JWT algorithm {alg:?} is unknown")))?;
        Ok(TenantJwt { alg, key, issuer, audience })
    })
    .transpose()
}
