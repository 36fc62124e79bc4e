//! `/v1/tenants` and `/v1/keys`: shapes, conflicts, validation, secrets shown once, and
//! every change recorded in the tenant's own log.

use crate::common;

use common::{assert_problem, detail, spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn post(app: &TestApp, path: &str, secret: &str, body: Value) -> reqwest::Response {
    app.post_json(path, secret, &body).send().await.expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_created_once_and_validated() {
    let app = spawn_app().await;
    let resp =
        post(&app, "/v1/tenants", OPERATOR, json!({"id": "acme", "name": "Acme Inc", "aliases": ["acme.io"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let t: Value = resp.json().await.expect("json");
    assert_eq!(t["id"], "acme");
    assert_eq!(t["name"], "Acme Inc");
    assert_eq!(t["aliases"], json!(["acme.io"]));
    assert!(t["created_at"].as_str().is_some_and(|s| s.ends_with('Z')), "{t}");
    assert_eq!(t.as_object().map(|o| o.len()), Some(4), "{t}");

    // aliases may be omitted.
    let resp = post(&app, "/v1/tenants", OPERATOR, json!({"id": "beta", "name": "Beta"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Conflicts.
    let resp = post(&app, "/v1/tenants", OPERATOR, json!({"id": "acme", "name": "Again", "aliases": []})).await;
    let p = assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    assert!(detail(&p).contains("acme"), "{p}");
    let resp = post(&app, "/v1/tenants", OPERATOR, json!({"id": "other", "name": "O", "aliases": ["acme.io"]})).await;
    let p = assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    assert!(detail(&p).contains("acme.io"), "{p}");
    // Nothing of the refused tenant exists.
    let tenants: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("json");
    let mut names: Vec<&str> =
        tenants.as_array().expect("array").iter().map(|t| t["id"].as_str().expect("id")).collect();
    names.sort_unstable();
    assert_eq!(names, ["acme", "beta"]);

    // Validation names the field.
    let cases = [
        (json!({"id": "Bad Slug", "name": "x"}), "id"),
        (json!({"id": "-dash", "name": "x"}), "id"),
        (json!({"id": "x".repeat(65), "name": "x"}), "id"),
        (json!({"id": "ok", "name": ""}), "name"),
        (json!({"id": "ok", "name": "x", "aliases": ["has space"]}), "aliases[0]"),
        (json!({"id": "ok", "name": "x", "colour": "red"}), "colour"),
        (json!({"id": "ok"}), "name"),
        (json!({"id": 5, "name": "x"}), "id"),
    ];
    for (body, field) in cases {
        let resp = post(&app, "/v1/tenants", OPERATOR, body.clone()).await;
        let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(detail(&p).contains(field), "{body}: detail should name {field}: {p}");
    }
    let resp = app.post_raw("/v1/tenants", OPERATOR, Some("application/json"), b"{\"id\":".to_vec()).send().await;
    assert_problem(resp.expect("sent"), StatusCode::BAD_REQUEST, "malformed-json").await;
    let resp = app.post_raw("/v1/tenants", OPERATOR, Some("text/plain"), b"{}".to_vec()).send().await;
    assert_problem(resp.expect("sent"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type").await;
    let tenants: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("json");
    assert_eq!(tenants.as_array().map(Vec::len), Some(2));

    // The creation is the first event of the tenant's log.
    let log = app.all_events("acme").await;
    assert_eq!(log.len(), 1);
    let e = &log[0];
    assert_eq!(e["seq"], 1);
    assert_eq!(e["action"], "stele.tenant.created");
    assert_eq!(e["actor"]["type"], "key");
    assert_eq!(e["actor"]["id"], "operator");
    assert_eq!(e["targets"][0]["type"], "tenant");
    assert_eq!(e["targets"][0]["id"], "acme");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_show_their_secret_once_and_are_logged() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    app.create_tenant("beta").await;

    let resp =
        post(&app, "/v1/keys", OPERATOR, json!({"tenant": "acme", "name": "ci", "scopes": ["admin", "events:write"]}))
            .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let k: Value = resp.json().await.expect("json");
    let key_id = k["id"].as_str().expect("id").to_owned();
    let secret = k["secret"].as_str().expect("secret").to_owned();
    assert!(key_id.starts_with("key_"), "{k}");
    assert!(secret.starts_with("stl_key_"), "{k}");
    assert!(secret.starts_with(&format!("stl_{key_id}.")), "{k}");
    assert_eq!(k["tenant"], "acme");
    assert_eq!(k["name"], "ci");
    let mut scopes: Vec<&str> =
        k["scopes"].as_array().expect("scopes").iter().map(|s| s.as_str().expect("str")).collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["admin", "events:write"]);
    assert!(k["revoked_at"].is_null());

    // The new key works; its admin scope lets it make another for its tenant (with scopes it holds).
    let resp = post(&app, "/v1/keys", &secret, json!({"name": "child", "scopes": ["events:write"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let child: Value = resp.json().await.expect("json");
    let child_id = child["id"].as_str().expect("id").to_owned();
    let resp =
        post(&app, "/v1/keys", OPERATOR, json!({"tenant": "beta", "name": "b", "scopes": ["events:read"]})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Listings never hold secrets or hashes.
    for (path, secret_used, n) in
        [("/v1/keys", OPERATOR, 3), ("/v1/keys?tenant=acme", OPERATOR, 2), ("/v1/keys", secret.as_str(), 2)]
    {
        let resp = app.get(path, secret_used).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::OK);
        let text = resp.text().await.expect("body");
        assert!(!text.contains("stl_"), "{path} leaks a secret: {text}");
        assert!(!text.contains(secret.split('.').nth(1).expect("random part")), "{text}");
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains("secret") && !lower.contains("hash"), "{path}: {text}");
        let list: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(list.as_array().map(Vec::len), Some(n), "{path}: {text}");
    }

    // Revoke the child with the parent key.
    let resp = app.http.delete(app.url(&format!("/v1/keys/{child_id}"))).bearer_auth(&secret).send().await;
    assert_eq!(resp.expect("sent").status(), StatusCode::OK);

    // Each change is an event in the tenant's log with the right actor and target.
    let mut log = app.all_events("acme").await;
    log.reverse();
    let summary: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                e["actor"]["id"].as_str().expect("actor id").to_owned(),
                e["targets"][0]["id"].as_str().expect("target id").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("stele.tenant.created", "operator", "acme"),
        ("stele.key.created", "operator", key_id.as_str()),
        ("stele.key.created", key_id.as_str(), child_id.as_str()),
        ("stele.key.revoked", key_id.as_str(), child_id.as_str()),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(summary, expected);
    assert!(log.iter().all(|e| e["actor"]["type"] == "key" && e["targets"][0]["type"].is_string()));
    // The actor's name: the operator's, then the key's own.
    let names: Vec<&str> = log.iter().map(|e| e["actor"]["name"].as_str().expect("actor name")).collect();
    assert_eq!(names, ["operator", "operator", "ci", "ci"]);
    assert_eq!(log.iter().map(|e| e["seq"].as_u64().expect("seq")).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(!serde_json::to_string(&log).expect("json").contains(&secret), "a secret in the log");
    // beta's log holds only its own changes.
    let beta: Vec<String> =
        app.all_events("beta").await.iter().map(|e| e["action"].as_str().expect("action").to_owned()).collect();
    assert_eq!(beta, ["stele.key.created", "stele.tenant.created"]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_validation() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let cases = [
        (json!({"tenant": "acme", "name": "k", "scopes": []}), StatusCode::BAD_REQUEST, "invalid-body", "scopes"),
        (
            json!({"tenant": "acme", "name": "k", "scopes": ["events:delete"]}),
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "scopes",
        ),
        (json!({"tenant": "acme", "name": "", "scopes": ["admin"]}), StatusCode::BAD_REQUEST, "invalid-body", "name"),
        (
            json!({"tenant": "acme", "name": "k", "scopes": ["admin"], "x": 1}),
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "x",
        ),
        (json!({"name": "k", "scopes": ["admin"]}), StatusCode::BAD_REQUEST, "invalid-body", "tenant"),
        (
            json!({"tenant": "No Slug", "name": "k", "scopes": ["admin"]}),
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "tenant",
        ),
        (json!({"tenant": "ghost", "name": "k", "scopes": ["admin"]}), StatusCode::NOT_FOUND, "not-found", "ghost"),
    ];
    for (body, status, slug, names) in cases {
        let resp = post(&app, "/v1/keys", OPERATOR, body.clone()).await;
        let p = assert_problem(resp, status, slug).await;
        assert!(detail(&p).contains(names), "{body}: detail should name {names}: {p}");
    }
    let keys: Value = app.get("/v1/keys", OPERATOR).send().await.expect("sent").json().await.expect("json");
    assert_eq!(keys, json!([]), "no refused key was stored");
    assert_eq!(app.count("acme").await, 1, "no key event was logged");
    // Unknown and malformed key ids on revoke.
    for bad in ["key_0123456789abcdef", "nope"] {
        let resp = app.http.delete(app.url(&format!("/v1/keys/{bad}"))).bearer_auth(OPERATOR).send().await;
        assert_problem(resp.expect("sent"), StatusCode::NOT_FOUND, "not-found").await;
    }
    let resp = app.get("/v1/keys?colour=red", OPERATOR).send().await.expect("sent");
    let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    assert!(detail(&p).contains("colour"), "{p}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_key_sees_only_its_tenant() {
    let app = spawn_app().await;
    let a = app.tenant_with_key("a").await;
    app.tenant_with_key("b").await;
    let all: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("json");
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let own: Value = app.get("/v1/tenants", &a.secret).send().await.expect("sent").json().await.expect("json");
    let own = own.as_array().expect("array");
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["id"], "a");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_bodies_are_limited_and_revocation_is_stable() {
    let app = spawn_app().await;
    // Over the 64 KiB admin limit (raw, because the server may answer before reading it all).
    let big = json!({"id": "big", "name": "n", "aliases": vec!["a".repeat(200); 400]}).to_string();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    let (status, ct, text) = common::raw_exchange(&addr, head, big.into_bytes()).await;
    assert_eq!((status, ct.as_str()), (413, "application/problem+json"), "{text}");
    assert!(text.contains("urn:stele:problem:payload-too-large"), "{text}");
    let tenants: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("json");
    assert_eq!(tenants, json!([]));

    let key = app.tenant_with_key("acme").await;
    let revoke = || async {
        let resp = app.http.delete(app.url(&format!("/v1/keys/{}", key.id))).bearer_auth(OPERATOR).send().await;
        let resp = resp.expect("sent");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<Value>().await.expect("json")
    };
    let first = revoke().await;
    let second = revoke().await;
    assert_eq!(first["revoked_at"], second["revoked_at"], "a second revocation keeps the first time");
    app.shutdown().await;
}
