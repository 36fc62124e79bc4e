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
//!
//! Two more ways in live here, for the same reason:
//! - **Embed links** ([`ViewerLink`], Retraced's viewer tokens): an API key with
//!   `events:read` makes a single-use link; opening it makes a read-only session of the link
//!   itself, scoped to the key's view AND the link's own. The session ends when the link's
//!   session expires or the key is revoked. A tenant keeps at most
//!   [`MAX_LIVE_LINKS_PER_TENANT`] unexpired links; expired ones are dropped when one is made.
//! - **The tenant's OpenID Connect provider** ([`OidcProvider`]): its client secret arrives
//!   sealed by the server and is stored only so.

use async_trait::async_trait;
use stele_core::{SecretHash, TenantId, Timestamp};

use stele_core::KeyId;

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

/// Most embed links a tenant keeps unexpired (made but not yet expired, or opened and whose
/// session has not expired); one more is refused with `StoreError::Conflict("viewer links")`.
pub const MAX_LIVE_LINKS_PER_TENANT: u64 = 1000;

/// An embed link: made by an API key, opened once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerLink {
    /// SHA-256 of the link's token (the URL's secret).
    pub token_hash: SecretHash,
    /// The key that made it; revoking the key ends the link's session.
    pub key: KeyId,
    /// The view the session reads through, as filter text (the key's view AND the link's).
    pub view_filter: Option<String>,
    /// Whether the session may export (the key had `events:export`).
    pub export: bool,
    pub created_at: Timestamp,
    /// The link must be opened before this.
    pub expires_at: Timestamp,
}

/// A tenant's OpenID Connect provider for viewer sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// The issuer URL (discovery is `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed by the server (never in clear).
    pub client_secret_sealed: Vec<u8>,
    /// The name the sign-in button shows ("Sign in with <name>").
    pub name: String,
    pub version: u64,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret_sealed", &"..")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
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

    /// The embed link whose opened session has this token hash in `tenant` — only while that
    /// session has not expired at `now` and the key that made the link is not revoked.
    async fn link_session(
        &self,
        tenant: &TenantId,
        session_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<ViewerLink>, StoreError>;

    /// The tenant's OpenID Connect provider, if one is set.
    async fn oidc_provider(&self, tenant: &TenantId) -> Result<Option<OidcProvider>, StoreError>;
}
