//! The Merkle tree's rows: leaf hashes (level 0) and stored-level nodes in `merkle_nodes`,
//! signed tree heads in `tree_heads`. What to read and write is decided by
//! `stele_core::integrity`; this module only runs the SQL.

use stele_core::integrity::{Frontier, Hash, NodeRead, SignedTreeHead, TreeHead};
use stele_core::{TenantId, Timestamp};
use stele_store::StoreError;
use tokio_postgres::GenericClient;

use crate::backend;

fn tree_error(msg: String) -> StoreError {
    StoreError::Tree(msg)
}

fn to_hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::from_slice(bytes).map_err(|e| tree_error(e.to_string()))
}

/// Performs tree reads for tenant number `no`.
pub(crate) async fn read_nodes(
    client: &impl GenericClient,
    no: i64,
    reads: &[NodeRead],
) -> Result<Vec<Vec<Hash>>, StoreError> {
    let mut out = Vec::with_capacity(reads.len());
    for read in reads {
        let (level, begin, end) = match *read {
            NodeRead::Leaves { begin, end } => (0, begin, end),
            NodeRead::Stored { level, begin, end } => (level as i32, begin, end),
        };
        let rows = client
            .query(
                "SELECT hash FROM merkle_nodes WHERE tenant_no = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx",
                &[&no, &level, &(begin as i64), &(end as i64)],
            )
            .await
            .map_err(backend)?;
        if rows.len() as u64 != read.len() {
            return Err(tree_error(format!("{read:?} found {} of {} hashes", rows.len(), read.len())));
        }
        out.push(rows.iter().map(|r| to_hash(r.get::<_, &[u8]>(0))).collect::<Result<Vec<_>, _>>()?);
    }
    Ok(out)
}

/// The right edge of a tenant's tree of `size` leaves, rebuilt from stored rows.
pub(crate) async fn load_frontier(client: &impl GenericClient, no: i64, size: u64) -> Result<Frontier, StoreError> {
    let results = read_nodes(client, no, &Frontier::reads_of(size)).await?;
    Frontier::from_reads(size, results).ok_or_else(|| tree_error("the stored nodes do not make a frontier".into()))
}

/// The leaf hash of one event (by seq).
pub(crate) async fn leaf(client: &impl GenericClient, no: i64, seq: u64) -> Result<Hash, StoreError> {
    let row = client
        .query_opt(
            "SELECT hash FROM merkle_nodes WHERE tenant_no = $1 AND level = 0 AND idx = $2",
            &[&no, &(seq as i64 - 1)],
        )
        .await
        .map_err(backend)?
        .ok_or_else(|| tree_error(format!("event {seq} has no leaf hash")))?;
    to_hash(row.get::<_, &[u8]>(0))
}

/// Keeps a head; false if one of that size is already kept.
pub(crate) async fn put_head(client: &impl GenericClient, no: i64, head: &SignedTreeHead) -> Result<bool, StoreError> {
    let n = client
        .execute(
            "INSERT INTO tree_heads (tenant_no, size, root, time, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
            &[
                &no,
                &(head.head.size as i64),
                &&head.head.root.0[..],
                &head.head.time.as_micros(),
                &head.key_id,
                &head.signature,
            ],
        )
        .await
        .map_err(backend)?;
    Ok(n == 1)
}

fn to_head(tenant: &TenantId, r: &tokio_postgres::Row) -> Result<SignedTreeHead, StoreError> {
    Ok(SignedTreeHead {
        head: TreeHead {
            tenant: tenant.clone(),
            size: r.get::<_, i64>(0) as u64,
            root: to_hash(r.get::<_, &[u8]>(1))?,
            time: Timestamp::from_micros(r.get(2)),
        },
        key_id: r.get(3),
        signature: r.get(4),
    })
}

pub(crate) async fn heads(
    client: &impl GenericClient,
    no: i64,
    tenant: &TenantId,
    from: u64,
    to: u64,
    limit: i64,
    newest: bool,
) -> Result<Vec<SignedTreeHead>, StoreError> {
    let order = if newest { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT size, root, time, key_id, signature FROM tree_heads
         WHERE tenant_no = $1 AND size >= $2 AND size <= $3 ORDER BY size {order} LIMIT $4"
    );
    let (from, to) = (from.min(i64::MAX as u64) as i64, to.min(i64::MAX as u64) as i64);
    let rows = client.query(sql.as_str(), &[&no, &from, &to, &limit]).await.map_err(backend)?;
    rows.iter().map(|r| to_head(tenant, r)).collect()
}

/// Tenants whose head seq is past their latest head's size (no head: size 0), by id, in one
/// statement (an index seek per tenant on `tree_heads`' key).
pub(crate) async fn unsigned_tenants(client: &impl GenericClient) -> Result<Vec<TenantId>, StoreError> {
    let rows = client
        .query(
            "SELECT t.id FROM tenants t
             WHERE t.head_seq > COALESCE((SELECT MAX(size) FROM tree_heads h WHERE h.tenant_no = t.no), 0)
             ORDER BY t.id",
            &[],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(|r| TenantId::parse(r.get::<_, &str>(0)).map_err(backend)).collect()
}

/// The tenant's log size (its head seq).
pub(crate) async fn size(client: &impl GenericClient, no: i64) -> Result<u64, StoreError> {
    let row = client.query_one("SELECT head_seq FROM tenants WHERE no = $1", &[&no]).await.map_err(backend)?;
    Ok(row.get::<_, i64>(0) as u64)
}
