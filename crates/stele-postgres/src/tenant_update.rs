//! Changing a tenant's aliases and JWT key (run by the writer, inside its savepoint, with
//! the tenant's row locked), and reading the JWT key back.

use stele_core::{TenantId, Timestamp};
use stele_store::{JwtAlg, StoreError, TenantJwt, TenantUpdate};
use tokio_postgres::{GenericClient, Transaction};

use crate::backend;
use crate::writer::Fail;

/// Applies `update` to the tenant with row number `no`. Fails with `AliasTaken` (the caller's
/// savepoint then undoes everything) when a new alias belongs to another tenant.
pub(crate) async fn apply(tx: &Transaction<'_>, no: i64, update: &TenantUpdate) -> Result<(), Fail> {
    if let Some(aliases) = &update.aliases {
        tx.execute("DELETE FROM tenant_aliases WHERE tenant_no = $1", &[&no]).await?;
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
        }
    }
    match &update.jwt {
        None => {}
        Some(None) => {
            tx.execute("DELETE FROM tenant_jwt WHERE tenant_no = $1", &[&no]).await?;
        }
        Some(Some(jwt)) => {
            tx.execute(
                "INSERT INTO tenant_jwt (tenant_no, alg, key, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_no) DO UPDATE SET alg = EXCLUDED.alg, key = EXCLUDED.key, updated_at = EXCLUDED.updated_at",
                &[&no, &jwt.alg.as_str(), &jwt.key, &Timestamp::now().as_micros()],
            )
            .await?;
        }
    }
    Ok(())
}

/// The tenant's JWT key; `UnknownTenant` when there is no such tenant.
pub(crate) async fn jwt(client: &impl GenericClient, tenant: &TenantId) -> Result<Option<TenantJwt>, StoreError> {
    let no = crate::read::tenant_no(client, tenant).await?;
    let row =
        client.query_opt("SELECT alg, key FROM tenant_jwt WHERE tenant_no = $1", &[&no]).await.map_err(backend)?;
    row.map(|row| {
        let alg: String = row.get(0);
        let alg = JwtAlg::parse(&alg).ok_or_else(|| backend(format!("stored JWT algorithm {alg:?} is unknown")))?;
        Ok(TenantJwt { alg, key: row.get(1) })
    })
    .transpose()
}
