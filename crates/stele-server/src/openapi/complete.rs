//! The statuses a route answers because of what stands in front of its handler, added to the
//! collected document by rule rather than repeated on every handler (issue #15: a schema
//! fuzzer found 31 operations answering statuses the document did not list).
//!
//! | status | on | from |
//! |---|---|---|
//! | 500, 503 | every operation | a panic (`CatchPanicLayer`), the request deadline (`serve.rs`: 503 `request-timeout`), the store (shutting down, a read past its deadline, storage full, index behind) |
//! | 429 | all but `/healthz`, `/readyz`, `/metrics` | the failed-authentication limit per IP (`rate.rs`, problem+json on every route) and the per-key request limit (in each family's own shape) |
//! | 408 | operations with a body | a stalled body (`serve.rs`) |
//! | 401 (+ `WWW-Authenticate`), 403 | secured native operations | `auth.rs`: unknown, wrong or revoked keys; missing scopes |
//! | 400, 413, 415 | native operations with a body | `body.rs`: malformed or refused JSON, the size limit, the content type |
//! | 400 | native operations with query parameters | `routes::query_params` (unknown or malformed parameters) |
//! | 400, 404 + the `X-Stele-Tenant` parameter | native tenant-scoped operations | `Principal::tenant`: the operator names the tenant; an unknown one is 404 |
//! | 404 | native operations with path parameters | an unknown record (another tenant's is answered alike) |
//!
//! Native errors are `application/problem+json` ([`crate::dto::Problem`]); a profile's errors
//! are its own shape as `application/json`, next to the problem+json the shared layers
//! answer (408, the failed-authentication 429, the request deadline's 503, a panic's 500).
//! Profile credentials are security schemes of their own (`oneuptime_api_key`,
//! `retraced_token`, `basic`) instead of header parameters.

use serde_json::{json, Map, Value};

pub const PROBLEM_JSON: &str = "application/problem+json";
const JSON: &str = "application/json";
const PROBLEM_REF: &str = "#/components/schemas/Problem";
/// The header the operator key names a tenant in (`auth::TENANT_HEADER`, as spelt in docs).
pub const TENANT_HEADER: &str = "X-Stele-Tenant";
/// What `TenantId::parse` accepts.
pub const TENANT_ID_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

/// How the routes of one profile authenticate and fail.
struct Profile {
    /// Path prefixes of its routes.
    prefixes: &'static [&'static str],
    /// Its error body (a schema of `components`); `None`: problem+json, like the native API.
    error: Option<&'static str>,
    /// The security scheme of its credential.
    scheme: &'static str,
    /// Header parameters the handlers documented that the scheme now describes.
    credential_headers: &'static [&'static str],
    /// Whether its 401 carries `WWW-Authenticate`.
    challenges: bool,
    /// Whether an absent body is read as `{}` (OneUptime's routes).
    optional_body: bool,
    /// Whether its body must be declared `application/json` (else 415).
    json_body: bool,
}

const PROFILES: [Profile; 5] = [
    Profile {
        prefixes: &["/api/status-page-scim-log"],
        error: Some("OneUptimeError"),
        scheme: "oneuptime_api_key",
        credential_headers: &["ApiKey"],
        challenges: false,
        optional_body: true,
        json_body: false,
    },
    Profile {
        prefixes: &["/v1/AuditLogs"],
        error: Some("CloudCockpitErrorResponse"),
        scheme: "bearer",
        credential_headers: &["Authorization"],
        challenges: true,
        optional_body: false,
        json_body: false,
    },
    Profile {
        prefixes: &["/v1/products/", "/v1/organizations/", "/v2/products/", "/v2/organizations/"],
        error: None,
        scheme: "basic",
        credential_headers: &[],
        challenges: true,
        optional_body: false,
        json_body: false,
    },
    Profile {
        prefixes: &["/instance/"],
        error: Some("LosantError"),
        scheme: "bearer",
        credential_headers: &[],
        challenges: false,
        optional_body: false,
        json_body: false,
    },
    Profile {
        prefixes: &["/auditlog/publisher/"],
        error: Some("RetracedError"),
        scheme: "retraced_token",
        credential_headers: &["Authorization"],
        challenges: false,
        optional_body: false,
        json_body: true,
    },
];

/// Who answers an operation.
enum Family {
    /// `/healthz`, `/readyz`, `/metrics`: no credentials, no rate limits.
    Operations,
    Native,
    Profile(&'static Profile),
}

fn family(path: &str) -> Family {
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return Family::Operations;
    }
    match PROFILES.iter().find(|p| p.prefixes.iter().any(|prefix| path.starts_with(prefix))) {
        Some(profile) => Family::Profile(profile),
        None => Family::Native,
    }
}

/// Whether the operator names the tenant of this native operation in `X-Stele-Tenant`
/// (every route whose handler calls `Principal::tenant`).
pub fn takes_tenant_header(path: &str) -> bool {
    path.starts_with("/v1/events")
        || (path.starts_with("/v1/integrity/") && path != "/v1/integrity/key")
        || path == "/v1/scim-log"
        || path.starts_with("/v1/streams")
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Adds what the rules above say to every operation of `doc` (an OpenAPI 3.1 document as
/// `utoipa` serialises it).
pub fn complete(doc: &mut Value) {
    add_security_schemes(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete_operation(path, op);
            }
        }
    }
}

fn add_security_schemes(doc: &mut Value) {
    let schemes = &mut doc["components"]["securitySchemes"];
    schemes["oneuptime_api_key"] = json!({
        "type": "apiKey", "in": "header", "name": "ApiKey",
        "description": "OneUptime profile: a Stele key secret with events:read"
    });
    schemes["retraced_token"] = json!({
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "Retraced profile: `token=<Stele key secret>` (a key with events:write)"
    });
}

