//! JSON shapes of the admin API and of ingest answers.

use serde::{Deserialize, Serialize};
use stele_core::{Event, Scope, Timestamp};
use stele_store::{KeyRecord, Receipt, Tenant};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Slug: 1-64 of a-z, 0-9, '-', '_'.
    pub id: String,
    pub name: String,
    /// Other identifiers profiles find the tenant by (UUID, 24-hex id, domain).
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDto {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Tenant> for TenantDto {
    fn from(t: Tenant) -> Self {
        Self { id: t.id.to_string(), name: t.name, aliases: t.aliases, created_at: t.created_at }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The key's tenant; a tenant admin key may omit it (its own tenant).
    #[serde(default)]
    pub tenant: Option<String>,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// A filter expression AND-ed into every read the key makes.
    #[serde(default)]
    pub view_filter: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyDto {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_filter: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

impl From<KeyRecord> for KeyDto {
    fn from(k: KeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            tenant: k.tenant.to_string(),
            name: k.name,
            scopes: k.scopes.into_iter().collect(),
            view_filter: k.view_filter.as_deref().map(crate::view_filter::display),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new key and its secret. The secret is shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyDto,
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptDto {
    #[schema(value_type = String, format = "uuid")]
    pub id: String,
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub time: Timestamp,
}

impl From<&Receipt> for ReceiptDto {
    fn from(r: &Receipt) -> Self {
        Self { id: r.id.to_string(), seq: r.seq.get(), time: r.time }
    }
}

/// Answer to a batch: one receipt per event, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchReceipts {
    pub events: Vec<ReceiptDto>,
}

/// A page of events (documentation shape; the server writes it directly).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<StoredEventDoc>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An event as served: the stored event with its log position.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredEventDoc {
    pub seq: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// A batch of events to ingest (or send one event object on its own).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation shape only
pub struct IngestBatch {
    pub events: Vec<stele_core::event::EventInput>,
}

/// An RFC 9457 problem: every native error. Some kinds add members (`errors` for ingest,
/// `parameter` for a refused query parameter).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:stele:problem:invalid-parameter",
    "title": "Invalid query parameter",
    "status": 400,
    "detail": "limit: must be 1-1000",
    "parameter": "limit"
}))]
pub struct Problem {
    /// `urn:stele:problem:<kind>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}
