//! Helpers shared by the suites.

use serde_json::Value;
use stele_core::Timestamp;
use stele_scim::{normalize, render_group, render_user, MemberKind, MemberRef, Meta, ResourceKind};

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn meta(id: &str, version: u64) -> Meta {
    Meta {
        id: id.into(),
        created: Timestamp::parse("2026-01-10T08:00:00Z").expect("time"),
        last_modified: Timestamp::parse("2026-02-01T12:30:00Z").expect("time"),
        version,
        location: format!("https://stele.example/scim/v2/t1/Users/{id}"),
    }
}

pub fn user(body: Value) -> Value {
    normalize(ResourceKind::User, &body).expect("valid user")
}

pub fn rendered_user(body: Value) -> Value {
    render_user(&user(body), &meta("u1", 1), &[])
}

pub fn rendered_group(doc: &Value) -> Value {
    let members: Vec<MemberRef> = stele_scim::group_fields(doc)
        .member_ids
        .into_iter()
        .map(|value| MemberRef { value, display: None, kind: MemberKind::User, location: None })
        .collect();
    render_group(doc, &meta("g1", 1), &members)
}
