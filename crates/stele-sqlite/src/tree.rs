//! The Merkle tree's rows: leaf hashes (`events.leaf`), stored-level nodes (`merkle_nodes`)
//! and signed tree heads (`tree_heads`). What to read and write is decided by
//! `stele_core::integrity`; this module only runs the SQL.

use rusqlite::{params, Connection, OptionalExtension};
use stele_core::integrity::{Frontier, Hash, NodeId, NodeRead, SignedTreeHead, TreeHead};
use stele_core::{TenantId, Timestamp};
use stele_store::StoreError;

use crate::backend;
use crate::rows::pos;

fn tree_error(msg: String) -> StoreError {
    StoreError::Tree(msg)
}

fn hash_of(bytes: Option<Vec<u8>>, what: impl FnOnce() -> String) -> Result<Hash, StoreError> {
    let bytes = bytes.ok_or_else(|| tree_error(format!("{} has no hash (written without integrity)", what())))?;
    Hash::from_slice(&bytes).map_err(|e| tree_error(e.to_string()))
}

/// Performs tree reads for tenant number `no`.
pub(crate) fn read_nodes(conn: &Connection, no: i64, reads: &[NodeRead]) -> Result<Vec<Vec<Hash>>, StoreError> {
    let mut out = Vec::with_capacity(reads.len());
    for read in reads {
        let hashes = match *read {
            NodeRead::Leaves { begin, end } => {
                let mut stmt = conn
                    .prepare_cached("SELECT seq, leaf FROM events WHERE pos >= ?1 AND pos < ?2 ORDER BY pos")
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![pos(no, begin + 1), pos(no, end + 1)], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
                    })
                    .map_err(backend)?;
                let mut hashes = Vec::with_capacity((end - begin) as usize);
                for row in rows {
                    let (seq, leaf) = row.map_err(backend)?;
                    hashes.push(hash_of(leaf, || format!("event {seq}"))?);
                }
                hashes
            }
            NodeRead::Stored { level, begin, end } => {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT hash FROM merkle_nodes WHERE tenant_no = ?1 AND level = ?2 AND idx >= ?3 AND idx < ?4 ORDER BY idx",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![no, level, begin as i64, end as i64], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(backend)?;
                let mut hashes = Vec::with_capacity((end - begin) as usize);
                for row in rows {
                    hashes.push(hash_of(Some(row.map_err(backend)?), String::new)?);
                }
                hashes
            }
        };
        if hashes.len() as u64 != read.len() {
            return Err(tree_error(format!("{read:?} found {} of {} hashes", hashes.len(), read.len())));
        }
        out.push(hashes);
    }
    Ok(out)
}

/// The right edge of a tenant's tree of `size` leaves, rebuilt from stored rows.
pub(crate) fn load_frontier(conn: &Connection, no: i64, size: u64) -> Result<Frontier, StoreError> {
    let results = read_nodes(conn, no, &Frontier::reads_of(size))?;
    Frontier::from_reads(size, results).ok_or_else(|| tree_error("the stored nodes do not make a frontier".into()))
}

pub(crate) fn insert_node(conn: &Connection, no: i64, id: NodeId, hash: &Hash) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO merkle_nodes (tenant_no, level, idx, hash) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| s.execute(params![no, id.level, id.index as i64, &hash.0[..]]))
        .map_err(backend)?;
    Ok(())
}

/// Keeps a head; false if one of that size is already kept.
pub(crate) fn put_head(conn: &Connection, no: i64, head: &SignedTreeHead) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO tree_heads (tenant_no, size, root, time, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                no,
                head.head.size as i64,
                &head.head.root.0[..],
                head.head.time.as_micros(),
                head.key_id,
                head.signature
            ])
        })
        .map_err(backend)?;
    Ok(n == 1)
}

fn head_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(u64, Vec<u8>, i64, String, String)> {
    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_head(
    tenant: &TenantId,
    (size, root, time, key_id, signature): (u64, Vec<u8>, i64, String, String),
) -> Result<SignedTreeHead, StoreError> {
    Ok(SignedTreeHead {
        head: TreeHead {
            tenant: tenant.clone(),
            size,
            root: hash_of(Some(root), String::new)?,
            time: Timestamp::from_micros(time),
        },
        key_id,
        signature,
    })
}

pub(crate) fn latest_head(conn: &Connection, no: i64, tenant: &TenantId) -> Result<Option<SignedTreeHead>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT size, root, time, key_id, signature FROM tree_heads WHERE tenant_no = ?1 ORDER BY size DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row([no], head_row).optional())
        .map_err(backend)?;
    row.map(|r| to_head(tenant, r)).transpose()
}

pub(crate) fn heads(
    conn: &Connection,
    no: i64,
    tenant: &TenantId,
    from: u64,
    to: u64,
    limit: u32,
) -> Result<Vec<SignedTreeHead>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT size, root, time, key_id, signature FROM tree_heads
             WHERE tenant_no = ?1 AND size >= ?2 AND size <= ?3 ORDER BY size LIMIT ?4",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![no, from.min(i64::MAX as u64) as i64, to.min(i64::MAX as u64) as i64, limit], head_row)
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(to_head(tenant, row.map_err(backend)?)?);
    }
    Ok(out)
}

/// Tenants whose tree is larger than their latest head's size (no head: size 0), by id: one
/// statement, two index seeks per tenant (the largest rowid of its range, its largest head),
/// where the signer's look had read each tenant's tree and head in reads of their own.
pub(crate) fn unsigned_tenants(conn: &Connection) -> Result<Vec<TenantId>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT t.id FROM tenants t
             WHERE COALESCE((SELECT MAX(pos) FROM events WHERE pos > (t.no << ?1) AND pos < ((t.no + 1) << ?1))
                            - (t.no << ?1), 0)
                   > COALESCE((SELECT MAX(size) FROM tree_heads h WHERE h.tenant_no = t.no), 0)
             ORDER BY t.id",
        )
        .map_err(backend)?;
    let ids = stmt.query_map([crate::rows::SEQ_BITS], |r| r.get::<_, String>(0)).map_err(backend)?;
    ids.map(|id| TenantId::parse(&id.map_err(backend)?).map_err(backend)).collect()
}

/// Last seq of a tenant's log (its tree size): the largest rowid of its range.
pub(crate) fn size(conn: &Connection, no: i64) -> Result<u64, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT MAX(pos) FROM events WHERE pos > ?1 AND pos < ?2")
        .and_then(|mut s| s.query_row(params![pos(no, 0), pos(no + 1, 0)], |r| r.get(0)))
        .map_err(backend)?;
    Ok(last.map_or(0, |p| (p - pos(no, 0)) as u64))
}
