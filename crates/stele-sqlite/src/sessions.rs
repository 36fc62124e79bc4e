//! Credential and session rows (`member_credentials`, `viewer_sessions`): how the sign-in
//! changes of [`RecordChange`] are written inside the writer's transaction, and the reads
//! of [`stele_store::SessionStore`]. Only hashes are stored (see `stele_store::sessions`).

use rusqlite::{params, Connection, OptionalExtension};
use stele_core::{SecretHash, Timestamp};
use stele_store::directory::{Member, MemberId};
use stele_store::sessions::{
    Credential, Invite, OidcProvider, Session, ViewerLink, MAX_LIVE_LINKS_PER_TENANT, MAX_SESSIONS_PER_MEMBER,
};
use stele_store::StoreError;

use crate::backend;

fn member_is_active(conn: &Connection, no: i64, member: &MemberId) -> Result<Option<bool>, StoreError> {
    conn.query_row(
        "SELECT active FROM members WHERE tenant_no = ?1 AND id = ?2",
        params![no, member.to_string()],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)
}

/// Writes a credential (the member must exist).
pub(crate) fn put_credential(conn: &Connection, no: i64, c: &Credential) -> Result<(), StoreError> {
    if member_is_active(conn, no, &c.member)?.is_none() {
        return Err(StoreError::UnknownMember(c.member.to_string()));
    }
    conn.execute(
        "INSERT OR REPLACE INTO member_credentials (tenant_no, member_id, password_hash, invite_hash,
             invite_expires_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            no,
            c.member.to_string(),
            c.password_hash,
            c.invite.as_ref().map(|i| i.token_hash.0.to_vec()),
            c.invite.as_ref().map(|i| i.expires_at.as_micros()),
            c.updated_at.as_micros(),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

/// Creates a session of an active member, dropping its expired sessions and the oldest
/// beyond the bound.
pub(crate) fn put_session(conn: &Connection, no: i64, s: &Session) -> Result<(), StoreError> {
    if member_is_active(conn, no, &s.member)? != Some(true) {
        return Err(StoreError::UnknownMember(s.member.to_string()));
    }
    let member = s.member.to_string();
    conn.execute(
        "DELETE FROM viewer_sessions WHERE tenant_no = ?1 AND member_id = ?2 AND expires_at <= ?3",
        params![no, member, s.created_at.as_micros()],
    )
    .map_err(backend)?;
    conn.execute(
        "INSERT INTO viewer_sessions (token_hash, tenant_no, member_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![&s.token_hash.0[..], no, member, s.created_at.as_micros(), s.expires_at.as_micros()],
    )
    .map_err(backend)?;
    conn.execute(
        "DELETE FROM viewer_sessions WHERE tenant_no = ?1 AND member_id = ?2 AND token_hash NOT IN (
             SELECT token_hash FROM viewer_sessions WHERE tenant_no = ?1 AND member_id = ?2
             ORDER BY created_at DESC, token_hash DESC LIMIT ?3)",
        params![no, member, MAX_SESSIONS_PER_MEMBER as i64],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn delete_session(
    conn: &Connection,
    no: i64,
    member: &MemberId,
    hash: &SecretHash,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM viewer_sessions WHERE tenant_no = ?1 AND member_id = ?2 AND token_hash = ?3",
        params![no, member.to_string(), &hash.0[..]],
    )
    .map_err(backend)?;
    Ok(())
}

/// What goes with a deleted member: its credential and sessions.
pub(crate) fn forget_member(conn: &Connection, no: i64, member: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM viewer_sessions WHERE tenant_no = ?1 AND member_id = ?2", params![no, member])
        .map_err(backend)?;
    conn.execute("DELETE FROM member_credentials WHERE tenant_no = ?1 AND member_id = ?2", params![no, member])
        .map_err(backend)?;
    Ok(())
}

fn hash_of(bytes: Vec<u8>) -> Result<SecretHash, StoreError> {
    let hash: [u8; 32] = bytes.try_into().map_err(|_| backend("a stored token hash is not 32 bytes"))?;
    Ok(SecretHash(hash))
}

pub(crate) fn credential(conn: &Connection, no: i64, member: &MemberId) -> Result<Option<Credential>, StoreError> {
    type Row = (Option<String>, Option<Vec<u8>>, Option<i64>, i64);
    let row: Option<Row> = conn
        .query_row(
            "SELECT password_hash, invite_hash, invite_expires_at, updated_at FROM member_credentials
             WHERE tenant_no = ?1 AND member_id = ?2",
            params![no, member.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(backend)?;
    let Some((password_hash, invite_hash, invite_expires, updated)) = row else { return Ok(None) };
    let invite = match (invite_hash, invite_expires) {
        (Some(h), Some(at)) => Some(Invite { token_hash: hash_of(h)?, expires_at: Timestamp::from_micros(at) }),
        _ => None,
    };
    Ok(Some(Credential { member: *member, password_hash, invite, updated_at: Timestamp::from_micros(updated) }))
}

pub(crate) fn session(
    conn: &Connection,
    no: i64,
    hash: &SecretHash,
    now: Timestamp,
) -> Result<Option<(Session, Member)>, StoreError> {
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT s.member_id, s.created_at, s.expires_at FROM viewer_sessions s
             JOIN members m ON m.tenant_no = s.tenant_no AND m.id = s.member_id
             WHERE s.token_hash = ?1 AND s.tenant_no = ?2 AND s.expires_at > ?3 AND m.active",
            params![&hash.0[..], no, now.as_micros()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(backend)?;
    let Some((member, created, expires)) = row else { return Ok(None) };
    let id: MemberId = member.parse().map_err(backend)?;
    let Some(m) = crate::directory::get_member(conn, no, &id)?.filter(|m| m.active) else { return Ok(None) };
    let session = Session {
        token_hash: *hash,
        member: id,
        created_at: Timestamp::from_micros(created),
        expires_at: Timestamp::from_micros(expires),
    };
    Ok(Some((session, m)))
}

pub(crate) fn count_sessions(conn: &Connection, no: i64, member: &MemberId) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM viewer_sessions WHERE tenant_no = ?1 AND member_id = ?2",
            params![no, member.to_string()],
            |r| r.get(0),
        )
        .map_err(backend)?;
    Ok(n as u64)
}

/// Makes an embed link of key `link.key` (which must be the tenant's), after dropping the
/// tenant's dead links, within the bound of live ones.
pub(crate) fn put_link(conn: &Connection, no: i64, link: &ViewerLink) -> Result<(), StoreError> {
    let key = link.key.to_string();
    let owned: Option<i64> = conn
        .query_row("SELECT 1 FROM keys WHERE id = ?1 AND tenant_no = ?2", params![key, no], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    if owned.is_none() {
        return Err(StoreError::KeyNotFound(link.key.clone()));
    }
    let now = link.created_at.as_micros();
    conn.execute(
        "DELETE FROM viewer_links WHERE tenant_no = ?1 AND expires_at <= ?2
             AND (session_expires_at IS NULL OR session_expires_at <= ?2)",
        params![no, now],
    )
    .map_err(backend)?;
    let live: i64 = conn
        .query_row("SELECT COUNT(*) FROM viewer_links WHERE tenant_no = ?1", params![no], |r| r.get(0))
        .map_err(backend)?;
    if live as u64 >= MAX_LIVE_LINKS_PER_TENANT {
        return Err(StoreError::Conflict("viewer links".into()));
    }
    conn.execute(
        "INSERT INTO viewer_links (token_hash, tenant_no, key_id, view_filter, export, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![&link.token_hash.0[..], no, key, link.view_filter, link.export, now, link.expires_at.as_micros()],
    )
    .map_err(backend)?;
    Ok(())
}

/// Opens an unopened, unexpired link whose key is not revoked, once.
pub(crate) fn open_link(
    conn: &Connection,
    no: i64,
    key: &stele_core::KeyId,
    token: &SecretHash,
    session: &SecretHash,
    session_expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let opened = conn
        .execute(
            "UPDATE viewer_links SET session_hash = ?1, session_expires_at = ?2
             WHERE token_hash = ?3 AND tenant_no = ?4 AND session_hash IS NULL AND expires_at > ?5
               AND key_id = ?6 AND EXISTS (SELECT 1 FROM keys k WHERE k.id = viewer_links.key_id AND k.tenant_no = ?4
                           AND k.revoked_at IS NULL)",
            params![&session.0[..], session_expires_at.as_micros(), &token.0[..], no, now.as_micros(), key.to_string()],
        )
        .map_err(backend)?;
    if opened == 0 {
        return Err(StoreError::RecordNotFound("viewer link", "(used, expired or unknown)".into()));
    }
    Ok(())
}

pub(crate) fn link_session(
    conn: &Connection,
    no: i64,
    session: &SecretHash,
    now: Timestamp,
) -> Result<Option<ViewerLink>, StoreError> {
    type Row = (Vec<u8>, String, Option<String>, bool, i64, i64);
    let row: Option<Row> = conn
        .query_row(
            "SELECT l.token_hash, l.key_id, l.view_filter, l.export, l.created_at, l.expires_at
             FROM viewer_links l JOIN keys k ON k.id = l.key_id AND k.tenant_no = l.tenant_no
             WHERE l.session_hash = ?1 AND l.tenant_no = ?2 AND l.session_expires_at > ?3
               AND k.revoked_at IS NULL",
            params![&session.0[..], no, now.as_micros()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()
        .map_err(backend)?;
    let Some((token, key, view_filter, export, created, expires)) = row else { return Ok(None) };
    Ok(Some(ViewerLink {
        token_hash: hash_of(token)?,
        key: key.parse().map_err(backend)?,
        view_filter,
        export,
        created_at: Timestamp::from_micros(created),
        expires_at: Timestamp::from_micros(expires),
    }))
}

/// Sets or removes the tenant's OpenID Connect provider (versioned like every record).
pub(crate) fn put_oidc(
    conn: &Connection,
    no: i64,
    provider: Option<&OidcProvider>,
    previous: Option<u64>,
) -> Result<(), StoreError> {
    let stored: Option<i64> = conn
        .query_row("SELECT version FROM oidc_providers WHERE tenant_no = ?1", [no], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    crate::directory::check_version(stored.map(|v| v as u64), previous, "oidc provider", "")?;
    match provider {
        None => {
            conn.execute("DELETE FROM oidc_providers WHERE tenant_no = ?1", [no]).map_err(backend)?;
        }
        Some(p) => {
            conn.execute(
                "INSERT OR REPLACE INTO oidc_providers (tenant_no, issuer, client_id, client_secret, name, version,
                     updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    no,
                    p.issuer,
                    p.client_id,
                    p.client_secret_sealed,
                    p.name,
                    p.version as i64,
                    p.updated_at.as_micros()
                ],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

pub(crate) fn oidc_provider(conn: &Connection, no: i64) -> Result<Option<OidcProvider>, StoreError> {
    conn.query_row(
        "SELECT issuer, client_id, client_secret, name, version, updated_at FROM oidc_providers WHERE tenant_no = ?1",
        [no],
        |r| {
            Ok(OidcProvider {
                issuer: r.get(0)?,
                client_id: r.get(1)?,
                client_secret_sealed: r.get(2)?,
                name: r.get(3)?,
                version: r.get::<_, i64>(4)? as u64,
                updated_at: Timestamp::from_micros(r.get(5)?),
            })
        },
    )
    .optional()
    .map_err(backend)
}
