//! The API contract (issue #15 item 1): `/openapi.json` lists every status each route can
//! answer with its body schema (problem+json for native errors, each profile's own shape on
//! its routes), its parameters with their bounds, the security scheme of each route, examples,
//! and links from the operations that make a record to those that read, change and delete it.
//!
//! The fast tests check those properties of the document. `schemathesis_finds_no_failures`
//! runs the schema fuzzer schemathesis (PyPI) against a real server with every check it has
//! (settings and the reason for each tuned check: `tests/clients/schemathesis.toml`), its
//! stateful phase following the links. `scripts/test` installs the pinned schemathesis and
//! exports `STELE_TEST_SCHEMATHESIS` (the `st` program); without it the test says why it is
//! skipped, and with `STELE_TEST_REQUIRE_CLIENTS=1` (set by `scripts/test`) it fails instead.
//! It runs on the backend `STELE_TEST_BACKEND` names, so `scripts/test` runs it on both.

use crate::common;

use common::{spawn_app, spawn_app_with, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let resp = app.http.get(app.url("/openapi.json")).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("the document is JSON")
}

/// Every operation of the document: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method, op));
            }
        }
    }
    assert!(out.len() > 60, "every route is documented: {} operations", out.len());
    out
}

fn is_native(path: &str) -> bool {
    (path.starts_with("/v1/")
        && path != "/v1/AuditLogs"
        && !path.starts_with("/v1/products/")
        && !path.starts_with("/v1/organizations/"))
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
}

fn statuses(op: &Value) -> Vec<&str> {
    op["responses"].as_object().expect("responses").keys().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_the_statuses_of_the_layers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (path, method, op) in operations(&doc) {
        let got = statuses(op);
        let operations_route = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");
        let mut wanted = vec!["500", "503"];
        if !operations_route {
            wanted.push("429");
        }
        if op.get("requestBody").is_some() {
            wanted.push("408");
            if is_native(&path) {
                wanted.extend(["400", "413", "415"]);
            }
        }
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            wanted.push("401");
            if is_native(&path) {
                wanted.push("403");
                assert!(
                    op["responses"]["401"]["headers"]["WWW-Authenticate"].is_object(),
                    "{method} {path}: its 401 names WWW-Authenticate"
                );
            }
        } else {
            assert!(operations_route, "{method} {path} names its security scheme");
        }
        for status in wanted {
            assert!(got.contains(&status), "{method} {path} does not list {status}: {got:?}");
        }
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_a_body_schema_in_its_family_shape() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let profile_errors = ["OneUptimeError", "CloudCockpitErrorResponse", "LosantError", "RetracedError"];
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            assert!(response["description"].is_string(), "{method} {path} {status}: a description");
            if status.as_str() < "400" {
                continue;
            }
            let content =
                response["content"].as_object().unwrap_or_else(|| panic!("{method} {path} {status}: no body"));
            assert!(!content.is_empty(), "{method} {path} {status}: no body");
            for (media, body) in content {
                let schema = body["schema"]["$ref"].as_str().unwrap_or_default();
                match media.as_str() {
                    "application/problem+json" => {
                        assert!(schema.ends_with("/Problem"), "{method} {path} {status}: {schema}")
                    }
                    "application/json" => {
                        assert!(!is_native(&path), "{method} {path} {status}: native errors are problem+json");
                        assert!(
                            profile_errors.iter().any(|e| schema.ends_with(&format!("/{e}"))),
                            "{method} {path} {status}: a profile's error shape, not {schema}"
                        );
                    }
                    other => panic!("{method} {path} {status}: unexpected media type {other}"),
                }
            }
        }
    }
    let problem = &doc["components"]["schemas"]["Problem"];
    for member in ["type", "title", "status", "detail"] {
        assert!(problem["required"].as_array().expect("required").iter().any(|r| r == member), "{member}");
    }
    assert!(problem.get("example").is_some() || problem.get("examples").is_some(), "the problem has an example");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_credentials_are_security_schemes() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["oneuptime_api_key"]["name"], "ApiKey");
    assert_eq!(schemes["retraced_token"]["name"], "Authorization");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    let expect = [
        ("/api/status-page-scim-log/count", "post", "oneuptime_api_key"),
        ("/auditlog/publisher/v1/project/{projectId}/event", "post", "retraced_token"),
        ("/v2/products/{productId}/auditlogs", "get", "basic"),
        ("/instance/{instanceId}/audit-logs", "get", "bearer"),
        ("/v1/AuditLogs", "get", "bearer"),
        ("/v1/events", "post", "bearer"),
    ];
    for (path, method, scheme) in expect {
        let op = &doc["paths"][path][method];
        assert!(op["security"][0][scheme].is_array(), "{method} {path}: {}", op["security"]);
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for credential in ["ApiKey", "Authorization"] {
            assert!(!params.iter().any(|p| p["name"] == credential), "{method} {path}: {credential} is the scheme's");
        }
    }
    app.shutdown().await;
}

