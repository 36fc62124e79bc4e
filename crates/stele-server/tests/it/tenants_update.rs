//! `PATCH /v1/tenants/{id}`: aliases and JWT keys, validation, audit events, secrets at rest.

use crate::common;
use crate::jwt_keys;

use common::{assert_problem, detail, spawn_app, TestApp, OPERATOR};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};

fn patch(app: &TestApp, tenant: &str, secret: &str, body: &Value) -> RequestBuilder {
    app.http.patch(app.url(&format!("/v1/tenants/{tenant}"))).bearer_auth(secret).json(body)
}

async fn ok(app: &TestApp, tenant: &str, body: &Value) -> Value {
    let resp = patch(app, tenant, OPERATOR, body).send().await.expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).expect("JSON")
}

async fn refused(app: &TestApp, tenant: &str, body: &Value, status: StatusCode, slug: &str) -> String {
    let resp = patch(app, tenant, OPERATOR, body).send().await.expect("sent");
    detail(&assert_problem(resp, status, slug).await).to_owned()
}

async fn tenant_updates(app: &TestApp, tenant: &str) -> Vec<Value> {
    app.all_events(tenant).await.into_iter().filter(|e| e["action"] == "stele.tenant.updated").collect()
}

#[tokio::test]
async fn aliases_are_replaced_and_found() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let body = ok(&app, "acme", &json!({"aliases": ["portal.acme.io", "9f0b2c1e-1111-4222-8333-444455556666"]})).await;
    assert_eq!(body["id"], "acme");
    assert_eq!(body["name"], "Tenant acme");
    assert_eq!(body["aliases"], json!(["9f0b2c1e-1111-4222-8333-444455556666", "portal.acme.io"]));
    assert_eq!(body["jwt"], Value::Null);
    assert!(body["created_at"].is_string());

    let listed: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(listed[0]["aliases"], body["aliases"]);

    // Replacing drops the old set; [] removes all.
    let body = ok(&app, "acme", &json!({"aliases": ["acme.example.com"]})).await;
    assert_eq!(body["aliases"], json!(["acme.example.com"]));
    let body = ok(&app, "acme", &json!({"aliases": []})).await;
    assert_eq!(body["aliases"], json!([]));

    let events = tenant_updates(&app, "acme").await;
    assert_eq!(events.len(), 3, "one event per update");
    let newest = &events[0];
    assert_eq!(newest["message"], "Updated tenant acme: aliases");
    assert_eq!(newest["targets"][0], json!({"type": "tenant", "id": "acme", "name": "Tenant acme"}));
    assert_eq!(newest["actor"]["id"], "operator");
    assert_eq!(newest["changes"]["before"], json!({"aliases": ["acme.example.com"], "jwt": null}));
    assert_eq!(newest["changes"]["after"], json!({"aliases": [], "jwt": null}));
    app.shutdown().await;
}

#[tokio::test]
async fn taken_aliases_conflict_and_change_nothing() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    ok(&app, "globex", &json!({"aliases": ["globex.example.com"]})).await;
    ok(&app, "acme", &json!({"aliases": ["acme.example.com"]})).await;
    for taken in ["globex.example.com", "globex"] {
        let d =
            refused(&app, "acme", &json!({"aliases": ["new.example.com", taken]}), StatusCode::CONFLICT, "conflict")
                .await;
        assert!(d.contains(taken), "{d}");
    }
    let listed: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(listed[0]["id"], "acme");
    assert_eq!(listed[0]["aliases"], json!(["acme.example.com"]), "unchanged after the conflict");
    assert_eq!(tenant_updates(&app, "acme").await.len(), 1, "a refused update records nothing");
    app.shutdown().await;
}

