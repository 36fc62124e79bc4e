//! What lets a member sign in to the viewer: a credential (the password's argon2id hash
//! and a pending invite's token hash) and server-side sessions.
//!
//! Both are directory records: they change through [`crate::directory::RecordChange`]
//! (`PutCredential`, `PutSession`, `DeleteSession`) with their audit events in the same
//! transaction, like members and groups. Secrets are never stored: a password only as its
//! PHC string (argon2id, made by the server), an invite or session token only as its
//! SHA-256. A session is valid only while its member exists and is **active** —
//! [`SessionStore::session`] joins the member and answers nothing otherwise — so a member
//! deactivated by SCIM or the admin API loses every session at once, and deleting a member
//! deletes its credential and sessions. A member keeps at most [`MAX_SESSIONS_PER_MEMBER`]
//! sessions: a new one pushes out the oldest, and expired ones are dropped when it is made.

use async_trait::async_trait;
use stele_core::{SecretHash, TenantId, Timestamp};

use crate::directory::{Member, MemberId};
use crate::StoreError;

/// Most sessions one member keeps; a new session replaces the oldest beyond it.
pub const MAX_SESSIONS_PER_MEMBER: usize = 10;

/// A member's sign-in secret state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub member: MemberId,
    /// The password's PHC string (`$argon2id$…`); `None` until the member sets one.
    pub password_hash: Option<String>,
    /// The SHA-256 of a pending invite token and when it expires; cleared when used.
    pub invite: Option<Invite>,
    pub updated_at: Timestamp,
}

/// A pending, single-use invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub token_hash: SecretHash,
    pub expires_at: Timestamp,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie's token (the token itself is never stored).
    pub token_hash: SecretHash,
    pub member: MemberId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Reads of credentials and sessions. Part of every [`crate::Store`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// A member's credential, if one was ever written.
    async fn credential(&self, tenant: &TenantId, member: &MemberId) -> Result<Option<Credential>, StoreError>;

    /// The session with this token hash in `tenant`, with its member — only while the
    /// session has not expired at `now` and the member exists and is active.
    async fn session(
        &self,
        tenant: &TenantId,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<(Session, Member)>, StoreError>;

    /// How many sessions a member has (expired ones included until they are dropped).
    async fn count_sessions(&self, tenant: &TenantId, member: &MemberId) -> Result<u64, StoreError>;
}
