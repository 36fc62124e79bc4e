//! A tenant's directory: its members (the people who sign in to the viewer), their groups,
//! and the SCIM connections through which an identity provider manages both.
//!
//! Every change is a [`RecordChange`] applied through [`DirectoryStore::change`] together
//! with the audit events that describe it, in one transaction (see [`crate::write`]): a new
//! record type is a variant here, its rows in each backend, a migration and conformance
//! cases — no new writer plumbing.
//!
//! Versions are optimistic locks. A writer reads a record (version `v`), computes its new
//! state and writes it with `previous: Some(v)` and `version: v + 1`; a write whose
//! `previous` is no longer the stored version is [`StoreError::VersionMismatch`] and changes
//! nothing (SCIM's `If-Match` answers 412 with it; without `If-Match` the server reads again
//! and retries). `previous: None` creates and fails with `Conflict("id")` if the id exists.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use stele_core::{NewEvent, SecretHash, TenantId, Timestamp};

use crate::StoreError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidRecordId;
            /// Only the 36-character hyphenated form (either case): ids are compared as text.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 36 {
                    return Err(InvalidRecordId);
                }
                uuid::Uuid::parse_str(s).map(Self).map_err(|_| InvalidRecordId)
            }
        }
    };
}

/// Text that is not a record id (a hyphenated UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (a hyphenated UUID)")]
pub struct InvalidRecordId;

uuid_id!(
    /// A member's id (SCIM `id` of a User).
    MemberId
);
uuid_id!(
    /// A group's id (SCIM `id` of a Group).
    GroupId
);
uuid_id!(
    /// A SCIM connection's id: the path segment of its endpoints and
    /// `context.scim_connection_id` of its log events.
    ScimConnectionId
);

/// What a member may do in the viewer, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Auditor,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Member, Role::Auditor, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A member of a tenant. `resource` is the member's SCIM User document (without `id`,
/// `meta` and `groups`, which are derived); the other fields are the columns the store
/// indexes or the viewer needs, taken from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    /// SCIM `userName`: unique per tenant, compared case-insensitively.
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// The primary email (or the first).
    pub email: Option<String>,
    pub active: bool,
    /// The member's own role; groups may raise it (see [`effective_role`]).
    pub role: Role,
    /// JSON text of the SCIM User document.
    pub resource: String,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A member of a group, as a group lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub id: MemberId,
    /// The member's display name, else user name (filled on reads; ignored on writes).
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub display_name: String,
    pub external_id: Option<String>,
    /// The role this group gives its members (the group → role mapping), if any.
    pub role: Option<Role>,
    /// JSON text of the SCIM Group document (without `id`, `meta` and `members`).
    pub resource: String,
    /// Every member (on reads, in id order; on writes, the complete new set).
    pub members: Vec<GroupMember>,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A group a member belongs to, as the member lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberGroup {
    pub id: GroupId,
    pub display_name: String,
    pub role: Option<Role>,
}

/// The role a member acts with: the highest of its own and its groups' roles.
pub fn effective_role(member: &Member, groups: &[MemberGroup]) -> Role {
    groups.iter().filter_map(|g| g.role).fold(member.role, Role::max)
}