/// Every operation the operator must name a tenant for documents `X-Stele-Tenant`, and the
/// server does answer 400 `missing-tenant` without it (a positive control: with it, 2xx).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_scoped_operations_take_the_tenant_header() {
    let app = spawn_app().await;
    app.tenant_with_key("acme").await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (path, method, op) in operations(&doc) {
        let takes = op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == "X-Stele-Tenant"));
        if method != "get" || path.contains('{') || path == "/v1/events/tail" {
            continue;
        }
        if !is_native(&path) || matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") {
            continue;
        }
        let without = app.get(&path, OPERATOR).send().await.expect("sent");
        let missing = without.status() == StatusCode::BAD_REQUEST
            && without.json::<Value>().await.expect("problem")["type"] == "urn:stele:problem:missing-tenant";
        assert_eq!(takes, missing, "GET {path}: documents X-Stele-Tenant: {takes}, needs it: {missing}");
        if takes {
            // With the header the tenant is found (a required parameter may still be missing).
            let with = app.op_get(&path, "acme").send().await.expect("sent");
            let status = with.status();
            if !status.is_success() {
                let answer: Value = with.json().await.expect("a problem");
                assert!(
                    status == StatusCode::BAD_REQUEST && answer["type"] != "urn:stele:problem:missing-tenant",
                    "GET {path} with the header: {status} {answer}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} tenant-scoped reads checked");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_where_the_handlers_read_them_with_their_bounds() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let param = |path: &str, method: &str, name: &str| -> Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
    };
    for (path, name) in
        [("/v1/events/count", "filter"), ("/v1/tenants/{tenant}/members", "limit"), ("/v1/keys", "tenant")]
    {
        assert_eq!(param(path, "get", name)["in"], "query", "{path} {name}");
    }
    assert_eq!(param("/v1/integrity/head", "get", "wait_ms")["schema"]["maximum"], 10000);
    assert_eq!(param("/v1/events", "get", "limit")["schema"]["maximum"], 1000);
    assert_eq!(param("/v1/events", "get", "limit")["schema"]["minimum"], 1);
    assert_eq!(param("/instance/{instanceId}/audit-logs", "get", "perPage")["schema"]["maximum"], 1000);
    assert!(param("/instance/{instanceId}/audit-logs", "get", "instanceId")["schema"]["pattern"].is_string());
    assert_eq!(param("/v2/products/{productId}/auditlogs", "get", "pageSize")["schema"]["maximum"], 100);
    assert_eq!(param("/v2/products/{productId}/auditlogs", "get", "productId")["schema"]["format"], "uuid");
    assert_eq!(param("/api/status-page-scim-log/{id}/get-item", "get", "id")["schema"]["format"], "uuid");
    // Every path parameter says what it accepts, and every parameter has a schema.
    for (path, method, op) in operations(&doc) {
        for p in op["parameters"].as_array().cloned().unwrap_or_default() {
            assert!(p["schema"].is_object(), "{method} {path} {}: a schema", p["name"]);
            if p["in"] == "path" {
                assert_eq!(p["required"], true, "{method} {path} {}", p["name"]);
            }
        }
    }
    app.shutdown().await;
}

