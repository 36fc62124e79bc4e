//! The directory's rows (members, groups, SCIM connections) on PostgreSQL: how a
//! [`RecordChange`] is written inside the writer's group transaction, and the reads of
//! [`stele_store::DirectoryStore`]. The SQL mirrors the SQLite backend's `directory.rs`;
//! the version and uniqueness rules are checked after the tenant's head row is locked, so
//! two nodes changing one tenant's directory take turns. A unique index still backs
//! `userName` (a race it catches becomes `Conflict("userName")`).

use stele_core::{SecretHash, TenantId, Timestamp};
use stele_store::directory::{
    fold_case, Group, GroupId, GroupLookup, GroupMember, GroupOrder, ListAfter, Listing, Member, MemberGroup, MemberId,
    MemberLookup, MemberOrder, RecordChange, Role, ScimConnection, ScimConnectionId,
};
use stele_store::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};

use crate::backend;
use crate::writer::Fail;

/// Applies one change for tenant `no`, whose head row the caller holds locked.
pub(crate) async fn apply(tx: &Transaction<'_>, no: i64, tenant: &TenantId, change: &RecordChange) -> Result<(), Fail> {
    match change {
        RecordChange::PutMember { member: m, previous } => {
            let id = m.id.to_string();
            check_version(version(tx, "members", no, &id).await?, *previous, "member", &id)?;
            let key = fold_case(&m.user_name);
            let clash = tx
                .query_opt(
                    "SELECT 1 FROM members WHERE tenant_no = $1 AND user_name_key = $2 AND id <> $3",
                    &[&no, &key, &id],
                )
                .await?;
            if clash.is_some() {
                return Err(StoreError::Conflict("userName".into()).into());
            }
            let email_key = m.email.as_deref().map(fold_case);
            let written = tx
                .execute(
                    "INSERT INTO members (tenant_no, id, user_name, user_name_key, external_id, display_name, email,
                         email_key, active, role, resource, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (tenant_no, id) DO UPDATE SET user_name = EXCLUDED.user_name,
                         user_name_key = EXCLUDED.user_name_key, external_id = EXCLUDED.external_id,
                         display_name = EXCLUDED.display_name, email = EXCLUDED.email, email_key = EXCLUDED.email_key,
                         active = EXCLUDED.active, role = EXCLUDED.role, resource = EXCLUDED.resource,
                         version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
                    &[
                        &no,
                        &id,
                        &m.user_name,
                        &key,
                        &m.external_id,
                        &m.display_name,
                        &m.email,
                        &email_key,
                        &m.active,
                        &m.role.as_str(),
                        &m.resource,
                        &(m.version as i64),
                        &m.created_at.as_micros(),
                        &m.updated_at.as_micros(),
                    ],
                )
                .await;
            match written {
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Err(StoreError::Conflict("userName".into()).into())
                }
                other => drop(other?),
            }
        }
        RecordChange::DeleteMember { id, previous } => {
            let id = id.to_string();
            check_version(version(tx, "members", no, &id).await?, Some(*previous), "member", &id)?;
            tx.execute("DELETE FROM group_members WHERE tenant_no = $1 AND member_id = $2", &[&no, &id]).await?;
            tx.execute("DELETE FROM members WHERE tenant_no = $1 AND id = $2", &[&no, &id]).await?;
            crate::sessions::forget_member(tx, no, &id).await?;
        }
        RecordChange::PutGroup { group: g, previous } => {
            let id = g.id.to_string();
            check_version(version(tx, "directory_groups", no, &id).await?, *previous, "group", &id)?;
            let members: Vec<String> = g.members.iter().map(|m| m.id.to_string()).collect();
            let missing = tx
                .query_opt(
                    "SELECT m FROM unnest($2::text[]) AS m
                     WHERE NOT EXISTS (SELECT 1 FROM members WHERE tenant_no = $1 AND id = m) LIMIT 1",
                    &[&no, &members],
                )
                .await?;
            if let Some(row) = missing {
                return Err(StoreError::UnknownMember(row.get(0)).into());
            }
            tx.execute(
                "INSERT INTO directory_groups (tenant_no, id, display_name, display_key, external_id, role, resource,
                     version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (tenant_no, id) DO UPDATE SET display_name = EXCLUDED.display_name,
                     display_key = EXCLUDED.display_key, external_id = EXCLUDED.external_id, role = EXCLUDED.role,
                     resource = EXCLUDED.resource, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
                &[
                    &no,
                    &id,
                    &g.display_name,
                    &fold_case(&g.display_name),
                    &g.external_id,
                    &g.role.map(Role::as_str),
                    &g.resource,
                    &(g.version as i64),
                    &g.created_at.as_micros(),
                    &g.updated_at.as_micros(),
                ],
            )
            .await?;
            tx.execute("DELETE FROM group_members WHERE tenant_no = $1 AND group_id = $2", &[&no, &id]).await?;
            tx.execute(
                "INSERT INTO group_members (tenant_no, group_id, member_id)
                 SELECT $1, $2, m FROM unnest($3::text[]) AS m ON CONFLICT DO NOTHING",
                &[&no, &id, &members],
            )
            .await?;
        }
        RecordChange::DeleteGroup { id, previous } => {
            let id = id.to_string();
            check_version(version(tx, "directory_groups", no, &id).await?, Some(*previous), "group", &id)?;
            tx.execute("DELETE FROM group_members WHERE tenant_no = $1 AND group_id = $2", &[&no, &id]).await?;
            tx.execute("DELETE FROM directory_groups WHERE tenant_no = $1 AND id = $2", &[&no, &id]).await?;
        }
        RecordChange::PutScimConnection { connection: c, previous } => {
            let id = c.id.to_string();
            if &c.tenant != tenant {
                return Err(StoreError::RecordNotFound("scim connection", id).into());
            }
            // Connection ids are global (the endpoints name only the id): one of another
            // tenant is never replaced.
            let owner = tx
                .query_opt("SELECT tenant_no, version FROM scim_connections WHERE id = $1 FOR UPDATE", &[&id])
                .await?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1) as u64));
            if owner.is_some_and(|(owner, _)| owner != no) {
                return Err(StoreError::Conflict("id".into()).into());
            }
            check_version(owner.map(|(_, v)| v), *previous, "scim connection", &id)?;
            tx.execute(
                "INSERT INTO scim_connections (id, tenant_no, name, token_hash, version, created_at, updated_at,
                     revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, token_hash = EXCLUDED.token_hash,
                     version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, revoked_at = EXCLUDED.revoked_at",
                &[
                    &id,
                    &no,
                    &c.name,
                    &&c.token_hash.0[..],
                    &(c.version as i64),
                    &c.created_at.as_micros(),
                    &c.updated_at.as_micros(),
                    &c.revoked_at.map(Timestamp::as_micros),
                ],
            )
            .await?;
        }
        RecordChange::PutCredential { credential } => crate::sessions::put_credential(tx, no, credential).await?,
        RecordChange::PutSession { session } => crate::sessions::put_session(tx, no, session).await?,
        RecordChange::DeleteSession { member, token_hash } => {
            crate::sessions::delete_session(tx, no, member, token_hash).await?
        }
        RecordChange::PutViewerLink { link } => crate::sessions::put_link(tx, no, link).await?,
        RecordChange::OpenViewerLink { key, token_hash, session_hash, session_expires_at, now } => {
            crate::sessions::open_link(tx, no, key, token_hash, session_hash, *session_expires_at, *now).await?
        }
        RecordChange::PutOidcProvider { provider, previous } => {
            crate::sessions::put_oidc(tx, no, provider.as_ref(), *previous).await?
        }
        RecordChange::PutStream { stream, previous, start } => {
            crate::delivery::put(tx, no, stream, *previous, *start).await?
        }
        RecordChange::DeleteStream { id, previous } => crate::delivery::delete(tx, no, id, *previous).await?,
        RecordChange::ClaimStream { id, node, until, now } => {
            crate::delivery::claim(tx, no, id, node, *until, *now).await?
        }
        RecordChange::StreamDelivered { id, node, cursor, delivered, at } => {
            crate::delivery::delivered(tx, no, id, node, *cursor, *delivered, *at).await?
        }
        RecordChange::StreamFailed { id, node, error, at } => {
            crate::delivery::failed(tx, no, id, node, error, *at).await?
        }
        RecordChange::PutRetention { policy, previous } => crate::retention::put(tx, no, policy, *previous).await?,
    }
    Ok(())
}

