//! The Losant profile (contract A.5) against a real server: the seed's example request, every
//! parameter and its default, the documented errors, cross-tenant refusal, and page walks
//! that agree with the native API.

use crate::common;

use common::{spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const INSTANCE: &str = "575ed6e87ae143cd83dc4aa8";
const OTHER_INSTANCE: &str = "575ec7417ae143cd83dc4a96";

async fn tenant_with_alias(app: &TestApp, id: &str, alias: &str) -> String {
    let resp = app
        .post_json("/v1/tenants", OPERATOR, &json!({"id": id, "name": id, "aliases": [alias]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.create_key(id, &["events:write", "events:read"]).await.secret
}

async fn get(app: &TestApp, secret: &str, path: &str) -> (StatusCode, Value) {
    let resp = app.get(path, secret).header("accept-version", "^1.30.0").send().await.expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body: {text}")))
}

fn hex(seq: u64) -> String {
    format!("{seq:024x}")
}

/// The seed example's entry, as a Stele event.
fn seed_event() -> Value {
    json!({
        "action": "organization.delete",
        "actor": {"type": "User", "id": "575ed70c7ae143cd83dc4aa9", "email": "actor@example.com"},
        "targets": [{"type": "Organization", "id": "575ec8687ae143cd83dc4a97", "name": "My Org"}],
        "request": {"method": "DELETE", "path": "/orgs/575ec8687ae143cd83dc4a97", "query": {},
                    "body": {}, "response_body": {"success": true}, "status_code": 200}
    })
}

/// A tenant aliased `INSTANCE` with a spread of events; returns the key secret.
async fn populated(app: &TestApp) -> String {
    let key = tenant_with_alias(app, "acme", INSTANCE).await;
    let mut events = Vec::new();
    for i in 0..9u16 {
        events.push(json!({
            "action": if i % 2 == 0 { "user.create" } else { "apiToken.delete" },
            "time": format!("2026-01-0{}T10:00:00.{:03}Z", i + 1, i),
            "actor": {"type": if i % 3 == 0 { "ApiToken" } else { "User" }, "id": format!("a{i}"), "name": format!("actor {}", 9 - i)},
            "targets": [{"type": "User", "id": format!("u{i}"), "name": format!("user {i}")},
                        {"type": "OrgInvite", "id": format!("inv{i}")}],
            "request": {"status_code": 200 + i * 10, "query": {"q": i}},
        }));
    }
    app.ingest_ok(&key, &json!({ "events": events })).await;
    app.ingest_ok(&key, &seed_event()).await;
    key
}

/// The native API's events (newest first) for `key`'s reads.
async fn native(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (status, page) = get(app, key, &format!("/v1/events?limit=1000{query}")).await;
    assert_eq!(status, StatusCode::OK);
    page["events"].as_array().expect("events").clone()
}

#[tokio::test]
async fn seed_example_request_answers_the_documented_shape() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let all = native(&app, &key, "").await;
    let path = format!(
        "/instance/{INSTANCE}/audit-logs?_actions=false&_links=true&_embedded=true&sortField=creationDate&sortDirection=desc&page=0&perPage=1"
    );
    let (status, body) = get(&app, &key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let newest = &all[0];
    let id = hex(newest["seq"].as_u64().expect("seq"));
    let time = newest["time"].as_str().expect("time");
    let expected = json!({
        "count": 1,
        "totalCount": all.len(),
        "perPage": 1,
        "page": 0,
        "sortField": "creationDate",
        "sortDirection": "desc",
        "instanceId": INSTANCE,
        "items": [{
            "id": id,
            "instanceAuditLogId": id,
            "instanceId": INSTANCE,
            "creationDate": format!("{}Z", &time[..23]),
            "actorId": "575ed70c7ae143cd83dc4aa9",
            "actorName": "actor@example.com",
            "actorType": "User",
            "primaryTargetId": "575ec8687ae143cd83dc4a97",
            "primaryTargetName": "My Org",
            "primaryTargetType": "Organization",
            "requestResource": "organization",
            "requestAction": "delete",
            "requestPathParams": {},
            "requestQueryParams": {},
            "requestBody": {},
            "responseBody": {"success": true},
            "responseStatus": 200
        }]
    });
    assert_eq!(body, expected);
    assert!(body["items"][0]["creationDate"].as_str().is_some_and(|d| d.len() == 24 && d.ends_with('Z')));

    // The single-entry route answers the same item.
    let (status, item) = get(&app, &key, &format!("/instance/{INSTANCE}/audit-logs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item, expected["items"][0]);
    app.shutdown().await;
}

#[tokio::test]
async fn defaults_and_every_parameter() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let all = native(&app, &key, "").await;
    let base = format!("/instance/{INSTANCE}/audit-logs");

    // Defaults: creationDate desc, page 0, 100 per page.
    let (_, body) = get(&app, &key, &base).await;
    assert_eq!((body["perPage"].as_u64(), body["page"].as_u64()), (Some(100), Some(0)));
    assert_eq!((body["sortField"].as_str(), body["sortDirection"].as_str()), (Some("creationDate"), Some("desc")));
    let ids: Vec<String> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let native_ids: Vec<String> = all.iter().map(|e| hex(e["seq"].as_u64().unwrap_or_default())).collect();
    assert_eq!(ids, native_ids);
    assert_eq!(body["count"], all.len());

    // sortField=responseStatus asc: the same order as the native sort.
    let (_, body) = get(&app, &key, &format!("{base}?sortField=responseStatus&sortDirection=asc")).await;
    let native_sorted = native(&app, &key, "&sort=request.status_code").await;
    let got: Vec<&Value> = body["items"].as_array().expect("items").iter().map(|i| &i["id"]).collect();
    let want: Vec<Value> = native_sorted.iter().map(|e| json!(hex(e["seq"].as_u64().unwrap_or_default()))).collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
    assert_eq!(body["sortDirection"], "asc");

    // sortField=actorName desc.
    let (_, body) = get(&app, &key, &format!("{base}?sortField=actorName")).await;
    let native_sorted = native(&app, &key, "&sort=-actor.name").await;
    let want: Vec<Value> = native_sorted.iter().map(|e| json!(hex(e["seq"].as_u64().unwrap_or_default()))).collect();
    let got: Vec<Value> = body["items"].as_array().expect("items").iter().map(|i| i["id"].clone()).collect();
    assert_eq!(got, want);

    // start/end in epoch ms, end inclusive: 2026-01-02T10:00:00.001Z ..= 2026-01-04T10:00:00.003Z.
    let (start, end) = (1_767_348_000_001_i64, 1_767_520_800_003_i64);
    let (_, body) = get(&app, &key, &format!("{base}?start={start}&end={end}&sortDirection=asc")).await;
    let dates: Vec<&str> =
        body["items"].as_array().expect("items").iter().filter_map(|i| i["creationDate"].as_str()).collect();
    assert_eq!(dates, ["2026-01-02T10:00:00.001Z", "2026-01-03T10:00:00.002Z", "2026-01-04T10:00:00.003Z"]);
    assert_eq!(body["totalCount"], 3);

    // secondary target and request split.
    let item = &body["items"][0];
    assert_eq!(
        (item["secondaryTargetId"].as_str(), item["secondaryTargetType"].as_str()),
        (Some("inv1"), Some("OrgInvite"))
    );
    assert_eq!((item["requestResource"].as_str(), item["requestAction"].as_str()), (Some("apiToken"), Some("delete")));
    assert_eq!(item["requestQueryParams"], json!({"q": 1}));
    assert_eq!(item["actorName"], "actor 8");
    app.shutdown().await;
}

#[tokio::test]
async fn audit_log_filter_in_bracket_notation() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let base = format!("/instance/{INSTANCE}/audit-logs");
    let total = |b: &Value| b["totalCount"].as_u64().expect("totalCount");

    // The documented example: (Organization target, or ApiToken 575ec8...) AND actor User 575ed7...
    let doc = "auditLogFilter[primaryTarget][0][type]=Organization&auditLogFilter[primaryTarget][1][type]=ApiToken\
               &auditLogFilter[primaryTarget][1][id]=575ec8687ae143cd83dc4a97&auditLogFilter[actor][0][type]=User\
               &auditLogFilter[actor][0][id]=575ed70c7ae143cd83dc4aa9";
    let (status, body) = get(&app, &key, &format!("{base}?{doc}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(total(&body), 1);
    assert_eq!(body["items"][0]["requestResource"], "organization");

    // Percent-encoded brackets (how the JS client's qs sends them) parse the same.
    let encoded = "auditLogFilter%5Bactor%5D%5B0%5D%5Btype%5D=ApiToken";
    let (_, body) = get(&app, &key, &format!("{base}?{encoded}")).await;
    assert_eq!(total(&body), 3, "actors a0, a3, a6 are ApiTokens");

    // OR within a key, AND across keys.
    let q =
        "auditLogFilter[responseCode][0]=200&auditLogFilter[responseCode][1]=210&auditLogFilter[responseCode][2]=220\
             &auditLogFilter[request][0][resource]=user";
    let (_, body) = get(&app, &key, &format!("{base}?{q}")).await;
    assert_eq!(total(&body), 2, "codes 200 and 220 are user.create; 210 is apiToken.delete");
    let q = "auditLogFilter[request][0][resource]=apiToken&auditLogFilter[request][0][action]=delete";
    let (_, body) = get(&app, &key, &format!("{base}?{q}")).await;
    assert_eq!(total(&body), 4);
    let (_, body) = get(&app, &key, &format!("{base}?auditLogFilter[request][0][action]=create")).await;
    assert_eq!(total(&body), 5);
    let (_, body) = get(&app, &key, &format!("{base}?auditLogFilter[actor][0][name]=actor%203")).await;
    assert_eq!(total(&body), 1);
    let (_, body) = get(&app, &key, &format!("{base}?auditLogFilter[secondaryTarget][0][id]=inv4")).await;
    assert_eq!(total(&body), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn documented_errors() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let base = format!("/instance/{INSTANCE}/audit-logs");
    let check = |(status, body): (StatusCode, Value), want: StatusCode, kind: &str, needle: &str| {
        assert_eq!(status, want, "{body}");
        assert_eq!(body["type"], kind, "{body}");
        let message = body["message"].as_str().expect("message");
        assert!(message.contains(needle), "{message}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "only type and message: {body}");
    };
    check(get(&app, &key, &format!("{base}?perPage=1001")).await, StatusCode::BAD_REQUEST, "Validation", "perPage");
    check(get(&app, &key, &format!("{base}?perPage=0")).await, StatusCode::BAD_REQUEST, "Validation", "perPage");
    check(get(&app, &key, &format!("{base}?page=-1")).await, StatusCode::BAD_REQUEST, "Validation", "page");
    check(get(&app, &key, &format!("{base}?sortField=time")).await, StatusCode::BAD_REQUEST, "Validation", "sortField");
    check(
        get(&app, &key, &format!("{base}?sortDirection=up")).await,
        StatusCode::BAD_REQUEST,
        "Validation",
        "sortDirection",
    );
    check(get(&app, &key, &format!("{base}?start=tomorrow")).await, StatusCode::BAD_REQUEST, "Validation", "start");
    check(
        get(&app, &key, &format!("{base}?start=2000&end=1000")).await,
        StatusCode::BAD_REQUEST,
        "Validation",
        "start",
    );
    check(
        get(&app, &key, &format!("{base}?auditLogFilter[owner][0][id]=x")).await,
        StatusCode::BAD_REQUEST,
        "Validation",
        "auditLogFilter.owner",
    );
    check(
        get(&app, &key, &format!("{base}?auditLogFilter[responseCode][0]=abc")).await,
        StatusCode::BAD_REQUEST,
        "Validation",
        "responseCode",
    );
    check(get(&app, &key, "/instance/not-hex/audit-logs").await, StatusCode::BAD_REQUEST, "Validation", "instanceId");
    check(get(&app, &key, &format!("{base}/xyz")).await, StatusCode::BAD_REQUEST, "Validation", "instanceAuditLogId");
    check(get(&app, &key, &format!("{base}/{}", hex(99_999))).await, StatusCode::NOT_FOUND, "NotFound", "audit log");
    check(
        get(&app, &key, &format!("/instance/{OTHER_INSTANCE}/audit-logs")).await,
        StatusCode::NOT_FOUND,
        "NotFound",
        "Instance",
    );
    check(get(&app, "wrong-key", &base).await, StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    let resp = app.http.get(app.url(&base)).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let write_only = app.create_key("acme", &["events:write"]).await;
    check(get(&app, &write_only.secret, &base).await, StatusCode::UNAUTHORIZED, "Unauthorized", "events:read");
    app.shutdown().await;
}

#[tokio::test]
async fn a_key_reads_only_its_own_instance_and_view() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let other = tenant_with_alias(&app, "globex", OTHER_INSTANCE).await;
    let theirs = app.ingest_ok(&other, &json!({"action": "org.create"})).await;
    // acme's key on globex's instance: refused like an unknown instance.
    let (status, body) = get(&app, &key, &format!("/instance/{OTHER_INSTANCE}/audit-logs")).await;
    assert_eq!((status, body["type"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")));
    let path = format!("/instance/{OTHER_INSTANCE}/audit-logs/{}", hex(theirs["seq"].as_u64().expect("seq")));
    assert_eq!(get(&app, &key, &path).await.0, StatusCode::NOT_FOUND);
    // globex's key sees its own entry.
    let (status, item) = get(&app, &other, &path).await;
    assert_eq!((status, item["requestResource"].as_str()), (StatusCode::OK, Some("org")));

    // A key with a view filter sees only what its filter admits, in lists and items.
    let resp = app
        .post_json("/v1/keys", OPERATOR, &json!({"tenant": "acme", "name": "view", "scopes": ["events:read"], "view_filter": "action eq \"user.create\""}))
        .send()
        .await
        .expect("sent");
    let viewer: Value = resp.json().await.expect("key");
    let viewer = viewer["secret"].as_str().expect("secret");
    let (_, body) = get(&app, viewer, &format!("/instance/{INSTANCE}/audit-logs")).await;
    assert_eq!(body["totalCount"], 5);
    assert!(body["items"].as_array().expect("items").iter().all(|i| i["requestResource"] == "user"));
    let all = native(&app, &key, "").await;
    let seed_seq =
        all.iter().find(|e| e["action"] == "organization.delete").and_then(|e| e["seq"].as_u64()).expect("seed");
    let (status, _) = get(&app, viewer, &format!("/instance/{INSTANCE}/audit-logs/{}", hex(seed_seq))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn page_walk_agrees_with_the_native_api() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let all = native(&app, &key, "").await;
    let mut walked = Vec::new();
    for page in 0.. {
        let (status, body) = get(&app, &key, &format!("/instance/{INSTANCE}/audit-logs?perPage=4&page={page}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["totalCount"], all.len());
        assert_eq!(body["page"], page);
        let items = body["items"].as_array().expect("items");
        assert_eq!(body["count"], items.len());
        if items.is_empty() {
            break;
        }
        walked.extend(items.iter().map(|i| i["id"].as_str().unwrap_or_default().to_owned()));
    }
    let want: Vec<String> = all.iter().map(|e| hex(e["seq"].as_u64().unwrap_or_default())).collect();
    assert_eq!(walked, want);
    app.shutdown().await;
}

#[tokio::test]
async fn routes_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("sent").json().await.expect("JSON");
    for path in ["/instance/{instanceId}/audit-logs", "/instance/{instanceId}/audit-logs/{instanceAuditLogId}"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
    app.shutdown().await;
}
