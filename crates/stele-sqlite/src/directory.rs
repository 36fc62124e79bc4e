//! The directory's rows (members, groups, SCIM connections): how a
//! [`RecordChange`] is written, and the reads of [`stele_store::DirectoryStore`].
//! The writer runs [`apply`] inside its transaction; it is the only writer, so a
//! uniqueness or version check followed by the write cannot race another write.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use stele_core::{SecretHash, TenantId, Timestamp};
use stele_store::directory::{
    fold_case, Group, GroupId, GroupLookup, GroupMember, GroupOrder, ListAfter, Listing, Member, MemberGroup, MemberId,
    MemberLookup, MemberOrder, RecordChange, Role, ScimConnection, ScimConnectionId,
};
use stele_store::StoreError;

use crate::backend;

/// Applies one change for tenant `no` (the audit events are appended by the caller).
pub(crate) fn apply(conn: &Connection, no: i64, tenant: &TenantId, change: &RecordChange) -> Result<(), StoreError> {
    match change {
        RecordChange::PutMember { member, previous } => {
            let stored = version(conn, "members", no, &member.id.to_string())?;
            check_version(stored, *previous, "member", &member.id.to_string())?;
            let key = fold_case(&member.user_name);
            let clash: Option<String> = conn
                .query_row(
                    "SELECT id FROM members WHERE tenant_no = ?1 AND user_name_key = ?2 AND id <> ?3",
                    params![no, key, member.id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            if clash.is_some() {
                return Err(StoreError::Conflict("userName".into()));
            }
            conn.execute(
                "INSERT OR REPLACE INTO members (tenant_no, id, user_name, user_name_key, external_id, display_name,
                     email, email_key, active, role, resource, version, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    no,
                    member.id.to_string(),
                    member.user_name,
                    key,
                    member.external_id,
                    member.display_name,
                    member.email,
                    member.email.as_deref().map(fold_case),
                    member.active,
                    member.role.as_str(),
                    member.resource,
                    member.version as i64,
                    member.created_at.as_micros(),
                    member.updated_at.as_micros(),
                ],
            )
            .map_err(backend)?;
        }
        RecordChange::DeleteMember { id, previous } => {
            let stored = version(conn, "members", no, &id.to_string())?;
            check_version(stored, Some(*previous), "member", &id.to_string())?;
            conn.execute(
                "DELETE FROM group_members WHERE tenant_no = ?1 AND member_id = ?2",
                params![no, id.to_string()],
            )
            .map_err(backend)?;
            conn.execute("DELETE FROM members WHERE tenant_no = ?1 AND id = ?2", params![no, id.to_string()])
                .map_err(backend)?;
            crate::sessions::forget_member(conn, no, &id.to_string())?;
        }
        RecordChange::PutGroup { group, previous } => {
            let id = group.id.to_string();
            let stored = version(conn, "directory_groups", no, &id)?;
            check_version(stored, *previous, "group", &id)?;
            for m in &group.members {
                let exists: bool = conn
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM members WHERE tenant_no = ?1 AND id = ?2)",
                        params![no, m.id.to_string()],
                        |r| r.get(0),
                    )
                    .map_err(backend)?;
                if !exists {
                    return Err(StoreError::UnknownMember(m.id.to_string()));
                }
            }
            conn.execute(
                "INSERT OR REPLACE INTO directory_groups (tenant_no, id, display_name, display_key, external_id, role,
                     resource, version, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    no,
                    id,
                    group.display_name,
                    fold_case(&group.display_name),
                    group.external_id,
                    group.role.map(Role::as_str),
                    group.resource,
                    group.version as i64,
                    group.created_at.as_micros(),
                    group.updated_at.as_micros(),
                ],
            )
            .map_err(backend)?;
            conn.execute("DELETE FROM group_members WHERE tenant_no = ?1 AND group_id = ?2", params![no, id])
                .map_err(backend)?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO group_members (tenant_no, group_id, member_id) VALUES (?1, ?2, ?3)",
                )
                .map_err(backend)?;
            for m in &group.members {
                insert.execute(params![no, id, m.id.to_string()]).map_err(backend)?;
            }
        }
        RecordChange::DeleteGroup { id, previous } => {
            let id = id.to_string();
            let stored = version(conn, "directory_groups", no, &id)?;
            check_version(stored, Some(*previous), "group", &id)?;
            conn.execute("DELETE FROM group_members WHERE tenant_no = ?1 AND group_id = ?2", params![no, id])
                .map_err(backend)?;
            conn.execute("DELETE FROM directory_groups WHERE tenant_no = ?1 AND id = ?2", params![no, id])
                .map_err(backend)?;
        }
        RecordChange::PutScimConnection { connection: c, previous } => {
            let id = c.id.to_string();
            if &c.tenant != tenant {
                return Err(StoreError::RecordNotFound("scim connection", id));
            }
            // Connection ids are global (the endpoints name only the id): one of another
            // tenant is never replaced.
            let owner: Option<(i64, i64)> = conn
                .query_row("SELECT tenant_no, version FROM scim_connections WHERE id = ?1", [&id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(backend)?;
            if owner.is_some_and(|(owner, _)| owner != no) {
                return Err(StoreError::Conflict("id".into()));
            }
            check_version(owner.map(|(_, v)| v as u64), *previous, "scim connection", &id)?;
            conn.execute(
                "INSERT OR REPLACE INTO scim_connections (id, tenant_no, name, token_hash, version, created_at,
                     updated_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    no,
                    c.name,
                    &c.token_hash.0[..],
                    c.version as i64,
                    c.created_at.as_micros(),
                    c.updated_at.as_micros(),
                    c.revoked_at.map(Timestamp::as_micros),
                ],
            )
            .map_err(backend)?;
        }
        RecordChange::PutCredential { credential } => crate::sessions::put_credential(conn, no, credential)?,
        RecordChange::PutSession { session } => crate::sessions::put_session(conn, no, session)?,
        RecordChange::DeleteSession { member, token_hash } => {
            crate::sessions::delete_session(conn, no, member, token_hash)?
        }
        RecordChange::PutViewerLink { link } => crate::sessions::put_link(conn, no, link)?,
        RecordChange::OpenViewerLink { key, token_hash, session_hash, session_expires_at, now } => {
            crate::sessions::open_link(conn, no, key, token_hash, session_hash, *session_expires_at, *now)?
        }
        RecordChange::PutOidcProvider { provider, previous } => {
            crate::sessions::put_oidc(conn, no, provider.as_ref(), *previous)?
        }
        RecordChange::PutStream { stream, previous, start } => {
            crate::delivery::put(conn, no, stream, *previous, *start)?
        }
        RecordChange::DeleteStream { id, previous } => crate::delivery::delete(conn, no, id, *previous)?,
        RecordChange::ClaimStream { id, node, until, now } => crate::delivery::claim(conn, no, id, node, *until, *now)?,
        RecordChange::StreamDelivered { id, node, cursor, delivered, at } => {
            crate::delivery::delivered(conn, no, id, node, *cursor, *delivered, *at)?
        }
        RecordChange::StreamFailed { id, node, error, at } => crate::delivery::failed(conn, no, id, node, error, *at)?,
        RecordChange::PutRetention { policy, previous } => crate::retention::put(conn, no, policy, *previous)?,
    }
    Ok(())
}