/// The stored version of a record of tenant `no` (`table` is one of the fixed names above).
async fn version(tx: &Transaction<'_>, table: &str, no: i64, id: &str) -> Result<Option<u64>, Fail> {
    let sql = format!("SELECT version FROM {table} WHERE tenant_no = $1 AND id = $2");
    Ok(tx.query_opt(&sql, &[&no, &id]).await?.map(|r| r.get::<_, i64>(0) as u64))
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

fn member_from(r: &Row) -> Result<Member, StoreError> {
    let role: String = r.get(6);
    Ok(Member {
        id: r.get::<_, &str>(0).parse().map_err(backend)?,
        user_name: r.get(1),
        external_id: r.get(2),
        display_name: r.get(3),
        email: r.get(4),
        active: r.get(5),
        role: Role::parse(&role).ok_or_else(|| backend(format!("unknown role {role:?}")))?,
        resource: r.get(7),
        version: r.get::<_, i64>(8) as u64,
        created_at: Timestamp::from_micros(r.get(9)),
        updated_at: Timestamp::from_micros(r.get(10)),
    })
}

async fn members_where(
    client: &impl GenericClient,
    clause: &str,
    values: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Member>, StoreError> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE {clause}");
    let rows = client.query(&sql, values).await.map_err(backend)?;
    rows.iter().map(member_from).collect()
}

pub(crate) async fn get_member(
    client: &impl GenericClient,
    no: i64,
    id: &MemberId,
) -> Result<Option<Member>, StoreError> {
    let id = id.to_string();
    Ok(members_where(client, "tenant_no = $1 AND id = $2", &[&no, &id]).await?.into_iter().next())
}

pub(crate) async fn find_members(
    client: &impl GenericClient,
    no: i64,
    lookup: &MemberLookup,
) -> Result<Vec<Member>, StoreError> {
    let (clause, value) = match lookup {
        MemberLookup::UserName(v) => ("tenant_no = $1 AND user_name_key = $2 ORDER BY id", fold_case(v)),
        MemberLookup::ExternalId(v) => ("tenant_no = $1 AND external_id = $2 ORDER BY id LIMIT 1000", v.clone()),
        MemberLookup::Email(v) => ("tenant_no = $1 AND email_key = $2 ORDER BY id LIMIT 1000", fold_case(v)),
    };
    members_where(client, clause, &[&no, &value]).await
}

/// The keyset condition (on `$2`, `$3`) and order of a listing; `key` is a column expression.
fn keyset(key: &str, descending: bool, after: bool) -> (String, String) {
    let (cmp, dir) = if descending { ("<", "DESC") } else { (">", "ASC") };
    let condition = if after { format!(" AND ({key}, id) {cmp} ($2, $3)") } else { String::new() };
    (condition, format!(" ORDER BY {key} {dir}, id {dir}"))
}

/// The page's clause and parameters after `$1` (the tenant).
fn page(key: &str, descending: bool, after: Option<&ListAfter>, limit: u32) -> (String, Vec<String>, i64) {
    let (condition, order) = keyset(key, descending, after.is_some());
    let limit_at = if after.is_some() { 4 } else { 2 };
    let values = after.map(|a| vec![a.key.clone(), a.id.clone()]).unwrap_or_default();
    (format!("tenant_no = $1{condition}{order} LIMIT ${limit_at}"), values, i64::from(limit))
}

const CREATED_KEY: &str = "lpad(created_at::text, 20, '0') COLLATE \"C\"";

pub(crate) async fn list_members(
    client: &impl GenericClient,
    no: i64,
    listing: &Listing<MemberOrder>,
) -> Result<Vec<Member>, StoreError> {
    let key = match listing.order {
        MemberOrder::UserName => "user_name_key",
        MemberOrder::Created => CREATED_KEY,
        MemberOrder::Id => "id",
    };
    let (clause, after, limit) = page(key, listing.descending, listing.after.as_ref(), listing.limit);
    match after.as_slice() {
        [k, id] => members_where(client, &clause, &[&no, k, id, &limit]).await,
        _ => members_where(client, &clause, &[&no, &limit]).await,
    }
}

pub(crate) async fn count(client: &impl GenericClient, table: &str, no: i64) -> Result<u64, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_no = $1");
    let n: i64 = client.query_one(&sql, &[&no]).await.map_err(backend)?.get(0);
    Ok(n as u64)
}