/// An identity provider's way in: a bearer token (only its hash is kept) for the SCIM
/// endpoints under `/scim/v2/{id}/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimConnection {
    pub id: ScimConnectionId,
    pub tenant: TenantId,
    pub name: String,
    pub token_hash: SecretHash,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// One change to a tenant's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// Creates (`previous: None`) or replaces (`previous: Some(stored version)`) a member.
    /// A `user_name` another member has (case-insensitively) is `Conflict("userName")`.
    PutMember {
        member: Member,
        previous: Option<u64>,
    },
    /// Deletes a member (and its group memberships, credential and sessions).
    DeleteMember {
        id: MemberId,
        previous: u64,
    },
    /// Creates or replaces a group and its whole membership. Members must exist in the
    /// tenant (`UnknownMember` otherwise).
    PutGroup {
        group: Group,
        previous: Option<u64>,
    },
    DeleteGroup {
        id: GroupId,
        previous: u64,
    },
    /// Creates or replaces a SCIM connection (rotation, revocation).
    PutScimConnection {
        connection: ScimConnection,
        previous: Option<u64>,
    },
    /// Creates or replaces a member's credential (password hash, pending invite). The
    /// member must exist (`UnknownMember`).
    PutCredential {
        credential: crate::sessions::Credential,
    },
    /// Creates a session. The member must exist and be active (`UnknownMember`); its
    /// expired sessions, and the oldest beyond
    /// [`MAX_SESSIONS_PER_MEMBER`](crate::sessions::MAX_SESSIONS_PER_MEMBER), are dropped.
    PutSession {
        session: crate::sessions::Session,
    },
    /// Ends a session (sign-out); ending one that does not exist changes nothing.
    DeleteSession {
        member: MemberId,
        token_hash: SecretHash,
    },
    /// Makes an embed link. The key must be the tenant's (`KeyNotFound`); the tenant's expired
    /// links are dropped, and a tenant with
    /// [`MAX_LIVE_LINKS_PER_TENANT`](crate::sessions::MAX_LIVE_LINKS_PER_TENANT) live links
    /// refuses one more (`Conflict("viewer links")`).
    PutViewerLink {
        link: crate::sessions::ViewerLink,
    },
    /// Opens an embed link once: the link with `token_hash` must exist, have been made by
    /// `key`, be unopened, not expired at `now`, and its key not revoked (`RecordNotFound("viewer link", …)`
    /// otherwise). Its session (`session_hash`) lasts until `session_expires_at`.
    OpenViewerLink {
        key: stele_core::KeyId,
        token_hash: SecretHash,
        session_hash: SecretHash,
        session_expires_at: Timestamp,
        now: Timestamp,
    },
    /// Sets (`Some`) or removes (`None`) the tenant's OpenID Connect provider. `previous` is
    /// the stored version (`None`: there must be none).
    PutOidcProvider {
        provider: Option<crate::sessions::OidcProvider>,
        previous: Option<u64>,
    },
    /// Creates (`previous: None`, starting at `start`) or replaces a stream's record; its
    /// progress is kept. A tenant with
    /// [`MAX_STREAMS_PER_TENANT`](crate::delivery::MAX_STREAMS_PER_TENANT) streams refuses
    /// another (`Conflict("streams")`).
    PutStream {
        stream: crate::delivery::StreamRecord,
        previous: Option<u64>,
        start: crate::delivery::StreamStart,
    },
    /// Deletes a stream and its progress.
    DeleteStream {
        id: crate::delivery::StreamId,
        previous: u64,
    },
    /// Takes the stream's delivery lease for `node` until `until`, if it is free, expired at
    /// `now`, or already `node`'s (`Conflict("lease")` otherwise; `RecordNotFound` without
    /// the stream).
    ClaimStream {
        id: crate::delivery::StreamId,
        node: String,
        until: Timestamp,
        now: Timestamp,
    },
    /// Records an acknowledged batch: moves the cursor forward to `cursor` (never back),
    /// adds `delivered`, clears the failure count. Only the lease holder `node` may
    /// (`Conflict("lease")`).
    StreamDelivered {
        id: crate::delivery::StreamId,
        node: String,
        cursor: u64,
        delivered: u64,
        at: Timestamp,
    },
    /// Records a failed attempt (`error` is shown to the tenant's admins). Only the lease
    /// holder `node` may (`Conflict("lease")`).
    StreamFailed {
        id: crate::delivery::StreamId,
        node: String,
        error: String,
        at: Timestamp,
    },
    /// Sets the tenant's retention policy (`previous`: the stored version, `None` when
    /// there is none yet).
    PutRetention {
        policy: crate::retention::RetentionPolicy,
        previous: Option<u64>,
    },
}

impl RecordChange {
    /// The record's kind and id, for errors.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            RecordChange::PutMember { member, .. } => ("member", member.id.to_string()),
            RecordChange::DeleteMember { id, .. } => ("member", id.to_string()),
            RecordChange::PutGroup { group, .. } => ("group", group.id.to_string()),
            RecordChange::DeleteGroup { id, .. } => ("group", id.to_string()),
            RecordChange::PutScimConnection { connection, .. } => ("scim connection", connection.id.to_string()),
            RecordChange::PutCredential { credential } => ("credential", credential.member.to_string()),
            RecordChange::PutSession { session } => ("session", session.member.to_string()),
            RecordChange::DeleteSession { member, .. } => ("session", member.to_string()),
            RecordChange::PutViewerLink { link } => ("viewer link", link.key.to_string()),
            RecordChange::OpenViewerLink { .. } => ("viewer link", String::new()),
            RecordChange::PutOidcProvider { .. } => ("oidc provider", String::new()),
            RecordChange::PutStream { stream, .. } => ("stream", stream.id.to_string()),
            RecordChange::DeleteStream { id, .. }
            | RecordChange::ClaimStream { id, .. }
            | RecordChange::StreamDelivered { id, .. }
            | RecordChange::StreamFailed { id, .. } => ("stream", id.to_string()),
            RecordChange::PutRetention { .. } => ("retention policy", String::new()),
        }
    }
}