/// The stored version of a record of tenant `no` (`table` is one of the fixed names above).
fn version(conn: &Connection, table: &str, no: i64, id: &str) -> Result<Option<u64>, StoreError> {
    let sql = format!("SELECT version FROM {table} WHERE tenant_no = ?1 AND id = ?2");
    let v: Option<i64> = conn.query_row(&sql, params![no, id], |r| r.get(0)).optional().map_err(backend)?;
    Ok(v.map(|v| v as u64))
}

/// The shared rule of every put and delete: `previous` must be what is stored.
pub(crate) fn check_version(
    stored: Option<u64>,
    previous: Option<u64>,
    kind: &'static str,
    id: &str,
) -> Result<(), StoreError> {
    match (stored, previous) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(StoreError::Conflict("id".into())),
        (None, Some(_)) => Err(StoreError::RecordNotFound(kind, id.to_owned())),
        (Some(s), Some(p)) if s == p => Ok(()),
        (Some(s), Some(_)) => Err(StoreError::VersionMismatch { current: s }),
    }
}

const MEMBER_COLUMNS: &str = "id, user_name, external_id, display_name, email, active, role, resource, version, \
                              created_at, updated_at";

fn member_row(r: &Row<'_>) -> rusqlite::Result<Result<Member, StoreError>> {
    let id: String = r.get(0)?;
    let role: String = r.get(6)?;
    let make = || -> Result<Member, StoreError> {
        Ok(Member {
            id: id.parse().map_err(backend)?,
            user_name: r.get(1).map_err(backend)?,
            external_id: r.get(2).map_err(backend)?,
            display_name: r.get(3).map_err(backend)?,
            email: r.get(4).map_err(backend)?,
            active: r.get(5).map_err(backend)?,
            role: Role::parse(&role).ok_or_else(|| backend(format!("unknown role {role:?}")))?,
            resource: r.get(7).map_err(backend)?,
            version: r.get::<_, i64>(8).map_err(backend)? as u64,
            created_at: Timestamp::from_micros(r.get(9).map_err(backend)?),
            updated_at: Timestamp::from_micros(r.get(10).map_err(backend)?),
        })
    };
    Ok(make())
}

