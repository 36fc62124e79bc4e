//! The columns of OneUptime's `StatusPageSCIMLog` model and where each lives in a Stele
//! event (contract A.1): what may be queried, sorted and selected.

use stele_core::Attr;

/// A column of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    CreatedAt,
    UpdatedAt,
    ProjectId,
    StatusPageId,
    StatusPageScimId,
    OperationType,
    Status,
    StatusMessage,
    LogBody,
    HttpMethod,
    RequestPath,
    HttpStatusCode,
    AffectedUserEmail,
}

pub const ALL: &[(&str, Column)] = &[
    ("_id", Column::Id),
    ("createdAt", Column::CreatedAt),
    ("updatedAt", Column::UpdatedAt),
    ("projectId", Column::ProjectId),
    ("statusPageId", Column::StatusPageId),
    ("statusPageScimId", Column::StatusPageScimId),
    ("operationType", Column::OperationType),
    ("status", Column::Status),
    ("statusMessage", Column::StatusMessage),
    ("logBody", Column::LogBody),
    ("httpMethod", Column::HttpMethod),
    ("requestPath", Column::RequestPath),
    ("httpStatusCode", Column::HttpStatusCode),
    ("affectedUserEmail", Column::AffectedUserEmail),
];

/// The model's name in OneUptime's messages.
pub const MODEL: &str = "Status Page SCIM Log";

impl Column {
    pub fn parse(name: &str) -> Option<Column> {
        ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    pub fn name(self) -> &'static str {
        ALL.iter().find(|(_, c)| *c == self).map(|(n, _)| *n).unwrap_or_default()
    }

    /// The event attribute a filter on this column compares (`None`: the column is derived
    /// and cannot be compared in the query model, or is constant per tenant).
    pub fn attr(self) -> Option<Attr> {
        Some(match self {
            Column::Id => Attr::Id,
            Column::CreatedAt | Column::UpdatedAt => Attr::Time,
            Column::StatusPageId => Attr::Context("status_page_id".into()),
            Column::StatusPageScimId => Attr::Context("scim_connection_id".into()),
            Column::OperationType => Attr::Action,
            Column::Status => Attr::Status,
            Column::StatusMessage => Attr::Message,
            Column::HttpMethod => Attr::RequestMethod,
            Column::RequestPath => Attr::RequestPath,
            Column::HttpStatusCode => Attr::RequestStatusCode,
            // Any target's email (the query model has no positional target attributes).
            Column::AffectedUserEmail => Attr::TargetEmail,
            Column::ProjectId | Column::LogBody => return None,
        })
    }

    /// The attribute a sort on this column orders by (single-valued attributes only).
    pub fn sort_attr(self) -> Option<Attr> {
        match self {
            Column::StatusPageId | Column::StatusPageScimId | Column::AffectedUserEmail => None,
            other => other.attr(),
        }
    }
}

/// The Stele statuses a OneUptime status stands for.
pub fn stele_statuses(status: &str) -> &'static [&'static str] {
    match status {
        "Success" => &["success"],
        "Error" => &["failure"],
        "Warning" => &["warning", "pending"],
        _ => &[],
    }
}

/// The OneUptime status of a Stele status.
pub fn oneuptime_status(status: stele_core::Status) -> &'static str {
    match status {
        stele_core::Status::Success => "Success",
        stele_core::Status::Failure => "Error",
        stele_core::Status::Warning | stele_core::Status::Pending => "Warning",
    }
}

/// The prefix of SCIM log actions.
pub const SCIM_PREFIX: &str = "scim.";

/// `scim.CreateUser` → `CreateUser`.
pub fn operation_type(action: &str) -> &str {
    match action.get(..SCIM_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(SCIM_PREFIX) => &action[SCIM_PREFIX.len()..],
        _ => action,
    }
}
