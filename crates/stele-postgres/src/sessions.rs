//! Credential and session rows on PostgreSQL, mirroring the SQLite backend's
//! `sessions.rs`: the sign-in changes of [`RecordChange`](stele_store::directory::RecordChange)
//! inside the writer's transaction (the tenant's head row is locked by then), and the reads of
//! [`stele_store::SessionStore`]. Only hashes are stored.

use stele_core::{SecretHash, Timestamp};
use stele_store::directory::{Member, MemberId};
use stele_store::sessions::{
    Credential, Invite, OidcProvider, Session, ViewerLink, MAX_LIVE_LINKS_PER_TENANT, MAX_SESSIONS_PER_MEMBER,
};
use stele_store::StoreError;
use tokio_postgres::{GenericClient, Transaction};

use crate::backend;
use crate::writer::Fail;

async fn member_is_active(tx: &Transaction<'_>, no: i64, member: &str) -> Result<Option<bool>, Fail> {
    Ok(tx
        .query_opt("SELECT active FROM members WHERE tenant_no = $1 AND id = $2", &[&no, &member])
        .await?
        .map(|r| r.get(0)))
}

pub(crate) async fn put_credential(tx: &Transaction<'_>, no: i64, c: &Credential) -> Result<(), Fail> {
    let member = c.member.to_string();
    if member_is_active(tx, no, &member).await?.is_none() {
        return Err(StoreError::UnknownMember(member).into());
    }
    let invite_hash = c.invite.as_ref().map(|i| i.token_hash.0.to_vec());
    let invite_expires = c.invite.as_ref().map(|i| i.expires_at.as_micros());
    tx.execute(
        "INSERT INTO member_credentials (tenant_no, member_id, password_hash, invite_hash, invite_expires_at,
             updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_no, member_id) DO UPDATE SET password_hash = EXCLUDED.password_hash,
             invite_hash = EXCLUDED.invite_hash, invite_expires_at = EXCLUDED.invite_expires_at,
             updated_at = EXCLUDED.updated_at",
        &[&no, &member, &c.password_hash, &invite_hash, &invite_expires, &c.updated_at.as_micros()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn put_session(tx: &Transaction<'_>, no: i64, s: &Session) -> Result<(), Fail> {
    let member = s.member.to_string();
    if member_is_active(tx, no, &member).await? != Some(true) {
        return Err(StoreError::UnknownMember(member).into());
    }
    tx.execute(
        "DELETE FROM viewer_sessions WHERE tenant_no = $1 AND member_id = $2 AND expires_at <= $3",
        &[&no, &member, &s.created_at.as_micros()],
    )
    .await?;
    tx.execute(
        "INSERT INTO viewer_sessions (token_hash, tenant_no, member_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&&s.token_hash.0[..], &no, &member, &s.created_at.as_micros(), &s.expires_at.as_micros()],
    )
    .await?;
    tx.execute(
        "DELETE FROM viewer_sessions WHERE tenant_no = $1 AND member_id = $2 AND token_hash NOT IN (
             SELECT token_hash FROM viewer_sessions WHERE tenant_no = $1 AND member_id = $2
             ORDER BY created_at DESC, token_hash DESC LIMIT $3)",
        &[&no, &member, &(MAX_SESSIONS_PER_MEMBER as i64)],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete_session(
    tx: &Transaction<'_>,
    no: i64,
    member: &MemberId,
    hash: &SecretHash,
) -> Result<(), Fail> {
    tx.execute(
        "DELETE FROM viewer_sessions WHERE tenant_no = $1 AND member_id = $2 AND token_hash = $3",
        &[&no, &member.to_string(), &&hash.0[..]],
    )
    .await?;
    Ok(())
}

/// What goes with a deleted member: its credential and sessions.
pub(crate) async fn forget_member(tx: &Transaction<'_>, no: i64, member: &str) -> Result<(), Fail> {
    tx.execute("DELETE FROM viewer_sessions WHERE tenant_no = $1 AND member_id = $2", &[&no, &member]).await?;
    tx.execute("DELETE FROM member_credentials WHERE tenant_no = $1 AND member_id = $2", &[&no, &member]).await?;
    Ok(())
}

fn hash_of(bytes: Vec<u8>) -> Result<SecretHash, StoreError> {
    let hash: [u8; 32] = bytes.try_into().map_err(|_| backend("a stored token hash is not 32 bytes"))?;
    Ok(SecretHash(hash))
}

pub(crate) async fn credential(
    client: &impl GenericClient,
    no: i64,
    member: &MemberId,
) -> Result<Option<Credential>, StoreError> {
    let row = client
        .query_opt(
            "SELECT password_hash, invite_hash, invite_expires_at, updated_at FROM member_credentials
             WHERE tenant_no = $1 AND member_id = $2",
            &[&no, &member.to_string()],
        )
        .await
        .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let invite = match (row.get::<_, Option<Vec<u8>>>(1), row.get::<_, Option<i64>>(2)) {
        (Some(h), Some(at)) => Some(Invite { token_hash: hash_of(h)?, expires_at: Timestamp::from_micros(at) }),
        _ => None,
    };
    Ok(Some(Credential {
        member: *member,
        password_hash: row.get(0),
        invite,
        updated_at: Timestamp::from_micros(row.get(3)),
    }))
}

pub(crate) async fn session(
    client: &impl GenericClient,
    no: i64,
    hash: &SecretHash,
    now: Timestamp,
) -> Result<Option<(Session, Member)>, StoreError> {
    let row = client
        .query_opt(
            "SELECT s.member_id, s.created_at, s.expires_at FROM viewer_sessions s
             JOIN members m ON m.tenant_no = s.tenant_no AND m.id = s.member_id
             WHERE s.token_hash = $1 AND s.tenant_no = $2 AND s.expires_at > $3 AND m.active",
            &[&&hash.0[..], &no, &now.as_micros()],
        )
        .await
        .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let id: MemberId = row.get::<_, &str>(0).parse().map_err(backend)?;
    let Some(m) = crate::directory::get_member(client, no, &id).await?.filter(|m| m.active) else { return Ok(None) };
    let session = Session {
        token_hash: *hash,
        member: id,
        created_at: Timestamp::from_micros(row.get(1)),
        expires_at: Timestamp::from_micros(row.get(2)),
    };
    Ok(Some((session, m)))
}

pub(crate) async fn count_sessions(client: &impl GenericClient, no: i64, member: &MemberId) -> Result<u64, StoreError> {
    let row = client
        .query_one(
            "SELECT COUNT(*) FROM viewer_sessions WHERE tenant_no = $1 AND member_id = $2",
            &[&no, &member.to_string()],
        )
        .await
        .map_err(backend)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Makes an embed link of key `link.key` (which must be the tenant's), after dropping the
/// tenant's dead links, within the bound of live ones (see the SQLite backend).
pub(crate) async fn put_link(tx: &Transaction<'_>, no: i64, link: &ViewerLink) -> Result<(), Fail> {
    let key = link.key.to_string();
    let owned = tx.query_opt("SELECT 1 FROM keys WHERE id = $1 AND tenant_no = $2", &[&key, &no]).await?;
    if owned.is_none() {
        return Err(StoreError::KeyNotFound(link.key.clone()).into());
    }
    let now = link.created_at.as_micros();
    tx.execute(
        "DELETE FROM viewer_links WHERE tenant_no = $1 AND expires_at <= $2
             AND (session_expires_at IS NULL OR session_expires_at <= $2)",
        &[&no, &now],
    )
    .await?;
    let live: i64 = tx.query_one("SELECT COUNT(*) FROM viewer_links WHERE tenant_no = $1", &[&no]).await?.get(0);
    if live as u64 >= MAX_LIVE_LINKS_PER_TENANT {
        return Err(StoreError::Conflict("viewer links".into()).into());
    }
    tx.execute(
        "INSERT INTO viewer_links (token_hash, tenant_no, key_id, view_filter, export, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&&link.token_hash.0[..], &no, &key, &link.view_filter, &link.export, &now, &link.expires_at.as_micros()],
    )
    .await?;
    Ok(())
}

/// Opens an unopened, unexpired link whose key is not revoked, once.
pub(crate) async fn open_link(
    tx: &Transaction<'_>,
    no: i64,
    key: &stele_core::KeyId,
    token: &SecretHash,
    session: &SecretHash,
    session_expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), Fail> {
    let opened = tx
        .execute(
            "UPDATE viewer_links SET session_hash = $1, session_expires_at = $2
             WHERE token_hash = $3 AND tenant_no = $4 AND session_hash IS NULL AND expires_at > $5
               AND key_id = $6 AND EXISTS (SELECT 1 FROM keys k WHERE k.id = viewer_links.key_id AND k.tenant_no = $4
                           AND k.revoked_at IS NULL)",
            &[&&session.0[..], &session_expires_at.as_micros(), &&token.0[..], &no, &now.as_micros(), &key.to_string()],
        )
        .await?;
    if opened == 0 {
        return Err(StoreError::RecordNotFound("viewer link", "(used, expired or unknown)".into()).into());
    }
    Ok(())
}

pub(crate) async fn link_session(
    client: &impl GenericClient,
    no: i64,
    session: &SecretHash,
    now: Timestamp,
) -> Result<Option<ViewerLink>, StoreError> {
    let row = client
        .query_opt(
            "SELECT l.token_hash, l.key_id, l.view_filter, l.export, l.created_at, l.expires_at
             FROM viewer_links l JOIN keys k ON k.id = l.key_id AND k.tenant_no = l.tenant_no
             WHERE l.session_hash = $1 AND l.tenant_no = $2 AND l.session_expires_at > $3
               AND k.revoked_at IS NULL",
            &[&&session.0[..], &no, &now.as_micros()],
        )
        .await
        .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ViewerLink {
        token_hash: hash_of(row.get(0))?,
        key: row.get::<_, String>(1).parse().map_err(backend)?,
        view_filter: row.get(2),
        export: row.get(3),
        created_at: Timestamp::from_micros(row.get(4)),
        expires_at: Timestamp::from_micros(row.get(5)),
    }))
}

/// Sets or removes the tenant's OpenID Connect provider (versioned like every record).
pub(crate) async fn put_oidc(
    tx: &Transaction<'_>,
    no: i64,
    provider: Option<&OidcProvider>,
    previous: Option<u64>,
) -> Result<(), Fail> {
    let stored = tx
        .query_opt("SELECT version FROM oidc_providers WHERE tenant_no = $1", &[&no])
        .await?
        .map(|r| r.get::<_, i64>(0) as u64);
    crate::directory::check_version(stored, previous, "oidc provider", "")?;
    match provider {
        None => {
            tx.execute("DELETE FROM oidc_providers WHERE tenant_no = $1", &[&no]).await?;
        }
        Some(p) => {
            tx.execute(
                "INSERT INTO oidc_providers (tenant_no, issuer, client_id, client_secret, name, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_no) DO UPDATE SET issuer = EXCLUDED.issuer, client_id = EXCLUDED.client_id,
                     client_secret = EXCLUDED.client_secret, name = EXCLUDED.name, version = EXCLUDED.version,
                     updated_at = EXCLUDED.updated_at",
                &[
                    &no,
                    &p.issuer,
                    &p.client_id,
                    &p.client_secret_sealed,
                    &p.name,
                    &(p.version as i64),
                    &p.updated_at.as_micros(),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

pub(crate) async fn oidc_provider(client: &impl GenericClient, no: i64) -> Result<Option<OidcProvider>, StoreError> {
    let row = client
        .query_opt(
            "SELECT issuer, client_id, client_secret, name, version, updated_at FROM oidc_providers
             WHERE tenant_no = $1",
            &[&no],
        )
        .await
        .map_err(backend)?;
    Ok(row.map(|r| OidcProvider {
        issuer: r.get(0),
        client_id: r.get(1),
        client_secret_sealed: r.get(2),
        name: r.get(3),
        version: r.get::<_, i64>(4) as u64,
        updated_at: Timestamp::from_micros(r.get(5)),
    }))
}