pub(crate) async fn member_groups(
    client: &impl GenericClient,
    no: i64,
    id: &MemberId,
) -> Result<Vec<MemberGroup>, StoreError> {
    let rows = client
        .query(
            "SELECT g.id, g.display_name, g.role FROM group_members m
             JOIN directory_groups g ON g.tenant_no = m.tenant_no AND g.id = m.group_id
             WHERE m.tenant_no = $1 AND m.member_id = $2 ORDER BY g.display_key, g.id",
            &[&no, &id.to_string()],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|r| {
            Ok(MemberGroup {
                id: r.get::<_, &str>(0).parse().map_err(backend)?,
                display_name: r.get(1),
                role: r.get::<_, Option<&str>>(2).and_then(Role::parse),
            })
        })
        .collect()
}

const GROUP_COLUMNS: &str = "id, display_name, external_id, role, resource, version, created_at, updated_at";

fn group_from(r: &Row) -> Result<Group, StoreError> {
    Ok(Group {
        id: r.get::<_, &str>(0).parse().map_err(backend)?,
        display_name: r.get(1),
        external_id: r.get(2),
        role: r.get::<_, Option<&str>>(3).and_then(Role::parse),
        resource: r.get(4),
        members: Vec::new(),
        version: r.get::<_, i64>(5) as u64,
        created_at: Timestamp::from_micros(r.get(6)),
        updated_at: Timestamp::from_micros(r.get(7)),
    })
}