fn complete_operation(path: &str, op: &mut Map<String, Value>) {
    let has_body = op.contains_key("requestBody");
    let params = |location: &str| {
        op.get("parameters").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
    };
    let (has_query, has_path) = (params("query"), params("path"));
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let family = family(path);
    if let Family::Profile(profile) = family {
        if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            ps.retain(|p| {
                !(p["in"] == "header"
                    && profile
                        .credential_headers
                        .iter()
                        .any(|h| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(h))))
            });
        }
        op.insert("security".into(), json!([{ profile.scheme: [] }]));
        if let (true, Some(body)) = (profile.optional_body, op.get_mut("requestBody")) {
            body["required"] = json!(false);
        }
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    match family {
        Family::Operations => {
            native_problems(responses);
            problem(responses, "500", "internal error");
            problem(responses, "503", "unavailable: shutting down, the store does not answer, or storage full");
        }
        Family::Native => {
            native_problems(responses);
            problem(responses, "500", "internal error (details only in the server log)");
            problem(responses, "503", "unavailable, a request or query past its deadline, storage full or the index behind; `Retry-After` when retrying can help");
            problem(
                responses,
                "429",
                "too many requests from this key, or too many failed authentications from this address",
            );
            retry_after(responses, "429");
            retry_after(responses, "503");
            if has_body {
                problem(responses, "408", "the request body stalled");
                problem(responses, "400", "malformed JSON, or a body the route refuses (the detail names the member)");
                problem(responses, "413", "the request body is too large");
                problem(responses, "415", "the body is not application/json");
            }
            if has_query {
                problem(responses, "400", "a query parameter is unknown, malformed or out of bounds");
            }
            if has_path {
                problem(responses, "404", "no such record (another tenant's is answered alike)");
            }
            if secured {
                problem(responses, "401", "the key is missing, unknown, wrong or revoked");
                challenge(responses);
                problem(responses, "403", "the key lacks the scope, or may not act on this tenant or record");
            }
            if takes_tenant_header(path) {
                add_tenant_header(op);
                if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    problem(responses, "400", "the operator key must name the tenant in X-Stele-Tenant");
                    problem(responses, "404", "the tenant X-Stele-Tenant names does not exist");
                }
            }
        }
        Family::Profile(profile) => {
            let own = |responses: &mut Map<String, Value>, status: &str, description: &str| match profile.error {
                Some(schema) => add(responses, status, description, JSON, &format!("#/components/schemas/{schema}")),
                None => problem(responses, status, description),
            };
            if profile.error.is_none() {
                native_problems(responses);
            }
            own(responses, "400", "a parameter, header or body the profile refuses (OneUptime: also a wrong ApiKey)");
            own(responses, "401", "the credential is missing, unknown, wrong or revoked");
            if profile.challenges {
                challenge(responses);
            }
            own(responses, "429", "the key made too many requests");
            problem(responses, "429", "too many failed authentications from this address");
            retry_after(responses, "429");
            own(responses, "500", "internal error");
            problem(responses, "500", "internal error");
            own(responses, "503", "the store cannot answer now");
            problem(responses, "503", "the request took too long");
            if has_body {
                problem(responses, "408", "the request body stalled");
                own(responses, "413", "the request body is too large");
                if profile.json_body {
                    own(responses, "415", "the body is not application/json");
                }
            }
        }
    }
}

/// Turns the native API's error bodies (documented as `body = Problem`) into problem+json.
fn native_problems(responses: &mut Map<String, Value>) {
    for (status, response) in responses.iter_mut() {
        if status.as_str() < "400" {
            continue;
        }
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else { continue };
        if let Some(json) = content.remove(JSON) {
            content.entry(PROBLEM_JSON).or_insert(json);
        }
    }
}

fn problem(responses: &mut Map<String, Value>, status: &str, description: &str) {
    add(responses, status, description, PROBLEM_JSON, PROBLEM_REF);
}

/// Documents `status` with a body of `schema` as `media`, next to what it documents already.
fn add(responses: &mut Map<String, Value>, status: &str, description: &str, media: &str, schema: &str) {
    let response = responses.entry(status).or_insert_with(|| json!({ "description": description }));
    if response.get("content").is_none() {
        response["content"] = json!({});
    }
    if let Some(content) = response["content"].as_object_mut() {
        content.entry(media).or_insert_with(|| json!({ "schema": { "$ref": schema } }));
    }
}

fn challenge(responses: &mut Map<String, Value>) {
    if let Some(response) = responses.get_mut("401") {
        response["headers"]["WWW-Authenticate"] = json!({
            "description": "the authentication scheme to use",
            "required": true,
            "schema": { "type": "string" }
        });
    }
}

fn retry_after(responses: &mut Map<String, Value>, status: &str) {
    if let Some(response) = responses.get_mut(status) {
        response["headers"]["Retry-After"] = json!({
            "description": "seconds to wait before retrying",
            "schema": { "type": "integer", "minimum": 1 }
        });
    }
}

fn add_tenant_header(op: &mut Map<String, Value>) {
    let parameters = op.entry("parameters").or_insert_with(|| json!([]));
    let Some(parameters) = parameters.as_array_mut() else { return };
    if parameters.iter().any(|p| p["in"] == "header" && p["name"] == TENANT_HEADER) {
        return;
    }
    parameters.push(json!({
        "name": TENANT_HEADER,
        "in": "header",
        "required": true,
        "description": "the tenant the operator key acts on (it must name one); a tenant key acts on its own tenant whatever this names",
        "schema": { "type": "string", "pattern": TENANT_ID_PATTERN, "minLength": 1, "maxLength": 64 },
        "example": "acme"
    }));
}