/// The operations that make a record link to the ones that use it, so a stateful client
/// (schemathesis's stateful phase) can follow them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_operations_link_to_their_records() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let ids: Vec<&str> = operations(&doc).iter().filter_map(|(_, _, op)| op["operationId"].as_str()).collect();
    let expect = [
        ("/v1/tenants", "post", "201", "update_tenant"),
        ("/v1/keys", "post", "201", "revoke_key"),
        ("/v1/events", "post", "201", "get_event"),
        ("/v1/tenants/{tenant}/members", "post", "201", "get_member"),
        ("/v1/tenants/{tenant}/groups", "post", "201", "delete_group"),
        ("/v1/tenants/{tenant}/scim-connections", "post", "201", "rotate_scim_connection"),
        ("/v1/streams", "post", "201", "get_stream"),
    ];
    for (path, method, status, target) in expect {
        let links = doc["paths"][path][method]["responses"][status]["links"].as_object().cloned().unwrap_or_default();
        assert!(
            links.values().any(|l| l["operationId"] == target),
            "{method} {path} {status} links to {target}: {links:?}"
        );
    }
    for (path, method, op) in operations(&doc) {
        for response in op["responses"].as_object().expect("responses").values() {
            for (name, link) in response["links"].as_object().cloned().unwrap_or_default() {
                let target = link["operationId"].as_str().expect("links name an operationId");
                assert!(ids.contains(&target), "{method} {path} link {name}: no operation {target}");
            }
        }
    }
    app.shutdown().await;
}

/// What a tenant needs for every route family to find it: a UUID alias (OneUptime's
/// project, ConfigCat's organization), a 24-hex one (Losant's instance) and a domain
/// (CloudCockpit's `X-Tenant`); the aliases are the examples of those parameters.
const ALIASES: [&str; 3] = ["8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10", "5f1a2b3c4d5e6f7a8b9c0d1e", "acme.example.com"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failures() {
    let Some(st) = std::env::var("STELE_TEST_SCHEMATHESIS").ok().filter(|v| !v.trim().is_empty()) else {
        assert!(
            std::env::var("STELE_TEST_REQUIRE_CLIENTS").is_err(),
            "STELE_TEST_SCHEMATHESIS is not set but STELE_TEST_REQUIRE_CLIENTS is: scripts/test must install schemathesis"
        );
        eprintln!(
            "skipped: STELE_TEST_SCHEMATHESIS is not set, so schemathesis is not installed (scripts/test installs it)"
        );
        return;
    };
    // schemathesis sends wrong credentials on purpose (negative cases, the auth checks): with
    // the failed-authentication limit on, this address would soon get nothing but 429s.
    // `rate_limits.rs` tests the limit itself.
    let app = spawn_app_with(|c| c.rate_limits.failed_auth_per_minute = 0).await;
    app.create_tenant_with_aliases("acme", &ALIASES).await;
    let key = app.create_key("acme", &["events:read", "events:write", "events:export", "admin"]).await;
    for i in 0..3 {
        let event =
            json!({"action": "user.login", "actor": {"id": format!("u{i}")}, "context": {"product_id": ALIASES[0]}});
        app.ingest_ok(&key.secret, &event).await;
    }
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/schemathesis.toml");
    let report = tempfile::tempdir().expect("report dir");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(&st)
        .args(["--config-file", config, "run", &app.url("/openapi.json")])
        .args(["--max-examples", "5", "--seed", "20240615", "--generation-database", "none", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(report.path())
        .env("STELE_SCHEMATHESIS_OPERATOR", OPERATOR)
        .env("STELE_SCHEMATHESIS_KEY_ID", &key.id)
        .env("STELE_SCHEMATHESIS_KEY_SECRET", &key.secret)
        .current_dir(report.path())
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .output()
        .await
        .expect("st runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    println!("schemathesis took {:.0} s on {:?}", started.elapsed().as_secs_f64(), common::backend());
    assert!(out.status.success(), "schemathesis exited with {}:\n{stdout}\n{stderr}", out.status);
    // The summary lists a "Failures:" section only when a check failed (warnings, such as
    // operations that answered only 404 to generated ids, are reported but are not failures).
    assert!(stdout.contains("Test cases:") && !stdout.contains("Failures:"), "schemathesis found issues:\n{stdout}");
    app.shutdown().await;
}