async fn groups_where(
    client: &impl GenericClient,
    no: i64,
    clause: &str,
    values: &[&(dyn ToSql + Sync)],
    with_members: bool,
) -> Result<Vec<Group>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM directory_groups WHERE {clause}");
    let rows = client.query(&sql, values).await.map_err(backend)?;
    let mut groups: Vec<Group> = rows.iter().map(group_from).collect::<Result<_, _>>()?;
    if with_members {
        for g in &mut groups {
            g.members = group_members(client, no, &g.id).await?;
        }
    }
    Ok(groups)
}

async fn group_members(client: &impl GenericClient, no: i64, id: &GroupId) -> Result<Vec<GroupMember>, StoreError> {
    let rows = client
        .query(
            "SELECT m.id, COALESCE(m.display_name, m.user_name) FROM group_members gm
             JOIN members m ON m.tenant_no = gm.tenant_no AND m.id = gm.member_id
             WHERE gm.tenant_no = $1 AND gm.group_id = $2 ORDER BY m.id",
            &[&no, &id.to_string()],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|r| Ok(GroupMember { id: r.get::<_, &str>(0).parse().map_err(backend)?, display: r.get(1) }))
        .collect()
}

pub(crate) async fn get_group(client: &impl GenericClient, no: i64, id: &GroupId) -> Result<Option<Group>, StoreError> {
    let id = id.to_string();
    Ok(groups_where(client, no, "tenant_no = $1 AND id = $2", &[&no, &id], true).await?.into_iter().next())
}

pub(crate) async fn find_groups(
    client: &impl GenericClient,
    no: i64,
    lookup: &GroupLookup,
) -> Result<Vec<Group>, StoreError> {
    let (clause, value) = match lookup {
        GroupLookup::DisplayName(v) => ("tenant_no = $1 AND display_key = $2 ORDER BY id LIMIT 1000", fold_case(v)),
        GroupLookup::ExternalId(v) => ("tenant_no = $1 AND external_id = $2 ORDER BY id LIMIT 1000", v.clone()),
    };
    groups_where(client, no, clause, &[&no, &value], true).await
}

pub(crate) async fn list_groups(
    client: &impl GenericClient,
    no: i64,
    listing: &Listing<GroupOrder>,
    with_members: bool,
) -> Result<Vec<Group>, StoreError> {
    let key = match listing.order {
        GroupOrder::DisplayName => "display_key",
        GroupOrder::Created => CREATED_KEY,
        GroupOrder::Id => "id",
    };
    let (clause, after, limit) = page(key, listing.descending, listing.after.as_ref(), listing.limit);
    match after.as_slice() {
        [k, id] => groups_where(client, no, &clause, &[&no, k, id, &limit], with_members).await,
        _ => groups_where(client, no, &clause, &[&no, &limit], with_members).await,
    }
}

fn connection_from(r: &Row) -> Result<ScimConnection, StoreError> {
    let hash: &[u8] = r.get(3);
    let hash: [u8; 32] = hash.try_into().map_err(|_| backend("a token hash is not 32 bytes"))?;
    Ok(ScimConnection {
        id: r.get::<_, &str>(0).parse().map_err(backend)?,
        tenant: TenantId::parse(r.get::<_, &str>(1)).map_err(backend)?,
        name: r.get(2),
        token_hash: SecretHash(hash),
        version: r.get::<_, i64>(4) as u64,
        created_at: Timestamp::from_micros(r.get(5)),
        updated_at: Timestamp::from_micros(r.get(6)),
        revoked_at: r.get::<_, Option<i64>>(7).map(Timestamp::from_micros),
    })
}

const CONNECTION_SELECT: &str = "SELECT c.id, t.id, c.name, c.token_hash, c.version, c.created_at, c.updated_at, \
                                 c.revoked_at FROM scim_connections c JOIN tenants t ON t.no = c.tenant_no";

pub(crate) async fn get_scim_connection(
    client: &impl GenericClient,
    id: &ScimConnectionId,
) -> Result<Option<ScimConnection>, StoreError> {
    let sql = format!("{CONNECTION_SELECT} WHERE c.id = $1");
    let row = client.query_opt(&sql, &[&id.to_string()]).await.map_err(backend)?;
    row.as_ref().map(connection_from).transpose()
}

pub(crate) async fn list_scim_connections(
    client: &impl GenericClient,
    no: i64,
) -> Result<Vec<ScimConnection>, StoreError> {
    let sql = format!("{CONNECTION_SELECT} WHERE c.tenant_no = $1 ORDER BY c.created_at, c.id");
    let rows = client.query(&sql, &[&no]).await.map_err(backend)?;
    rows.iter().map(connection_from).collect()
}
