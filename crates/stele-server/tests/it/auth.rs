//! Authentication, scopes and tenant isolation over HTTP.

use crate::common;

use std::collections::HashSet;

use common::{assert_problem, detail, id, spawn_app, OPERATOR};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated() {
    let app = spawn_app().await;
    let a = app.tenant_with_key("a").await;
    let b = app.tenant_with_key("b").await;
    let mut b_ids = HashSet::new();
    for i in 0..5 {
        let r = app.ingest_ok(&b.secret, &json!({"action": "b.secret", "message": format!("b{i}")})).await;
        b_ids.insert(id(&r).to_owned());
    }
    let a_receipt = app.ingest_ok(&a.secret, &json!({"action": "a.thing"})).await;
    // A key of `a` naming tenant `b` in the header still writes to `a`.
    let resp = app.post_json("/v1/events", &a.secret, &json!({"action": "a.sneaky"})).header("x-stele-tenant", "b");
    let sneaky: Value = resp.send().await.expect("sent").json().await.expect("receipt");
    assert!(app.all_events("a").await.iter().any(|e| e["id"] == sneaky["id"]), "written to its own tenant");
    assert!(!app.all_events("b").await.iter().any(|e| e["id"] == sneaky["id"]), "never to another's");

    // Get by id: B's event is "not found" for A, exactly like an unknown id.
    let b_id = b_ids.iter().next().expect("an id").clone();
    let unknown = "0193a0c4-0000-7000-8000-000000000000";
    let resp = app.get(&format!("/v1/events/{b_id}"), &a.secret).send().await.expect("sent");
    let cross = assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    let resp = app.get(&format!("/v1/events/{unknown}"), &a.secret).send().await.expect("sent");
    let missing = assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(
        cross.to_string().replace(&b_id, "ID"),
        missing.to_string().replace(unknown, "ID"),
        "another tenant's event must look exactly like an unknown one"
    );
    // Also with the header naming b.
    let resp = app.get(&format!("/v1/events/{b_id}"), &a.secret).header("x-stele-tenant", "b").send().await;
    assert_problem(resp.expect("sent"), StatusCode::NOT_FOUND, "not-found").await;

    // Listing: none of B's events, with or without the header, at any page size.
    for header in [None, Some("b")] {
        let mut req = app.get("/v1/events?limit=1000", &a.secret);
        if let Some(h) = header {
            req = req.header("x-stele-tenant", h);
        }
        let page: Value = req.send().await.expect("sent").json().await.expect("page");
        let listed = page["events"].as_array().expect("events");
        assert!(listed.iter().all(|e| !b_ids.contains(id(e))), "A sees B's events");
        assert!(listed.iter().all(|e| e["action"] != "b.secret"));
        // A's log: tenant created, key created, two events.
        assert_eq!(listed.len(), 4, "A counts only its own events");
        assert!(listed.iter().any(|e| e["id"] == a_receipt["id"]));
    }

    // The operator sees B's events when it names B, and only B's.
    let b_events = app.all_events("b").await;
    let seen: HashSet<String> = b_events.iter().map(|e| id(e).to_owned()).collect();
    assert!(b_ids.is_subset(&seen));
    assert!(!seen.contains(id(&a_receipt)));
    let resp = app.op_get(&format!("/v1/events/{b_id}"), "b").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app.op_get(&format!("/v1/events/{b_id}"), "a").send().await.expect("sent");
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;

    // The operator without the header must name a tenant.
    let resp = app.get("/v1/events", OPERATOR).send().await.expect("sent");
    let p = assert_problem(resp, StatusCode::BAD_REQUEST, "missing-tenant").await;
    assert!(detail(&p).contains("X-Stele-Tenant"), "{p}");
    let resp = app.post_json("/v1/events", OPERATOR, &json!({"action": "x"})).send().await.expect("sent");
    assert_problem(resp, StatusCode::BAD_REQUEST, "missing-tenant").await;
    let resp = app.get("/v1/events", OPERATOR).header("x-stele-tenant", "Not A Slug").send().await.expect("sent");
    assert_problem(resp, StatusCode::BAD_REQUEST, "missing-tenant").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let url = app.url("/v1/events");

    let unauthorized = |resp: reqwest::Response| async move {
        let www = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let p = assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let www = www.expect("WWW-Authenticate on 401");
        assert!(www.starts_with("Bearer"), "{www}");
        p
    };

    // Missing.
    unauthorized(app.http.get(&url).send().await.expect("sent")).await;
    // Malformed schemes.
    for value in ["Basic x", "Bearer", "Bearer ", "Token abc", "bearer"] {
        let resp = app.http.get(&url).header(AUTHORIZATION, value).send().await.expect("sent");
        unauthorized(resp).await;
    }
    // A valid key under another scheme is refused (and is accepted as a bearer token).
    for scheme in ["Basic", "Token", "Key"] {
        let resp = app.http.get(&url).header(AUTHORIZATION, format!("{scheme} {}", key.secret)).send().await;
        unauthorized(resp.expect("sent")).await;
    }
    let resp = app.http.get(&url).header(AUTHORIZATION, format!("bEaReR {}", key.secret)).send().await;
    assert_eq!(resp.expect("sent").status(), StatusCode::OK, "the scheme is case-insensitive");
    // Wrong secrets: unknown key id, right id with the wrong secret, the operator key altered.
    let wrong_tail =
        format!("{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key.secret.split('.').next().expect("prefix"));
    for secret in ["stl_key_0000000000000000.abc", wrong_tail.as_str(), "test-operator-key-2", "x"] {
        let resp = app.get("/v1/events", secret).send().await.expect("sent");
        let p = unauthorized(resp).await;
        // The same answer whatever was wrong.
        assert_eq!(detail(&p), "the key is unknown, wrong or revoked");
    }
    // Writes too.
    let resp = app.http.post(&url).json(&json!({"action": "a"})).send().await.expect("sent");
    unauthorized(resp).await;
    // The right key works.
    let resp = app.get("/v1/events", &key.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    // Admin routes too.
    let resp = app.http.get(app.url("/v1/tenants")).send().await.expect("sent");
    unauthorized(resp).await;
    let resp = app.http.get(app.url("/v1/keys")).send().await.expect("sent");
    unauthorized(resp).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_key_stops_at_once() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    // Use it first, so the server has it cached.
    app.ingest_ok(&key.secret, &json!({"action": "before.revoke"})).await;
    let resp = app.get("/v1/events", &key.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = app.http.delete(app.url(&format!("/v1/keys/{}", key.id))).bearer_auth(OPERATOR).send().await;
    let resp = resp.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let revoked: Value = resp.json().await.expect("key JSON");
    assert_eq!(revoked["id"], key.id.as_str());
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    let before = app.count("acme").await;
    let resp = app.ingest(&key.secret, &json!({"action": "after.revoke"})).await;
    let p = assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(detail(&p), "the key is unknown, wrong or revoked");
    let resp = app.get("/v1/events", &key.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count("acme").await, before);
    // Revoking twice: still answers (idempotent or a clear 4xx), never a 5xx.
    let resp = app.http.delete(app.url(&format!("/v1/keys/{}", key.id))).bearer_auth(OPERATOR).send().await;
    assert!(!resp.expect("sent").status().is_server_error());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_enforced() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let read_only = app.create_key("acme", &["events:read"]).await;
    let write_only = app.create_key("acme", &["events:write"]).await;

    let before = app.count("acme").await;
    let resp = app.ingest(&read_only.secret, &json!({"action": "a"})).await;
    let p = assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(detail(&p).contains("events:write"), "{p}");
    assert_eq!(app.count("acme").await, before);

    let r = app.ingest_ok(&write_only.secret, &json!({"action": "a"})).await;
    let resp = app.get("/v1/events", &write_only.secret).send().await.expect("sent");
    let p = assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(detail(&p).contains("events:read"), "{p}");
    let resp = app.get(&format!("/v1/events/{}", id(&r)), &write_only.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app.get(&format!("/v1/events/{}", id(&r)), &read_only.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);

    // Keys without `admin` cannot manage keys.
    let resp = app.get("/v1/keys", &read_only.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .post_json("/v1/keys", &write_only.secret, &json!({"name": "mine", "scopes": ["events:read"]}))
        .send()
        .await
        .expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app.http.delete(app.url(&format!("/v1/keys/{}", read_only.id))).bearer_auth(&write_only.secret).send();
    assert_problem(resp.await.expect("sent"), StatusCode::FORBIDDEN, "forbidden").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_admin_manages_only_its_own_tenant() {
    let app = spawn_app().await;
    app.create_tenant("a").await;
    app.create_tenant("b").await;
    let admin_a = app.create_key("a", &["admin", "events:read"]).await;
    let key_b = app.create_key("b", &["events:read"]).await;

    // Not the operator: no tenants.
    let resp = app
        .post_json("/v1/tenants", &admin_a.secret, &json!({"id": "c", "name": "C", "aliases": []}))
        .send()
        .await
        .expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let tenants: Value = app.get("/v1/tenants", OPERATOR).send().await.expect("sent").json().await.expect("json");
    assert_eq!(tenants.as_array().map(Vec::len), Some(2), "no tenant c: {tenants}");

    // Its own tenant's keys: yes, with or without naming the tenant.
    for body in [
        json!({"name": "k1", "scopes": ["events:read"]}),
        json!({"tenant": "a", "name": "k2", "scopes": ["events:read"]}),
    ] {
        let resp = app.post_json("/v1/keys", &admin_a.secret, &body).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await.expect("json");
        assert_eq!(created["tenant"], "a");
    }
    // Another tenant's: no.
    let before_b = app.count("b").await;
    let resp = app
        .post_json("/v1/keys", &admin_a.secret, &json!({"tenant": "b", "name": "evil", "scopes": ["events:read"]}))
        .send()
        .await
        .expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app.get("/v1/keys?tenant=b", &admin_a.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Revoking B's key answers like an unknown key, and the key still works.
    let resp = app.http.delete(app.url(&format!("/v1/keys/{}", key_b.id))).bearer_auth(&admin_a.secret).send().await;
    let cross = assert_problem(resp.expect("sent"), StatusCode::NOT_FOUND, "not-found").await;
    let unknown = "key_0123456789abcdef";
    let resp = app.http.delete(app.url(&format!("/v1/keys/{unknown}"))).bearer_auth(&admin_a.secret).send().await;
    let missing = assert_problem(resp.expect("sent"), StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(cross.to_string().replace(&key_b.id, "ID"), missing.to_string().replace(unknown, "ID"));
    let resp = app.get("/v1/events", &key_b.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "B's key was not revoked");
    assert_eq!(app.count("b").await, before_b, "nothing written to B's log");

    // Its listing holds only its tenant's keys.
    let keys: Value = app.get("/v1/keys", &admin_a.secret).send().await.expect("sent").json().await.expect("json");
    let keys = keys.as_array().expect("array");
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k["tenant"] == "a"), "{keys:?}");
    app.shutdown().await;
}
