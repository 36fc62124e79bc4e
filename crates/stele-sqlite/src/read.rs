//! Read-side SQL: tenants, keys, events, pages and counts. Values are always bound as
//! parameters; the SQL text is assembled only from fixed fragments.

use std::collections::BTreeSet;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;
use stele_core::{
    Cursor, EventId, KeyId, PageRequest, Query, Scope, SecretHash, Seq, StoredEvent, TenantId, Timestamp,
};
use stele_store::{KeyRecord, Page, StoreError, Tenant};

use crate::backend;

const TENANT_NO: &str = "(SELECT no FROM tenants WHERE id = ?)";

fn tenant_from_row(conn: &Connection, row: (i64, String, String, i64)) -> Result<Tenant, StoreError> {
    let (no, id, name, created_at) = row;
    let mut stmt =
        conn.prepare_cached("SELECT alias FROM tenant_aliases WHERE tenant_no = ?1 ORDER BY alias").map_err(backend)?;
    let aliases = stmt
        .query_map([no], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(Tenant {
        id: TenantId::parse(&id).map_err(backend)?,
        name,
        aliases,
        created_at: Timestamp::from_micros(created_at),
    })
}

type TenantRow = (i64, String, String, i64);

fn tenant_row(r: &Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub(crate) fn list_tenants(conn: &Connection) -> Result<Vec<Tenant>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT no, id, name, created_at FROM tenants ORDER BY id").map_err(backend)?;
    let rows = stmt.query_map([], tenant_row).and_then(|r| r.collect::<Result<Vec<_>, _>>()).map_err(backend)?;
    rows.into_iter().map(|row| tenant_from_row(conn, row)).collect()
}

pub(crate) fn find_tenant(conn: &Connection, id_or_alias: &str) -> Result<Option<Tenant>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT no, id, name, created_at FROM tenants
             WHERE id = ?1 OR no = (SELECT tenant_no FROM tenant_aliases WHERE alias = ?1)
             ORDER BY id = ?1 DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row([id_or_alias], tenant_row).optional())
        .map_err(backend)?;
    row.map(|row| tenant_from_row(conn, row)).transpose()
}

pub(crate) fn get_tenant(conn: &Connection, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
    let row = conn
        .prepare_cached("SELECT no, id, name, created_at FROM tenants WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_str()], tenant_row).optional())
        .map_err(backend)?;
    row.map(|row| tenant_from_row(conn, row)).transpose()
}

const KEY_COLUMNS: &str =
    "k.id, t.id, k.name, k.scopes, k.view_filter, k.secret_hash, k.created_at, k.revoked_at FROM keys k JOIN tenants t ON t.no = k.tenant_no";

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

type KeyRow = (String, String, String, String, Option<String>, Vec<u8>, i64, Option<i64>);

fn key_from_row(row: KeyRow) -> Result<KeyRecord, StoreError> {
    let (id, tenant, name, scopes, view_filter, hash, created_at, revoked_at) = row;
    let scopes: BTreeSet<Scope> = serde_json::from_str(&scopes).map_err(backend)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| backend("stored key hash has the wrong length"))?;
    Ok(KeyRecord {
        id: KeyId::parse(&id).map_err(backend)?,
        tenant: TenantId::parse(&tenant).map_err(backend)?,
        name,
        scopes,
        view_filter,
        secret_hash: SecretHash(hash),
        created_at: Timestamp::from_micros(created_at),
        revoked_at: revoked_at.map(Timestamp::from_micros),
    })
}

pub(crate) fn key_by_id(conn: &Connection, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
    let row = conn
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} WHERE k.id = ?1"))
        .and_then(|mut s| s.query_row([id.as_str()], key_row).optional())
        .map_err(backend)?;
    row.map(key_from_row).transpose()
}

pub(crate) fn list_keys(conn: &Connection, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} WHERE ?1 IS NULL OR t.id = ?1 ORDER BY t.id, k.created_at, k.id"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map([tenant.map(TenantId::as_str)], key_row)
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    rows.into_iter().map(key_from_row).collect()
}

fn seq_of(n: i64) -> Result<Seq, StoreError> {
    Seq::new(n as u64).map_err(backend)
}

pub(crate) fn get_event(conn: &Connection, tenant: &TenantId, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(&format!("SELECT seq, json FROM events WHERE tenant_no = {TENANT_NO} AND id = ?"))
        .and_then(|mut s| {
            s.query_row(params![tenant.as_str(), id.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional()
        })
        .map_err(backend)?;
    row.map(|(seq, json)| Ok(StoredEvent { seq: seq_of(seq)?, json })).transpose()
}

/// The WHERE clause (after the tenant) and its parameters for a query's range and keyset.
fn conditions(tenant: &TenantId, query: &Query, with_keyset: bool) -> Result<(String, Vec<SqlValue>), StoreError> {
    let mut sql = format!("tenant_no = {TENANT_NO}");
    let mut params = vec![SqlValue::Text(tenant.as_str().to_owned())];
    if let Some(from) = query.range.from {
        sql.push_str(" AND time >= ?");
        params.push(SqlValue::Integer(from.as_micros()));
    }
    if let Some(to) = query.range.to {
        sql.push_str(" AND time < ?");
        params.push(SqlValue::Integer(to.as_micros()));
    }
    if let (true, PageRequest::After(cursor)) = (with_keyset, &query.page) {
        let time = cursor.values.first().and_then(Value::as_i64).ok_or_else(|| backend("cursor without a time"))?;
        sql.push_str(if query.sort.descending() { " AND (time, seq) < (?, ?)" } else { " AND (time, seq) > (?, ?)" });
        params.push(SqlValue::Integer(time));
        params.push(SqlValue::Integer(cursor.seq as i64));
    }
    Ok((sql, params))
}

pub(crate) fn query(conn: &Connection, tenant: &TenantId, query: &Query) -> Result<Page, StoreError> {
    let (filter, mut params) = conditions(tenant, query, true)?;
    let order = if query.sort.descending() { "time DESC, seq DESC" } else { "time ASC, seq ASC" };
    let limit = i64::from(query.limit.get());
    params.push(SqlValue::Integer(limit + 1));
    let offset = match query.page {
        PageRequest::Offset(n) => i64::try_from(n).unwrap_or(i64::MAX),
        _ => 0,
    };
    params.push(SqlValue::Integer(offset));
    let sql = format!("SELECT seq, time, json FROM events WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?");
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let mut rows: Vec<(i64, i64, String)> = stmt
        .query_map(params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = match (more, rows.last()) {
        (true, Some((seq, time, _))) => {
            Some(Cursor { sort: query.sort.as_str().to_owned(), values: vec![Value::from(*time)], seq: *seq as u64 })
        }
        _ => None,
    };
    let events = rows
        .into_iter()
        .map(|(seq, _, json)| Ok(StoredEvent { seq: seq_of(seq)?, json }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page { events, next })
}

pub(crate) fn count(conn: &Connection, tenant: &TenantId, query: &Query) -> Result<u64, StoreError> {
    let (filter, params) = conditions(tenant, query, false)?;
    let n: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM events WHERE {filter}"))
        .and_then(|mut s| s.query_row(params_from_iter(params), |r| r.get(0)))
        .map_err(backend)?;
    Ok(n as u64)
}