fn members_where(conn: &Connection, clause: &str, values: Vec<SqlValue>) -> Result<Vec<Member>, StoreError> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt.query_map(params_from_iter(values), member_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend).and_then(|m| m)).collect()
}

pub(crate) fn get_member(conn: &Connection, no: i64, id: &MemberId) -> Result<Option<Member>, StoreError> {
    let found = members_where(conn, "tenant_no = ?1 AND id = ?2", vec![no.into(), id.to_string().into()])?;
    Ok(found.into_iter().next())
}

pub(crate) fn find_members(conn: &Connection, no: i64, lookup: &MemberLookup) -> Result<Vec<Member>, StoreError> {
    let (clause, value) = match lookup {
        MemberLookup::UserName(v) => ("tenant_no = ?1 AND user_name_key = ?2 ORDER BY id", fold_case(v)),
        MemberLookup::ExternalId(v) => ("tenant_no = ?1 AND external_id = ?2 ORDER BY id LIMIT 1000", v.clone()),
        MemberLookup::Email(v) => ("tenant_no = ?1 AND email_key = ?2 ORDER BY id LIMIT 1000", fold_case(v)),
    };
    members_where(conn, clause, vec![no.into(), value.into()])
}

/// The keyset condition and order of a listing; `key` and `id` are the column expressions.
fn keyset(key: &str, descending: bool, after: Option<&ListAfter>, values: &mut Vec<SqlValue>) -> (String, String) {
    let (cmp, dir) = if descending { ("<", "DESC") } else { (">", "ASC") };
    let condition = match after {
        Some(a) => {
            values.push(a.key.clone().into());
            values.push(a.id.clone().into());
            format!(" AND ({key}, id) {cmp} (?{}, ?{})", values.len() - 1, values.len())
        }
        None => String::new(),
    };
    (condition, format!(" ORDER BY {key} {dir}, id {dir}"))
}

pub(crate) fn list_members(
    conn: &Connection,
    no: i64,
    listing: &Listing<MemberOrder>,
) -> Result<Vec<Member>, StoreError> {
    let key = match listing.order {
        MemberOrder::UserName => "user_name_key",
        MemberOrder::Created => "printf('%020d', created_at)",
        MemberOrder::Id => "id",
    };
    let mut values: Vec<SqlValue> = vec![no.into()];
    let (condition, order) = keyset(key, listing.descending, listing.after.as_ref(), &mut values);
    values.push(i64::from(listing.limit).into());
    let clause = format!("tenant_no = ?1{condition}{order} LIMIT ?{}", values.len());
    members_where(conn, &clause, values)
}

pub(crate) fn count(conn: &Connection, table: &str, no: i64) -> Result<u64, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_no = ?1");
    let n: i64 = conn.query_row(&sql, [no], |r| r.get(0)).map_err(backend)?;
    Ok(n as u64)
}

pub(crate) fn member_groups(conn: &Connection, no: i64, id: &MemberId) -> Result<Vec<MemberGroup>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT g.id, g.display_name, g.role FROM group_members m
             JOIN directory_groups g ON g.tenant_no = m.tenant_no AND g.id = m.group_id
             WHERE m.tenant_no = ?1 AND m.member_id = ?2 ORDER BY g.display_key, g.id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![no, id.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, Option<String>>(2)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    rows.into_iter()
        .map(|(id, display_name, role)| {
            Ok(MemberGroup {
                id: id.parse().map_err(backend)?,
                display_name,
                role: role.as_deref().and_then(Role::parse),
            })
        })
        .collect()
}

const GROUP_COLUMNS: &str = "id, display_name, external_id, role, resource, version, created_at, updated_at";

fn group_row(r: &Row<'_>) -> rusqlite::Result<Result<Group, StoreError>> {
    let id: String = r.get(0)?;
    let role: Option<String> = r.get(3)?;
    let make = || -> Result<Group, StoreError> {
        Ok(Group {
            id: id.parse().map_err(backend)?,
            display_name: r.get(1).map_err(backend)?,
            external_id: r.get(2).map_err(backend)?,
            role: role.as_deref().and_then(Role::parse),
            resource: r.get(4).map_err(backend)?,
            members: Vec::new(),
            version: r.get::<_, i64>(5).map_err(backend)? as u64,
            created_at: Timestamp::from_micros(r.get(6).map_err(backend)?),
            updated_at: Timestamp::from_micros(r.get(7).map_err(backend)?),
        })
    };
    Ok(make())
}