#[tokio::test]
async fn bad_requests_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let cases = [
        (json!({}), "at least one"),
        (json!({"aliases": ["a b"]}), "aliases[0]"),
        (json!({"aliases": [""]}), "aliases[0]"),
        (json!({"aliases": ["x", "x"]}), "aliases[1]"),
        (json!({"aliases": "x"}), "aliases"),
        (json!({"name": "Other"}), "name"),
        (json!({"aliases": [], "color": "red"}), "color"),
        (json!({"jwt": {"alg": "HS512", "secret": jwt_keys::HS_SECRET}}), "jwt.alg"),
        (json!({"jwt": {"alg": "HS256"}}), "jwt.secret"),
        (json!({"jwt": {"alg": "HS256", "secret": "short"}}), "jwt.secret"),
        (
            json!({"jwt": {"alg": "HS256", "secret": jwt_keys::HS_SECRET, "public_key_pem": jwt_keys::RSA_PUBLIC_PEM}}),
            "jwt.public_key_pem",
        ),
        (json!({"jwt": {"alg": "RS256", "secret": jwt_keys::HS_SECRET}}), "jwt.secret"),
        (json!({"jwt": {"alg": "RS256"}}), "jwt.public_key_pem"),
        (
            json!({"jwt": {"alg": "RS256", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}}),
            "jwt.public_key_pem",
        ),
        (json!({"jwt": {"alg": "RS256", "public_key_pem": jwt_keys::RSA_PRIVATE_PEM}}), "private key"),
        (json!({"jwt": {"alg": "EdDSA", "public_key_pem": jwt_keys::RSA_PUBLIC_PEM}}), "Ed25519"),
        (json!({"jwt": {"alg": "HS256", "secret": jwt_keys::HS_SECRET, "kid": "1"}}), "kid"),
    ];
    for (body, needle) in cases {
        let d = refused(&app, "acme", &body, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(d.contains(needle), "{body}: {d}");
    }
    let resp = app
        .http
        .patch(app.url("/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .header("content-type", "application/json")
        .body("{\"aliases\": [")
        .send()
        .await
        .expect("sent");
    assert_problem(resp, StatusCode::BAD_REQUEST, "malformed-json").await;
    assert!(tenant_updates(&app, "acme").await.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn only_the_operator_updates_and_unknown_tenants_are_404() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let admin = app.create_key("acme", &["admin", "events:read"]).await;
    let resp = patch(&app, "acme", &admin.secret, &json!({"aliases": ["mine"]})).send().await.expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp =
        patch(&app, "acme", "stl_key_0000000000000000.nope", &json!({"aliases": []})).send().await.expect("sent");
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    refused(&app, "nobody", &json!({"aliases": []}), StatusCode::NOT_FOUND, "not-found").await;
    refused(&app, "Not A Slug", &json!({"aliases": []}), StatusCode::NOT_FOUND, "not-found").await;
    app.shutdown().await;
}

#[tokio::test]
async fn jwt_keys_are_set_replaced_and_removed_and_never_echoed() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    ok(&app, "acme", &json!({"aliases": ["portal.acme.io"]})).await;

    let body = ok(&app, "acme", &json!({"jwt": {"alg": "HS256", "secret": jwt_keys::HS_SECRET}})).await;
    assert_eq!(body["jwt"], json!({"alg": "HS256", "configured": true}));
    assert_eq!(body["aliases"], json!(["portal.acme.io"]), "aliases untouched");
    assert!(!body.to_string().contains(jwt_keys::HS_SECRET));

    let (_, ed_pem) = jwt_keys::ed25519();
    let body = ok(&app, "acme", &json!({"jwt": {"alg": "EdDSA", "public_key_pem": ed_pem}})).await;
    assert_eq!(body["jwt"], json!({"alg": "EdDSA", "configured": true}));
    let body = ok(
        &app,
        "acme",
        &json!({"jwt": {"alg": "RS256", "public_key_pem": jwt_keys::RSA_PUBLIC_PEM}, "aliases": ["a.io"]}),
    )
    .await;
    assert_eq!(body["jwt"], json!({"alg": "RS256", "configured": true}));
    assert_eq!(body["aliases"], json!(["a.io"]));
    let body = ok(&app, "acme", &json!({"jwt": null})).await;
    assert_eq!(body["jwt"], Value::Null);

    let events = tenant_updates(&app, "acme").await;
    let messages: Vec<&str> = events.iter().rev().map(|e| e["message"].as_str().expect("message")).collect();
    assert_eq!(
        messages,
        [
            "Updated tenant acme: aliases",
            "Updated tenant acme: JWT key",
            "Updated tenant acme: JWT key",
            "Updated tenant acme: aliases, JWT key",
            "Updated tenant acme: JWT key"
        ]
    );
    let jwt_history: Vec<(Value, Value)> = events
        .iter()
        .rev()
        .map(|e| (e["changes"]["before"]["jwt"].clone(), e["changes"]["after"]["jwt"].clone()))
        .collect();
    assert_eq!(
        jwt_history,
        [
            (Value::Null, Value::Null),
            (Value::Null, json!("HS256")),
            (json!("HS256"), json!("EdDSA")),
            (json!("EdDSA"), json!("RS256")),
            (json!("RS256"), Value::Null)
        ]
    );
    let log = app.all_events("acme").await;
    assert!(!serde_json::to_string(&log).expect("JSON").contains(jwt_keys::HS_SECRET), "the secret is not in the log");
    app.shutdown().await;
}

#[tokio::test]
async fn the_hs256_secret_is_stored_sealed_under_a_private_secret_key() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    ok(&app, "acme", &json!({"jwt": {"alg": "HS256", "secret": jwt_keys::HS_SECRET}})).await;
    let key_file = app.data_dir().join("secret.key");
    let meta = std::fs::metadata(&key_file).expect("secret.key generated");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let key_text = std::fs::read_to_string(&key_file).expect("read");
    assert_eq!(stele_server::secret_key::SecretKey::from_base64(&key_text).map(|_| ()), Ok(()));
    if common::backend() == common::Backend::Sqlite {
        let secret = jwt_keys::HS_SECRET.as_bytes();
        for entry in std::fs::read_dir(app.data_dir()).expect("dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            assert!(!bytes.windows(secret.len()).any(|w| w == secret), "{} holds the secret in clear", path.display());
        }
    }
    app.shutdown().await;
}

/// A server on `dir` (SQLite there) with an optional configured secret key.
async fn start_on(
    dir: &std::path::Path,
    secret_key: Option<&str>,
) -> Result<stele_server::Running, stele_server::StartError> {
    let config = stele_server::Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.into(),
        admin_key: Some(OPERATOR.into()),
        secret_key: secret_key.map(stele_server::secret_key::SecretText::new),
        ..stele_server::Config::default()
    };
    stele_server::start(config).await
}

