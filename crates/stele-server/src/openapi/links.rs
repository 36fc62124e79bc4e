//! OpenAPI links (3.1 §4.8.20) from each operation that makes a record to the operations on
//! that record, so a stateful client (schemathesis's stateful phase) can follow a create
//! with reads, changes and deletes of what it made. A link names its target by
//! `operationId` (`utoipa` uses the handler's name) and passes the new record's id from the
//! answer, the tenant from the request (its path, or the operator's `X-Stele-Tenant`).

use serde_json::{json, Map, Value};

/// Where a link's target gets the tenant from.
#[derive(Clone, Copy)]
enum Tenant {
    /// The target needs none beyond the id.
    None,
    /// The source's path parameter `tenant` → the target's path parameter `tenant`.
    Path,
    /// The source's `X-Stele-Tenant` header → the target's.
    Header,
}

/// (source path, source method, answer status, targets, id of the new record, tenant).
type Rule = (&'static str, &'static str, &'static str, &'static [&'static str], &'static str, Tenant);

const RULES: [Rule; 8] = [
    ("/v1/tenants", "post", "201", &["update_tenant"], "id", Tenant::None),
    ("/v1/keys", "post", "201", &["revoke_key"], "id", Tenant::None),
    ("/v1/events", "post", "201", &["get_event", "inclusion_proof", "redact"], "id", Tenant::Header),
    (
        "/v1/tenants/{tenant}/members",
        "post",
        "201",
        &["get_member", "update_member", "delete_member", "invite_member"],
        "id",
        Tenant::Path,
    ),
    ("/v1/tenants/{tenant}/groups", "post", "201", &["get_group", "update_group", "delete_group"], "id", Tenant::Path),
    (
        "/v1/tenants/{tenant}/scim-connections",
        "post",
        "201",
        &["rotate_scim_connection", "revoke_scim_connection"],
        "id",
        Tenant::Path,
    ),
    (
        "/v1/streams",
        "post",
        "201",
        &["get_stream", "update_stream", "delete_stream", "pause_stream", "resume_stream"],
        "id",
        Tenant::Header,
    ),
    ("/v1/tenants/{tenant}/oidc", "put", "200", &["get_oidc_provider", "delete_oidc_provider"], "", Tenant::Path),
];

/// The links a new tenant opens: its own directory, retention and SSO routes.
const TENANT_TARGETS: [&str; 7] = [
    "create_member",
    "create_group",
    "create_scim_connection",
    "put_retention",
    "put_oidc_provider",
    "put_legal_hold",
    "delete_legal_hold",
];

pub fn add(doc: &mut Value) {
    for (path, method, status, targets, id, tenant) in RULES {
        let mut links = Map::new();
        for target in targets {
            let mut parameters = Map::new();
            if !id.is_empty() {
                parameters.insert("id".into(), json!(format!("$response.body#/{id}")));
            }
            match tenant {
                Tenant::None => {}
                Tenant::Path => {
                    parameters.insert("tenant".into(), json!("$request.path.tenant"));
                }
                Tenant::Header => {
                    let header = super::TENANT_HEADER;
                    parameters.insert(format!("header.{header}"), json!(format!("$request.header.{header}")));
                }
            }
            links.insert(link_name(target), json!({ "operationId": target, "parameters": parameters }));
        }
        if path == "/v1/tenants" {
            for target in TENANT_TARGETS {
                let parameters = json!({ "tenant": "$response.body#/id" });
                links.insert(link_name(target), json!({ "operationId": target, "parameters": parameters }));
            }
        }
        let response = doc
            .get_mut("paths")
            .and_then(|paths| paths.get_mut(path))
            .and_then(|item| item.get_mut(method))
            .and_then(|op| op.get_mut("responses"))
            .and_then(|responses| responses.get_mut(status));
        if let Some(response) = response {
            response["links"] = Value::Object(links);
        }
    }
}

/// `get_member` → `GetMember`.
fn link_name(operation: &str) -> String {
    operation
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}