fn groups_where(
    conn: &Connection,
    no: i64,
    clause: &str,
    values: Vec<SqlValue>,
    with_members: bool,
) -> Result<Vec<Group>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM directory_groups WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt.query_map(params_from_iter(values), group_row).map_err(backend)?;
    let mut groups: Vec<Group> = rows.map(|r| r.map_err(backend).and_then(|g| g)).collect::<Result<_, _>>()?;
    if with_members {
        for g in &mut groups {
            g.members = group_members(conn, no, &g.id)?;
        }
    }
    Ok(groups)
}

fn group_members(conn: &Connection, no: i64, id: &GroupId) -> Result<Vec<GroupMember>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.id, COALESCE(m.display_name, m.user_name) FROM group_members gm
             JOIN members m ON m.tenant_no = gm.tenant_no AND m.id = gm.member_id
             WHERE gm.tenant_no = ?1 AND gm.group_id = ?2 ORDER BY m.id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![no, id.to_string()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    rows.into_iter().map(|(id, display)| Ok(GroupMember { id: id.parse().map_err(backend)?, display })).collect()
}

pub(crate) fn get_group(conn: &Connection, no: i64, id: &GroupId) -> Result<Option<Group>, StoreError> {
    let found = groups_where(conn, no, "tenant_no = ?1 AND id = ?2", vec![no.into(), id.to_string().into()], true)?;
    Ok(found.into_iter().next())
}

pub(crate) fn find_groups(conn: &Connection, no: i64, lookup: &GroupLookup) -> Result<Vec<Group>, StoreError> {
    let (clause, value) = match lookup {
        GroupLookup::DisplayName(v) => ("tenant_no = ?1 AND display_key = ?2 ORDER BY id LIMIT 1000", fold_case(v)),
        GroupLookup::ExternalId(v) => ("tenant_no = ?1 AND external_id = ?2 ORDER BY id LIMIT 1000", v.clone()),
    };
    groups_where(conn, no, clause, vec![no.into(), value.into()], true)
}

pub(crate) fn list_groups(
    conn: &Connection,
    no: i64,
    listing: &Listing<GroupOrder>,
    with_members: bool,
) -> Result<Vec<Group>, StoreError> {
    let key = match listing.order {
        GroupOrder::DisplayName => "display_key",
        GroupOrder::Created => "printf('%020d', created_at)",
        GroupOrder::Id => "id",
    };
    let mut values: Vec<SqlValue> = vec![no.into()];
    let (condition, order) = keyset(key, listing.descending, listing.after.as_ref(), &mut values);
    values.push(i64::from(listing.limit).into());
    let clause = format!("tenant_no = ?1{condition}{order} LIMIT ?{}", values.len());
    groups_where(conn, no, &clause, values, with_members)
}

type ConnectionRow = (String, String, String, Vec<u8>, i64, i64, i64, Option<i64>);

fn connection_from(row: ConnectionRow) -> Result<ScimConnection, StoreError> {
    let (id, tenant, name, hash, version, created, updated, revoked) = row;
    let hash: [u8; 32] = hash.try_into().map_err(|_| backend("a token hash is not 32 bytes"))?;
    Ok(ScimConnection {
        id: id.parse().map_err(backend)?,
        tenant: TenantId::parse(&tenant).map_err(backend)?,
        name,
        token_hash: SecretHash(hash),
        version: version as u64,
        created_at: Timestamp::from_micros(created),
        updated_at: Timestamp::from_micros(updated),
        revoked_at: revoked.map(Timestamp::from_micros),
    })
}

fn connections_where(conn: &Connection, clause: &str, value: SqlValue) -> Result<Vec<ScimConnection>, StoreError> {
    let sql = format!(
        "SELECT c.id, t.id, c.name, c.token_hash, c.version, c.created_at, c.updated_at, c.revoked_at
         FROM scim_connections c JOIN tenants t ON t.no = c.tenant_no WHERE {clause}"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map([value], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<ConnectionRow>, _>>())
        .map_err(backend)?;
    rows.into_iter().map(connection_from).collect()
}

pub(crate) fn get_scim_connection(
    conn: &Connection,
    id: &ScimConnectionId,
) -> Result<Option<ScimConnection>, StoreError> {
    Ok(connections_where(conn, "c.id = ?1", id.to_string().into())?.into_iter().next())
}

pub(crate) fn list_scim_connections(conn: &Connection, no: i64) -> Result<Vec<ScimConnection>, StoreError> {
    connections_where(conn, "c.tenant_no = ?1 ORDER BY c.created_at, c.id", no.into())
}
