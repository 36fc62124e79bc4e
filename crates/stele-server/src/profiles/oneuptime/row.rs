//! A Stele event rendered as a OneUptime `StatusPageSCIMLog` row (contract A.1 table), with
//! only the selected columns. Ids and dates are plain strings, as OneUptime documents them.

use serde_json::{Map, Value as Json};
use stele_core::Event;

use super::columns::{oneuptime_status, operation_type, Column};
use crate::profiles::common::iso_millis;

fn opt(v: Option<&str>) -> Json {
    v.map_or(Json::Null, |s| Json::String(s.to_owned()))
}

/// `logBody`: the JSON text (2-space indent, like `JSON.stringify(x, null, 2)`) of
/// `{timestamp, queryParameters, request, response}`, each key only when it has data.
pub fn log_body(event: &Event) -> String {
    let mut parts: Vec<(&str, Json)> = vec![("timestamp", Json::String(iso_millis(event.time)))];
    if let Some(r) = &event.request {
        if let Some(q) = &r.query {
            parts.push(("queryParameters", q.to_value()));
        }
        if let Some(b) = &r.body {
            parts.push(("request", b.to_value()));
        }
        if let Some(b) = &r.response_body {
            parts.push(("response", b.to_value()));
        }
    }
    let mut out = String::from("{\n");
    for (i, (key, value)) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str("  \"");
        out.push_str(key);
        out.push_str("\": ");
        // JSON text never holds a raw newline inside a string, so indenting lines is safe.
        let pretty = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        out.push_str(&pretty.replace('\n', "\n  "));
    }
    out.push_str("\n}");
    out
}

/// The selected columns of one row. `project_id` is the tenant's UUID alias.
pub fn render(event: &Event, columns: &[Column], project_id: Option<&str>) -> Map<String, Json> {
    let request = event.request.as_ref();
    let mut row = Map::new();
    for col in columns {
        let value = match col {
            Column::Id => Json::String(event.id.to_string()),
            Column::CreatedAt | Column::UpdatedAt => Json::String(iso_millis(event.time)),
            Column::ProjectId => opt(project_id),
            Column::StatusPageId => opt(event.context.get("status_page_id").map(String::as_str)),
            Column::StatusPageScimId => opt(event.context.get("scim_connection_id").map(String::as_str)),
            Column::OperationType => Json::String(operation_type(&event.action).to_owned()),
            Column::Status => Json::String(oneuptime_status(event.status).to_owned()),
            Column::StatusMessage => opt(event.message.as_deref()),
            Column::LogBody => Json::String(log_body(event)),
            Column::HttpMethod => opt(request.and_then(|r| r.method.as_deref())),
            Column::RequestPath => opt(request.and_then(|r| r.path.as_deref())),
            Column::HttpStatusCode => request.and_then(|r| r.status_code).map_or(Json::Null, Json::from),
            Column::AffectedUserEmail => opt(event.targets.iter().find_map(|t| t.email.as_deref())),
        };
        row.insert(col.name().to_owned(), value);
    }
    row
}
