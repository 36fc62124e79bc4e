//! SCIM 2.0 service provider logic for Stele (RFC 7643 core schema, RFC 7644 protocol).
//!
//! Pure protocol code: it knows neither HTTP nor SQL. The server routes a request, calls
//! this crate to parse and check it, runs the store, and renders with this crate again; the
//! store keeps the canonical documents and indexed columns this crate produces.
//!
//! # Layout
//!
//! - [`error`]: [`ScimError`] (status, `scimType`, detail) and the SCIM error message.
//! - [`schema`]: attribute definitions for User, Enterprise User and Group; name resolution
//!   (case-insensitive, URN-qualified). [`discovery`]: `ServiceProviderConfig`,
//!   `/ResourceTypes`, `/Schemas`, rendered from those definitions.
//! - [`resource`]: normalising POST/PUT bodies into the canonical document, indexed
//!   columns, rendering resources, versions and `If-Match`.
//! - [`patch`]: PATCH (RFC 7644 §3.5.2) with the vendors' variations, and what changed.
//! - [`filter`]: SCIM filters on stele-core's parser, matching and index lookups.
//! - [`list`]: query parameters / `.search` bodies, sorting, the ListResponse.
//! - [`project`]: `attributes` / `excludedAttributes`.
//! - [`bulk`]: Bulk requests: parsing, `bulkId` references, ordering, the BulkResponse.
//! - [`operation`]: the audit action of each SCIM request (`scim.CreateUser`, ...).
//!
//! # Compatibility
//!
//! Microsoft Entra ID and Okta are the clients that matter; `tests/fixtures/` holds their
//! documented request bodies verbatim and every leniency is listed where it is implemented
//! (module docs of `resource` and `patch`).

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod operation;
pub mod patch;
pub mod project;
pub mod resource;
pub mod schema;

pub use bulk::{BulkMethod, BulkOperation, BulkPlan, BulkRequest, OpOutcome, ResolvedOp};
pub use discovery::ServiceProviderConfig;
pub use error::{ScimError, ScimType};
pub use filter::{Lookup, ScimFilter};
pub use list::{list_response, ListParams, ListQuery, SortOrder};
pub use operation::Operation;
pub use patch::{apply_patch, PatchEffect};
pub use project::project;
pub use resource::{
    etag, group_fields, normalize, parse_if_match, render_group, render_user, user_fields, GroupFields, GroupRef,
    IfMatch, MemberKind, MemberRef, Meta, UserFields,
};
pub use schema::{AttrPath, ResourceKind};
