//! One event as ConfigCat's `AuditLogItemModel` (contract A.4), members in the spec's order.

use serde::Serialize;
use stele_core::{Event, Seq};
use utoipa::ToSchema;

use super::types::in_words;

/// ConfigCat's audit log item.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigCatAuditLogItem)]
pub struct AuditLogItem {
    /// The event's `seq`.
    pub audit_log_id: u64,
    /// The event's `time`.
    pub audit_log_date_time: String,
    /// The event's `action`.
    pub audit_log_type_enum: String,
    /// `context.change_set_id`.
    pub change_set_id: Option<String>,
    pub truncated: bool,
    /// `action` in words.
    pub audit_log_type: Option<String>,
    pub user_email: Option<String>,
    pub user_name: Option<String>,
    /// `context.where`.
    #[serde(rename = "where")]
    pub where_: Option<String>,
    /// `reason`.
    pub why: Option<String>,
    /// The first target's name.
    pub action_target: Option<String>,
    /// `message`.
    pub details: Option<String>,
}

impl AuditLogItem {
    pub fn new(seq: Seq, e: Event) -> Self {
        let actor = e.actor.unwrap_or_default();
        Self {
            audit_log_id: seq.get(),
            audit_log_date_time: e.time.to_string(),
            audit_log_type: Some(in_words(&e.action)),
            audit_log_type_enum: e.action,
            change_set_id: e.context.get("change_set_id").cloned(),
            truncated: e.truncated,
            user_email: actor.email,
            user_name: actor.name,
            where_: e.context.get("where").cloned(),
            why: e.reason,
            action_target: e.targets.into_iter().next().and_then(|t| t.name),
            details: e.message,
        }
    }
}

/// V2's `paging` member.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigCatPaging)]
pub struct Paging {
    pub current_page: u64,
    pub total_pages: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub has_previous: bool,
    pub has_next: bool,
}

/// V2's `AuditLogItemModelPagedList`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConfigCatAuditLogPage)]
pub struct PagedList {
    pub paging: Paging,
    pub data: Vec<AuditLogItem>,
}
