//! Keys and views as access boundaries (issue #10, finding 1, 3 and 9), through the real
//! server: a key cannot make a wider key, a filtered key manages only keys inside its view and
//! writes only events it could read, views compare exactly on every read route, `events:export`
//! is what export needs, and every way into the query model is bounded.

use crate::common;

use common::{assert_problem, spawn_app, Key, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROJECT: &str = "6f1c9a52-1b2c-4d3e-8f40-5a6b7c8d9e0f";
const INSTANCE: &str = "575ed6e87ae143cd83dc4aa8";

/// A key made by `maker` (the operator or a key secret); returns the answer.
async fn make_key(app: &TestApp, maker: &str, body: Value) -> reqwest::Response {
    app.post_json("/v1/keys", maker, &body).send().await.expect("sent")
}

async fn made(app: &TestApp, maker: &str, body: Value) -> Key {
    let resp = make_key(app, maker, body).await;
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    Key { id: v["id"].as_str().expect("id").into(), secret: v["secret"].as_str().expect("secret").into() }
}

async fn listed_ids(app: &TestApp, secret: &str) -> Vec<String> {
    let resp = app.get("/v1/keys", secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let keys: Vec<Value> = resp.json().await.expect("JSON");
    keys.iter().map(|k| k["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn a_key_grants_only_scopes_it_holds() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let admin = app.create_key("acme", &["admin"]).await;
    let resp = make_key(&app, &admin.secret, json!({"name": "w", "scopes": ["events:write"]})).await;
    let problem = assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(common::detail(&problem).contains("events:write"), "{problem}");
    let resp = make_key(&app, &admin.secret, json!({"name": "x", "scopes": ["admin", "events:export"]})).await;
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Positive controls: a subset of its own scopes, and the operator any.
    made(&app, &admin.secret, json!({"name": "a2", "scopes": ["admin"]})).await;
    let wider = app.create_key("acme", &["admin", "events:read"]).await;
    made(&app, &wider.secret, json!({"name": "r", "scopes": ["events:read"]})).await;
    // A key's name passes the one character check of names (no bidi overrides, no NUL).
    for name in ["evil\u{202E}txt.exe", "a\u{0}b"] {
        let resp = make_key(&app, OPERATOR, json!({"tenant": "acme", "name": name, "scopes": ["events:read"]})).await;
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_filtered_key_sees_makes_and_revokes_only_keys_inside_its_view() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let scopes = ["admin", "events:write", "events:read"];
    let unfiltered = made(&app, OPERATOR, json!({"tenant": "acme", "name": "all", "scopes": scopes})).await;
    let view = r#"context.reseller_id eq "r1""#;
    let body = json!({"tenant": "acme", "name": "r1", "scopes": scopes, "view_filter": view});
    let filtered = made(&app, OPERATOR, body).await;
    let other = made(
        &app,
        OPERATOR,
        json!({"tenant": "acme", "name": "r2", "scopes": scopes, "view_filter": r#"context.reseller_id eq "r2""#}),
    )
    .await;

    // A key it makes is at least as narrow as itself, whatever it asks for.
    let child = made(&app, &filtered.secret, json!({"name": "child", "scopes": ["events:write"]})).await;
    let keys: Vec<Value> =
        app.get("/v1/keys?tenant=acme", OPERATOR).send().await.expect("sent").json().await.expect("JSON");
    let child_view = keys.iter().find(|k| k["id"] == child.id.as_str()).expect("child listed")["view_filter"].clone();
    assert_eq!(child_view, json!(view), "{keys:?}");

    // It lists itself and its child, not the unfiltered key nor another view's key.
    let mut seen = listed_ids(&app, &filtered.secret).await;
    seen.sort();
    let mut want = vec![filtered.id.clone(), child.id.clone()];
    want.sort();
    assert_eq!(seen, want);
    // Positive control: the unfiltered key lists all four.
    assert_eq!(listed_ids(&app, &unfiltered.secret).await.len(), 4);

    // It cannot revoke keys outside its view (404, like an unknown key); they keep working.
    for outside in [&unfiltered, &other] {
        let resp = app.http.delete(app.url(&format!("/v1/keys/{}", outside.id))).bearer_auth(&filtered.secret);
        assert_problem(resp.send().await.expect("sent"), StatusCode::NOT_FOUND, "not-found").await;
        assert_eq!(app.get("/v1/events", &outside.secret).send().await.expect("sent").status(), StatusCode::OK);
    }
    // Positive control: it revokes its own child.
    let resp = app.http.delete(app.url(&format!("/v1/keys/{}", child.id))).bearer_auth(&filtered.secret);
    assert_eq!(resp.send().await.expect("sent").status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn a_filtered_key_writes_only_events_inside_its_view() {
    let app = spawn_app().await;
    app.create_tenant_with_aliases("acme", &["acme-project"]).await;
    let body = json!({"tenant": "acme", "name": "r1", "scopes": ["events:write", "events:read"],
        "view_filter": r#"context.reseller_id eq "r1" or context.group_id eq "g1""#});
    let writer = made(&app, OPERATOR, body).await;
    let before = app.count("acme").await;
    let event = |reseller: Option<&str>| match reseller {
        Some(r) => json!({"action": "order.created", "context": {"reseller_id": r}}),
        None => json!({"action": "order.created"}),
    };
    for outside in [event(Some("r2")), event(Some("R1")), event(None)] {
        let problem =
            assert_problem(app.ingest(&writer.secret, &outside).await, StatusCode::BAD_REQUEST, "outside-view").await;
        assert!(common::detail(&problem).starts_with("event: outside the key's view filter"), "{problem}");
    }
    // A batch with one event outside the view stores nothing, and names that event.
    let batch = json!({"events": [event(Some("r1")), event(Some("r2"))]});
    let problem =
        assert_problem(app.ingest(&writer.secret, &batch).await, StatusCode::BAD_REQUEST, "outside-view").await;
    assert!(common::detail(&problem).starts_with("events[1]:"), "{problem}");
    // Retraced ingest is held to the same view (its group becomes context.group_id).
    let retraced = |group: &str| {
        json!({"action": "doc.shared", "crud": "u", "created": "2026-11-22T10:15:00Z",
            "actor": {"id": "u1"}, "group": {"id": group, "name": "G"}})
    };
    let resp = app.retraced_publish(&writer.secret, "acme-project", &retraced("g2")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("acme").await, before, "nothing of a refused write is stored");

    // Positive controls: inside the view, through both ingest paths.
    app.ingest_ok(&writer.secret, &json!({"events": [event(Some("r1")), event(Some("r1"))]})).await;
    let resp = app.retraced_publish(&writer.secret, "acme-project", &retraced("g1")).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.count("acme").await, before + 3);
    app.shutdown().await;
}

#[tokio::test]
async fn export_needs_the_export_scope() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let reader = app.create_key("acme", &["events:read"]).await;
    let resp = app.get("/v1/events/export", &reader.secret).send().await.expect("sent");
    let problem = assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(common::detail(&problem).contains("events:export"), "{problem}");
    let exporter = app.create_key("acme", &["events:export"]).await;
    let resp = app.get("/v1/events/export", &exporter.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.expect("body").contains("\"stele_export\":1"));
    app.shutdown().await;
}

/// Events `r1`, `R1` and one without a reseller, as SCIM log events (so that the OneUptime
/// profile serves them too), and a key whose view is `r1`: every read route shows it exactly
/// the one `r1` event.
#[tokio::test]
async fn views_compare_exactly_on_every_read_route() {
    let app = spawn_app().await;
    app.create_tenant_with_aliases("acme", &[PROJECT, INSTANCE, "portal.acme.io"]).await;
    let writer = app.create_key("acme", &["events:write"]).await;
    let scim = |reseller: Option<&str>| {
        let mut e = json!({"action": "scim.CreateUser", "request": {"method": "POST", "path": "/scim/v2/Users", "status_code": 201}});
        if let Some(r) = reseller {
            e["context"] = json!({"reseller_id": r});
        }
        e
    };
    let receipts =
        app.ingest_ok(&writer.secret, &json!({"events": [scim(Some("r1")), scim(Some("R1")), scim(None)]})).await;
    let ids: Vec<&str> = receipts["events"].as_array().expect("receipts").iter().map(common::id).collect();
    let body = json!({"tenant": "acme", "name": "r1 reader", "scopes": ["events:read", "events:export"],
        "view_filter": r#"context.reseller_id eq "r1""#});
    let reader = made(&app, OPERATOR, body).await;

    let json_of = |resp: reqwest::Response| async move {
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert_eq!(status, StatusCode::OK, "{text}");
        serde_json::from_str::<Value>(&text).expect("JSON")
    };
    // Native reads.
    let page = json_of(app.get("/v1/events?total=true", &reader.secret).send().await.expect("sent")).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["events"][0]["id"], ids[0]);
    let count = json_of(app.get("/v1/events/count", &reader.secret).send().await.expect("sent")).await;
    assert_eq!(count["count"], 1);
    let search = app.post_json("/v1/events/search", &reader.secret, &json!({"filter": "action sw \"scim.\""}));
    assert_eq!(json_of(search.send().await.expect("sent")).await["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.get(&format!("/v1/events/{}", ids[0]), &reader.secret).send().await.expect("sent").status(),
        StatusCode::OK
    );
    let hidden = app.get(&format!("/v1/events/{}", ids[1]), &reader.secret).send().await.expect("sent");
    assert_problem(hidden, StatusCode::NOT_FOUND, "not-found").await;
    // Export (filtered: one event line after the header, with its proof).
    let head = app.op_get("/v1/integrity/head?min_size=6", "acme").send().await.expect("sent");
    assert_eq!(head.status(), StatusCode::OK);
    let export = app.get("/v1/events/export", &reader.secret).send().await.expect("sent").text().await.expect("body");
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 2, "{export}");
    assert!(lines[1].contains(ids[0]), "{export}");
    // Profiles.
    let oneuptime = app.http.post(app.url("/api/status-page-scim-log/count")).header("ApiKey", &reader.secret);
    assert_eq!(json_of(oneuptime.json(&json!({"query": {}})).send().await.expect("sent")).await["count"], 1);
    let losant = app
        .get(&format!("/instance/{INSTANCE}/audit-logs"), &reader.secret)
        .header("accept-version", "^1.30.0")
        .send()
        .await
        .expect("sent");
    assert_eq!(json_of(losant).await["totalCount"], 1);
    let cloudcockpit = app.get("/v1/AuditLogs", &reader.secret).header("X-Tenant", "portal.acme.io");
    assert_eq!(json_of(cloudcockpit.send().await.expect("sent")).await["totalCount"], 1);
    let configcat = app
        .http
        .get(app.url(&format!("/v2/organizations/{PROJECT}/auditlogs")))
        .basic_auth(&reader.id, Some(&reader.secret));
    assert_eq!(json_of(configcat.send().await.expect("sent")).await["paging"]["totalCount"], 1);

    // Positive control: the operator sees all three, and a search for "r1" finds both spellings.
    let all =
        json_of(app.op_get("/v1/events/count?filter=action%20sw%20%22scim.%22", "acme").send().await.expect("sent"))
            .await;
    assert_eq!(all["count"], 3);
    let folded = app.op_get("/v1/events/count?filter=context.reseller_id%20eq%20%22r1%22", "acme");
    assert_eq!(json_of(folded.send().await.expect("sent")).await["count"], 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_view_cannot_order_text_or_name_seq() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    for bad in [r#"context.reseller_id gt "r""#, "seq le 10"] {
        let body = json!({"tenant": "acme", "name": "v", "scopes": ["events:read"], "view_filter": bad});
        let problem =
            assert_problem(make_key(&app, OPERATOR, body).await, StatusCode::BAD_REQUEST, "invalid-filter").await;
        assert!(common::detail(&problem).starts_with("view_filter: "), "{problem}");
    }
    let body =
        json!({"tenant": "acme", "name": "v", "scopes": ["events:read"], "view_filter": "request.status_code ge 400"});
    made(&app, OPERATOR, body).await;
    app.shutdown().await;
}

/// Every way into the query model passes the same bounds: 256 comparisons at most, whether
/// they come from filter text, OneUptime's `query` operators or Losant's `auditLogFilter`.
#[tokio::test]
async fn every_way_into_the_query_model_is_bounded() {
    let app = spawn_app().await;
    app.create_tenant_with_aliases("acme", &[PROJECT, INSTANCE]).await;
    let key = app.create_key("acme", &["events:read"]).await;

    // Native filter text: 257 comparisons fit in 4096 characters but not in the bounds.
    let terms = |n: usize| vec!["id pr"; n].join(" or ");
    let resp = app.get(&format!("/v1/events?filter={}", terms(257)), &key.secret).send().await.expect("sent");
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-filter").await;
    assert!(common::detail(&problem).contains("more than 256 comparisons"), "{problem}");
    let ok = app.get(&format!("/v1/events?filter={}", terms(256)), &key.secret).send().await.expect("sent");
    assert_eq!(ok.status(), StatusCode::OK);

    // OneUptime: an IncludesNone of 5000 values, then of 200.
    let oneuptime = |n: usize| {
        let values: Vec<u16> = (0..n).map(|i| (i % 500) as u16 + 100).collect();
        app.http
            .post(app.url("/api/status-page-scim-log/count"))
            .header("ApiKey", &key.secret)
            .json(&json!({"query": {"httpStatusCode": {"_type": "IncludesNone", "value": values}}}))
            .send()
    };
    let resp = oneuptime(5000).await.expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("JSON");
    assert!(body["error"].as_str().is_some_and(|e| e.starts_with("query: ") && e.contains("256")), "{body}");
    assert_eq!(oneuptime(200).await.expect("sent").status(), StatusCode::OK);

    // Losant: 300 OR-ed auditLogFilter entries, then 100.
    let losant = |n: usize| {
        let params: Vec<String> = (0..n).map(|i| format!("auditLogFilter[actor][{i}][id]=u{i}")).collect();
        app.get(&format!("/instance/{INSTANCE}/audit-logs?{}", params.join("&")), &key.secret).send()
    };
    let resp = losant(300).await.expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["type"], "Validation", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.starts_with("auditLogFilter")), "{body}");
    assert_eq!(losant(100).await.expect("sent").status(), StatusCode::OK);
    app.shutdown().await;
}