async fn audit_logs_status(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/v1/AuditLogs"))
        .header("X-Tenant", "portal.acme.io")
        .bearer_auth(token)
        .send()
        .await
        .expect("sent")
        .status()
}

#[tokio::test]
async fn the_secret_key_persists_and_decides_what_opens() {
    let dir = tempfile::tempdir().expect("dir");
    let token = jwt_keys::hs256(&json!({"role": "csp", "exp": jwt_keys::epoch(600)}), jwt_keys::HS_SECRET);
    let server = start_on(dir.path(), None).await.expect("starts");
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(OPERATOR)
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = http
        .patch(format!("{base}/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .json(&json!({"aliases": ["portal.acme.io"], "jwt": {"alg": "HS256", "secret": jwt_keys::HS_SECRET}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(audit_logs_status(&base, &token).await, StatusCode::OK);
    server.shutdown().await.expect("stops");

    // Restarted on the same data directory: secret.key is read back, the secret still opens.
    let server = start_on(dir.path(), None).await.expect("restarts");
    assert_eq!(audit_logs_status(&format!("http://{}", server.addr), &token).await, StatusCode::OK);
    server.shutdown().await.expect("stops");

    // Another configured key cannot open what the first sealed: tokens are refused.
    let other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let server = start_on(dir.path(), Some(other)).await.expect("starts with STELE_SECRET_KEY");
    assert_eq!(audit_logs_status(&format!("http://{}", server.addr), &token).await, StatusCode::UNAUTHORIZED);
    server.shutdown().await.expect("stops");

    // The file's key given as STELE_SECRET_KEY works the same as the file.
    let file_key = std::fs::read_to_string(dir.path().join("secret.key")).expect("read");
    let server = start_on(dir.path(), Some(file_key.trim())).await.expect("starts");
    assert_eq!(audit_logs_status(&format!("http://{}", server.addr), &token).await, StatusCode::OK);
    server.shutdown().await.expect("stops");

    for bad in ["c2hvcnQ=", "not base64 at all"] {
        match start_on(dir.path(), Some(bad)).await {
            Err(e) => assert!(e.to_string().starts_with("STELE_SECRET_KEY"), "{e}"),
            Ok(_) => panic!("{bad:?} was accepted as a secret key"),
        }
    }
}

/// serde reads a struct from an array (its fields by position): `[null, null]` had been a
/// PATCH setting `aliases` and `jwt` to null, removing the tenant's JWT key (found by
/// schemathesis). Every admin body must be an object.
#[tokio::test]
async fn a_json_array_is_not_a_body_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    ok(&app, "acme", &json!({"jwt": {"alg": "HS256", "secret": jwt_keys::HS_SECRET}})).await;
    for body in [json!([null, null]), json!([["x.example"], null]), json!("text"), json!(1), json!(null)] {
        let detail = refused(&app, "acme", &body, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(detail.contains("object"), "{body}: {detail}");
    }
    let tenants: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("JSON");
    let acme = tenants.as_array().expect("tenants").iter().find(|t| t["id"] == "acme").cloned().expect("acme");
    assert_eq!(acme["aliases"], json!([]), "{acme}");
    assert_eq!(tenant_updates(&app, "acme").await.len(), 1, "only the JWT key's update");
    // The key is still there: an empty update answers it.
    assert_eq!(ok(&app, "acme", &json!({"aliases": []})).await["jwt"]["configured"], true);
    // Trailing text after the object is malformed, not ignored.
    let resp = patch(&app, "acme", OPERATOR, &json!({}))
        .body("{\"aliases\": []} {\"jwt\": null}")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_problem(resp, StatusCode::BAD_REQUEST, "malformed-json").await;
}

/// An alias is 1-256 characters, as the detail says: it had counted bytes.
#[tokio::test]
async fn an_alias_is_counted_in_characters() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let body = ok(&app, "acme", &json!({"aliases": ["é".repeat(256)]})).await;
    assert_eq!(body["aliases"][0].as_str().map(|a| a.chars().count()), Some(256));
    refused(&app, "acme", &json!({"aliases": ["é".repeat(257)]}), StatusCode::BAD_REQUEST, "invalid-body").await;
}
