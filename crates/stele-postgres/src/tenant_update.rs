//! Changing a tenant's aliases and JWT key (run by the writer, inside its savepoint, with
//! the tenant's row locked), and reading the JWT key back.

use stele_core::{TenantId, Timestamp};
use stele_store::{JwtAlg, StoreError, TenantJwt, TenantUpdate};
use tokio_postgres::{GenericClient, Transaction};

use crate::backend;
use crate::writer::Fail;

/// Claims `name` (an id or an alias) for tenant `no` in the one namespace of ids and aliases
/// (`tenant_names`, whose primary key is the guard: a concurrent claim of the same name by
/// another node waits for that commit); `AliasTaken` when another tenant has it.
pub(crate) async fn claim_name(tx: &Transaction<'_>, no: i64, name: &str) -> Result<(), Fail> {
    let inserted = tx
        .execute(
            "INSERT INTO tenant_names (name, tenant_no) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &no],
        )
        .await?;
    if inserted == 1 {
        return Ok(());
    }
    let owner: Option<i64> =
        tx.query_opt("SELECT tenant_no FROM tenant_names WHERE name = $1", &[&name]).await?.map(|r| r.get(0));
    if owner == Some(no) {
        Ok(())
    } else {
        Err(StoreError::AliasTaken(name.to_owned()).into())
    }
}

/// Applies `update` to the tenant with row number `no`. Fails with `AliasTaken` (the caller's
/// savepoint then undoes everything) when a new alias belongs to another tenant.
pub(crate) async fn apply(tx: &Transaction<'_>, no: i64, update: &TenantUpdate) -> Result<(), Fail> {
    if let Some(aliases) = &update.aliases {
        tx.execute("DELETE FROM tenant_aliases WHERE tenant_no = $1", &[&no]).await?;
        // Frees the tenant's old aliases in the namespace; its id stays claimed.
        tx.execute(
            "DELETE FROM tenant_names WHERE tenant_no = $1 AND name <> (SELECT id FROM tenants WHERE no = $1)",
            &[&no],
        )
        .await?;
        for alias in aliases {
            let other_id: bool = tx
                .query_one("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1 AND no <> $2)", &[alias, &no])
                .await?
                .get(0);
            // Another node adding the same alias at once makes this wait for its commit.
            let inserted = tx
                .execute(
                    "INSERT INTO tenant_aliases (alias, tenant_no) VALUES ($1, $2) ON CONFLICT (alias) DO NOTHING",
                    &[alias, &no],
                )
                .await?;
            if other_id || inserted == 0 {
                return Err(StoreError::AliasTaken(alias.clone()).into());
            }
            claim_name(tx, no, alias).await?;
        }
    }
    match &update.jwt {
        None => {}
        Some(None) => {
            tx.execute("DELETE FROM tenant_jwt WHERE tenant_no = $1", &[&no]).await?;
        }
        Some(Some(jwt)) => {
            tx.execute(
                "INSERT INTO tenant_jwt (tenant_no, alg, key, updated_at, issuer, audience) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_no) DO UPDATE SET alg = EXCLUDED.alg, key = EXCLUDED.key,
                     updated_at = EXCLUDED.updated_at, issuer = EXCLUDED.issuer, audience = EXCLUDED.audience",
                &[&no, &jwt.alg.as_str(), &jwt.key, &Timestamp::now().as_micros(), &jwt.issuer, &jwt.audience],
            )
            .await?;
        }
    }
    Ok(())
}

/// The tenant's JWT key; `UnknownTenant` when there is no such tenant.
pub(crate) async fn jwt(client: &impl GenericClient, tenant: &TenantId) -> Result<Option<TenantJwt>, StoreError> {
    let no = crate::read::tenant_no(client, tenant).await?;
    let row = client
        .query_opt("SELECT alg, key, issuer, audience FROM tenant_jwt WHERE tenant_no = $1", &[&no])
        .await
        .map_err(backend)?;
    row.map(|row| {
        let alg: String = row.get(0);
        let alg = JwtAlg::parse(&alg).ok_or_else(|| backend(format!("stored JWT algorithm {alg:?} is unknown")))?;
        Ok(TenantJwt { alg, key: row.get(1), issuer: row.get(2), audience: row.get(3) })
    })
    .transpose()
}
