//! CloudCockpit's shapes (contract A.3): the audit log view model, the paged envelope and
//! the `ErrorResponse`.

use serde::Serialize;
use serde_json::Value;
use stele_core::{Event, Origin, Status};
use utoipa::ToSchema;

use crate::profiles::common::rfc3339_offset;

/// A smart-enum value: `{"name": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CloudCockpitName)]
pub struct Named {
    pub name: Option<&'static str>,
}

/// An audit log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CloudCockpitAuditLog)]
pub struct AuditLog {
    /// The event's `id`.
    pub id: String,
    /// `context.customer`.
    pub customer: Option<String>,
    /// `context.reseller`.
    pub reseller: Option<String>,
    /// `time`, RFC 3339 with offset.
    pub timestamp: String,
    /// `action`.
    pub operation: Option<String>,
    /// `Processing`, `Succeded` or `Failed`.
    pub status: Named,
    /// `actor.email`.
    pub user: Option<String>,
    /// `User`, `API` or `System`.
    pub origin: Named,
    /// The first target's type.
    pub entity_type: Option<String>,
    /// The first target's id.
    pub entity_id: Option<String>,
    /// `changes.before`.
    #[schema(value_type = Option<Object>)]
    pub old_values: Option<Value>,
    /// `changes.after`.
    #[schema(value_type = Option<Object>)]
    pub new_values: Option<Value>,
    pub message: Option<String>,
    pub correlation_id: Option<String>,
}

/// CloudCockpit's name of a Stele status (the original's spelling `Succeded` is kept).
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Pending => "Processing",
        Status::Success | Status::Warning => "Succeded",
        Status::Failure => "Failed",
    }
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::User => "User",
        Origin::Api => "API",
        Origin::System => "System",
    }
}

impl AuditLog {
    /// A row of a streamed page (the log position is not part of CloudCockpit's shape).
    pub fn from_row(_seq: stele_core::Seq, e: Event) -> Self {
        Self::from(e)
    }
}

impl From<Event> for AuditLog {
    fn from(e: Event) -> Self {
        let target = e.targets.into_iter().next().unwrap_or_default();
        let changes = e.changes.unwrap_or_default();
        Self {
            id: e.id.to_string(),
            customer: e.context.get("customer").cloned(),
            reseller: e.context.get("reseller").cloned(),
            timestamp: rfc3339_offset(e.time),
            operation: Some(e.action),
            status: Named { name: Some(status_name(e.status)) },
            user: e.actor.and_then(|a| a.email),
            origin: Named { name: e.origin.map(origin_name) },
            entity_type: target.kind,
            entity_id: target.id,
            old_values: changes.before.map(|v| v.to_value()),
            new_values: changes.after.map(|v| v.to_value()),
            message: e.message,
            correlation_id: e.correlation_id,
        }
    }
}

/// `paginationParameters`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CloudCockpitPaginationParameters)]
pub struct PaginationParameters {
    pub page_number: u64,
    pub page_size: u64,
}

/// The paged list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CloudCockpitAuditLogPage)]
pub struct AuditLogPage {
    pub items: Vec<AuditLog>,
    pub pagination_parameters: PaginationParameters,
    pub total_pages: u64,
    pub total_count: u64,
    pub has_previous_page: bool,
    pub has_next_page: bool,
    /// A Stele cursor: send it back as `ContinuationToken` for the next page.
    pub continuation_token: Option<String>,
}

/// One bad property and what is wrong with it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CloudCockpitPropertyError)]
pub struct PropertyError {
    pub property_name: String,
    pub description: Vec<String>,
}

/// CloudCockpit's `ErrorResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CloudCockpitErrorResponse)]
pub struct ErrorResponse {
    pub status_code: u16,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub correlation_id: Option<String>,
    pub errors: Option<Vec<PropertyError>>,
}