/// The order of a member listing (each with `id` as tie-breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOrder {
    /// By `userName`, case-insensitively.
    UserName,
    Created,
    Id,
}

/// One page of a member or group listing: keyset pagination on (order key, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<O> {
    pub order: O,
    pub descending: bool,
    /// The last record of the previous page.
    pub after: Option<ListAfter>,
    pub limit: u32,
}

/// Where a listing page starts: after this record's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAfter {
    /// The order key of the last record: lowercased user/display name, or created_at
    /// micros as decimal text, or the id.
    pub key: String,
    pub id: String,
}

/// The order of a group listing (each with `id` as tie-breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOrder {
    /// By `displayName`, case-insensitively.
    DisplayName,
    Created,
    Id,
}

/// The listing key of a member under an order (what [`ListAfter::key`] holds).
pub fn member_key(m: &Member, order: MemberOrder) -> ListAfter {
    let key = match order {
        MemberOrder::UserName => fold_case(&m.user_name),
        MemberOrder::Created => format!("{:020}", m.created_at.as_micros()),
        MemberOrder::Id => m.id.to_string(),
    };
    ListAfter { key, id: m.id.to_string() }
}

/// The listing key of a group under an order.
pub fn group_key(g: &Group, order: GroupOrder) -> ListAfter {
    let key = match order {
        GroupOrder::DisplayName => fold_case(&g.display_name),
        GroupOrder::Created => format!("{:020}", g.created_at.as_micros()),
        GroupOrder::Id => g.id.to_string(),
    };
    ListAfter { key, id: g.id.to_string() }
}

/// The case-folded form under which user names are unique and sorted (Unicode lowercase:
/// SCIM's `userName` is `caseExact: false`).
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// A member looked up by an indexed attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberLookup {
    /// Case-insensitive.
    UserName(String),
    /// Exact.
    ExternalId(String),
    /// Case-insensitive, the primary (or first) email.
    Email(String),
}

/// Members, groups and SCIM connections. Part of every [`crate::Store`].
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Applies a change and appends `audit` to the tenant's log, in one transaction. The
    /// audit events are appended only when the change is applied.
    async fn change(&self, tenant: &TenantId, change: RecordChange, audit: Vec<NewEvent>) -> Result<(), StoreError>;

    async fn get_member(&self, tenant: &TenantId, id: &MemberId) -> Result<Option<Member>, StoreError>;
    /// Members with this attribute value (at most one for `UserName`).
    async fn find_members(&self, tenant: &TenantId, lookup: &MemberLookup) -> Result<Vec<Member>, StoreError>;
    async fn list_members(&self, tenant: &TenantId, listing: &Listing<MemberOrder>) -> Result<Vec<Member>, StoreError>;
    async fn count_members(&self, tenant: &TenantId) -> Result<u64, StoreError>;
    /// The groups a member belongs to, by display name.
    async fn member_groups(&self, tenant: &TenantId, id: &MemberId) -> Result<Vec<MemberGroup>, StoreError>;

    async fn get_group(&self, tenant: &TenantId, id: &GroupId) -> Result<Option<Group>, StoreError>;
    /// Groups with this display name (case-insensitive) or external id (exact).
    async fn find_groups(&self, tenant: &TenantId, lookup: &GroupLookup) -> Result<Vec<Group>, StoreError>;
    /// A page of groups; `with_members: false` leaves every `members` empty.
    async fn list_groups(
        &self,
        tenant: &TenantId,
        listing: &Listing<GroupOrder>,
        with_members: bool,
    ) -> Result<Vec<Group>, StoreError>;
    async fn count_groups(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// A SCIM connection by id, whatever its tenant (its endpoints name only the id).
    async fn get_scim_connection(&self, id: &ScimConnectionId) -> Result<Option<ScimConnection>, StoreError>;
    async fn list_scim_connections(&self, tenant: &TenantId) -> Result<Vec<ScimConnection>, StoreError>;
}

/// A group looked up by an indexed attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupLookup {
    DisplayName(String),
    ExternalId(String),
}
