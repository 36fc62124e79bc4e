//! Bounds of request members that `utoipa`'s attributes cannot spell or that several
//! schemas share: the character rules of `stele_core::text` as patterns, the role and
//! algorithm names, list sizes. Each row restates a check the handler makes (named in the
//! comment), so a schema-valid body passes that check and an invalid one fails it.

use serde_json::{json, Value};

/// `stele_core::text::check_label`: no C0/C1 control, DEL, bidi embedding/override/isolate.
const LABEL_CHARS: &str = r"\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069";

/// A label that is not blank (`trim().is_empty()` is refused).
fn name() -> String {
    format!("^[^{LABEL_CHARS}]*[^\\s{LABEL_CHARS}][^{LABEL_CHARS}]*$")
}

/// Prose (`check_prose`: tabs and line breaks allowed) that is not blank.
fn prose() -> String {
    let c = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f";
    format!("^[^{c}]*[^\\s{c}][^{c}]*$")
}

/// Not blank, no control character at all (`oidc_provider::check_text`).
fn plain() -> String {
    let c = r"\u0000-\u001f\u007f-\u009f";
    format!("^[^{c}]*[^\\s{c}][^{c}]*$")
}

/// `members::check_email`: a name with an `@` between two non-empty parts, no space.
fn email() -> String {
    format!("^[^@ {LABEL_CHARS}]+@[^ {LABEL_CHARS}]+$")
}

const ROLES: [&str; 4] = ["owner", "admin", "auditor", "member"];

/// `tenant_update::check_aliases`: at most 100, each 1-256 characters of a label without
/// spaces, none repeated.
fn aliases() -> Value {
    let item =
        json!({ "type": "string", "pattern": format!("^[^\\s{LABEL_CHARS}]+$"), "minLength": 1, "maxLength": 256 });
    json!({ "maxItems": 100, "uniqueItems": true, "items": item })
}

/// Update bodies that must name at least one change.
const UPDATES: [&str; 4] = ["UpdateTenant", "UpdateMember", "UpdateGroup", "StreamPatch"];

pub fn add(doc: &mut Value) {
    let text = |pattern: String, max: u32| json!({ "pattern": pattern, "minLength": 1, "maxLength": max });
    let rows: Vec<(&str, &str, Value)> = vec![
        // tenants::create_tenant
        ("CreateTenant", "id", json!({ "pattern": super::TENANT_ID_PATTERN, "example": "acme" })),
        ("CreateTenant", "name", text(name(), 256)),
        ("CreateTenant", "aliases", aliases()),
        // keys::create_key_in
        ("CreateKey", "name", text(name(), 256)),
        ("CreateKey", "scopes", json!({ "minItems": 1 })),
        ("CreateKey", "tenant", json!({ "pattern": super::TENANT_ID_PATTERN })),
        // members::check_name, check_email, role_of
        ("CreateMember", "email", text(email(), 256)),
        ("CreateMember", "name", text(name(), 256)),
        ("CreateMember", "user_name", text(name(), 256)),
        ("CreateMember", "role", json!({ "enum": ROLES })),
        ("UpdateMember", "name", text(name(), 256)),
        ("UpdateMember", "role", json!({ "enum": ROLES })),
        ("CreateGroup", "display_name", text(name(), 256)),
        ("CreateGroup", "role", json!({ "enum": ROLES })),
        ("UpdateGroup", "display_name", text(name(), 256)),
        // scim_connections::create_scim_connection
        ("CreateScimConnection", "name", text(name(), 256)),
        // retention::set_days_in, set_hold_in
        ("PutRetention", "days", json!({ "minimum": 1, "maximum": 36500 })),
        ("PutLegalHold", "reason", text(prose(), 512)),
        // oidc_provider::check_text
        ("PutOidcProvider", "issuer", json!({ "pattern": plain(), "minLength": 1, "format": "uri" })),
        ("PutOidcProvider", "client_id", json!({ "pattern": plain(), "minLength": 1 })),
        ("PutOidcProvider", "client_secret", json!({ "pattern": plain(), "minLength": 1 })),
        ("PutOidcProvider", "name", json!({ "pattern": plain(), "minLength": 1 })),
        // tenant_update::update_tenant
        ("UpdateTenant", "aliases", aliases()),
        ("JwtInput", "alg", json!({ "enum": ["HS256", "EdDSA", "RS256"] })),
        ("JwtInput", "issuer", json!({ "minLength": 1, "maxLength": 1024 })),
        ("JwtInput", "audience", json!({ "minLength": 1, "maxLength": 1024 })),
        // integrity::redact
        ("RedactRequest", "reason", text(prose(), 1000)),
        // events::ingest: a batch holds 1-1000 events
        ("IngestBatch", "events", json!({ "minItems": 1, "maxItems": 1000 })),
    ];
    for schema in UPDATES {
        if let Some(s) = doc.get_mut("components").and_then(|c| c.get_mut("schemas")).and_then(|s| s.get_mut(schema)) {
            s["minProperties"] = json!(1);
        }
    }
    unsigned(doc);
    for (schema, property, bounds) in rows {
        let target = doc
            .get_mut("components")
            .and_then(|c| c.get_mut("schemas"))
            .and_then(|s| s.get_mut(schema))
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(property));
        let Some(target) = target else {
            tracing::warn!(schema, property, "openapi bounds: no such member");
            continue;
        };
        // An optional member is `{"type": ["string", "null"]}` or a `oneOf` with null; the
        // bounds go where the string (or number, or array) is.
        let slot = match target.get_mut("oneOf").and_then(Value::as_array_mut) {
            Some(variants) => variants.iter_mut().find(|v| v["type"] != "null"),
            None => Some(target),
        };
        if let (Some(slot), Value::Object(mut bounds)) = (slot, bounds) {
            // A nullable member keeps null among its allowed values.
            let nullable = slot["type"].as_array().is_some_and(|t| t.iter().any(|t| t == "null"));
            if let (true, Some(values)) = (nullable, bounds.get_mut("enum").and_then(Value::as_array_mut)) {
                values.push(Value::Null);
            }
            if let Some(slot) = slot.as_object_mut() {
                slot.extend(bounds);
            }
        }
    }
}

/// `utoipa` documents a `u64` as `int64` from 0: the server reads the whole `u64` range, so a
/// value past `i64::MAX` is valid too (and one past `u64::MAX` is refused).
fn unsigned(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let integer = map
                .get("type")
                .is_some_and(|t| t == "integer" || t.as_array().is_some_and(|a| a.iter().any(|t| t == "integer")));
            if integer && map.get("format").is_some_and(|f| f == "int64") && map.get("minimum").is_some_and(|m| m == 0)
            {
                map.remove("format");
                map.entry("maximum").or_insert(json!(u64::MAX));
            }
            map.values_mut().for_each(unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned),
        _ => {}
    }
}
