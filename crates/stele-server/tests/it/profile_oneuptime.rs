//! The OneUptime profile (contract A.1) against a real server: the seed's example requests,
//! select/query/sort/skip/limit and their defaults, the documented errors, cross-tenant
//! refusal, and a page walk that agrees with the native API.

use crate::common;

use common::{spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROJECT: &str = "9f0b1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b";
const OTHER_PROJECT: &str = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";
const STATUS_PAGE: &str = "550e8400-e29b-41d4-a716-446655440000";
const SCIM_CONNECTION: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
const LIST: &str = "/api/status-page-scim-log/get-list";

async fn tenant_with_alias(app: &TestApp, id: &str, alias: &str) -> String {
    let resp = app
        .post_json("/v1/tenants", OPERATOR, &json!({"id": id, "name": id, "aliases": [alias]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    app.create_key(id, &["events:write", "events:read"]).await.secret
}

fn scim(op: &str, status: &str, code: u16, minute: u32, email: Option<&str>) -> Value {
    let mut targets = vec![json!({"type": "StatusPage", "id": "sp1"})];
    if let Some(e) = email {
        targets.push(json!({"type": "User", "id": format!("u-{e}"), "email": e}));
    }
    json!({
        "action": format!("scim.{op}"),
        "status": status,
        "time": format!("2026-08-21T10:{minute:02}:00.123456Z"),
        "message": format!("{op} answered {code}"),
        "context": {"status_page_id": STATUS_PAGE, "scim_connection_id": SCIM_CONNECTION},
        "targets": targets,
        "request": {"method": if op.starts_with("Create") { "POST" } else { "GET" },
                    "path": format!("/status-page-scim/v2/{SCIM_CONNECTION}/Users"),
                    "query": {"count": 100}, "status_code": code,
                    "body": {"userName": "bo", "password": "hunter2"}, "response_body": {"id": "u7"}}
    })
}

/// A tenant aliased `PROJECT` with SCIM log events and other events; returns the key.
async fn populated(app: &TestApp) -> String {
    let key = tenant_with_alias(app, "acme", PROJECT).await;
    let events = vec![
        scim("CreateUser", "success", 201, 1, Some("bo@acme.io")),
        scim("ListUsers", "success", 200, 2, None),
        scim("GetUser", "success", 404, 3, Some("cy@acme.io")),
        scim("CreateUser", "failure", 400, 4, Some("di@acme.io")),
        scim("BulkOperation", "warning", 200, 5, None),
        scim("UpdateUser", "pending", 200, 6, Some("ed@acme.io")),
        scim("DeleteUser", "success", 204, 7, Some("fa@acme.io")),
        json!({"action": "user.created", "time": "2026-08-21T10:08:00Z"}),
        json!({"action": "scimitar.sharpened", "time": "2026-08-21T10:09:00Z"}),
    ];
    app.ingest_ok(&key, &json!({ "events": events })).await;
    key
}

async fn post(app: &TestApp, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let resp = app.http.post(app.url(path)).header("ApiKey", key).json(body).send().await.expect("sent");
    let status = resp.status();
    (status, resp.json().await.expect("JSON body"))
}

async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    let resp = app.http.get(app.url(path)).header("ApiKey", key).send().await.expect("sent");
    let status = resp.status();
    (status, resp.json().await.expect("JSON body"))
}

/// The tenant's SCIM log events through the native API, newest first.
async fn native_scim(app: &TestApp, key: &str) -> Vec<Value> {
    let resp = app.get("/v1/events?limit=1000&filter=action%20sw%20%22scim.%22", key).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let page: Value = resp.json().await.expect("page");
    page["events"].as_array().expect("events").clone()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().expect("data").iter().map(|r| r["_id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn seed_examples_answer_the_documented_shapes() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let native = native_scim(&app, &key).await;

    // The seed's list request, with an operation type that exists.
    let body = json!({
        "select": {"operationType": true, "projectId": true, "status": true, "statusPageId": true, "statusPageScimId": true},
        "query": {"operationType": "CreateUser"},
        "sort": {"createdAt": -1}
    });
    let (status, list) = post(&app, &key, &format!("{LIST}?skip=0&limit=10"), &body).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let creates: Vec<&Value> = native.iter().filter(|e| e["action"] == "scim.CreateUser").collect();
    let row = |e: &Value, status: &str| {
        json!({"_id": e["id"], "operationType": "CreateUser", "projectId": PROJECT, "status": status,
               "statusPageId": STATUS_PAGE, "statusPageScimId": SCIM_CONNECTION})
    };
    assert_eq!(
        list,
        json!({"data": [row(creates[0], "Error"), row(creates[1], "Success")], "count": 2, "skip": 0, "limit": 10})
    );

    // The seed's request verbatim: no such operation type.
    let mut verbatim = body.clone();
    verbatim["query"]["operationType"] = json!("Example operation type");
    let (_, list) = post(&app, &key, &format!("{LIST}?skip=0&limit=10"), &verbatim).await;
    assert_eq!(list, json!({"data": [], "count": 0, "skip": 0, "limit": 10}));

    // The seed's get-item request: the bare object.
    let id = creates[1]["id"].as_str().expect("id");
    let (status, item) =
        post(&app, &key, &format!("/api/status-page-scim-log/{id}/get-item"), &json!({"select": body["select"]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item, row(creates[1], "Success"));

    // The seed's count request.
    let (status, count) =
        post(&app, &key, "/api/status-page-scim-log/count", &json!({"query": {"operationType": "CreateUser"}})).await;
    assert_eq!((status, count), (StatusCode::OK, json!({"count": 2})));
    let (_, count) = post(&app, &key, "/api/status-page-scim-log/count", &json!({})).await;
    assert_eq!(count, json!({"count": 7}), "only scim.* events are SCIM log rows");
    app.shutdown().await;
}

#[tokio::test]
async fn every_column_maps_as_documented() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let all: serde_json::Map<String, Value> = [
        "_id",
        "createdAt",
        "updatedAt",
        "projectId",
        "statusPageId",
        "statusPageScimId",
        "operationType",
        "status",
        "statusMessage",
        "logBody",
        "httpMethod",
        "requestPath",
        "httpStatusCode",
        "affectedUserEmail",
    ]
    .iter()
    .map(|c| (c.to_string(), json!(true)))
    .collect();
    let (status, list) = post(&app, &key, LIST, &json!({"select": all, "sort": {"createdAt": "ASC"}})).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let rows = list["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 7);
    let first = &rows[0];
    let native = native_scim(&app, &key).await;
    let oldest = native.last().expect("events");
    let log_body = "{\n  \"timestamp\": \"2026-08-21T10:01:00.123Z\",\n  \"queryParameters\": {\n    \"count\": 100\n  },\n  \
                    \"request\": {\n    \"password\": \"[REDACTED]\",\n    \"userName\": \"bo\"\n  },\n  \"response\": {\n    \
                    \"id\": \"u7\"\n  }\n}";
    assert_eq!(
        *first,
        json!({
            "_id": oldest["id"],
            "createdAt": "2026-08-21T10:01:00.123Z",
            "updatedAt": "2026-08-21T10:01:00.123Z",
            "projectId": PROJECT,
            "statusPageId": STATUS_PAGE,
            "statusPageScimId": SCIM_CONNECTION,
            "operationType": "CreateUser",
            "status": "Success",
            "statusMessage": "CreateUser answered 201",
            "logBody": log_body,
            "httpMethod": "POST",
            "requestPath": format!("/status-page-scim/v2/{SCIM_CONNECTION}/Users"),
            "httpStatusCode": 201,
            "affectedUserEmail": "bo@acme.io"
        })
    );
    let statuses: Vec<&str> = rows.iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["Success", "Success", "Success", "Error", "Warning", "Warning", "Success"]);
    assert_eq!(rows[1]["affectedUserEmail"], Value::Null);
    app.shutdown().await;
}

#[tokio::test]
async fn defaults_paging_and_sort() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let native = native_scim(&app, &key).await;
    let native_ids: Vec<String> = native.iter().map(|e| e["id"].as_str().unwrap_or_default().to_owned()).collect();

    // GET without a body: only _id, newest first, limit 10, skip 0.
    let (status, list) = get(&app, &key, LIST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((list["skip"].as_u64(), list["limit"].as_u64(), list["count"].as_u64()), (Some(0), Some(10), Some(7)));
    assert!(list["data"].as_array().expect("rows").iter().all(|r| r.as_object().map(|o| o.len()) == Some(1)));
    assert_eq!(ids(&list), native_ids);

    // A page walk with limit 3 agrees with the native order and count.
    let mut walked = Vec::new();
    for skip in (0..).step_by(3) {
        let (_, list) = get(&app, &key, &format!("{LIST}?skip={skip}&limit=3")).await;
        assert_eq!(list["count"], 7);
        let page = ids(&list);
        if page.is_empty() {
            break;
        }
        walked.extend(page);
    }
    assert_eq!(walked, native_ids);

    // skip/limit in the body, and the query string winning over the body.
    let (_, list) = post(&app, &key, LIST, &json!({"skip": 2, "limit": 2})).await;
    assert_eq!(ids(&list), native_ids[2..4]);
    let (_, list) = post(&app, &key, &format!("{LIST}?limit=1"), &json!({"limit": 5})).await;
    assert_eq!(ids(&list).len(), 1);
    // limit 0 or non-numeric means the default.
    let (_, list) = get(&app, &key, &format!("{LIST}?limit=0")).await;
    assert_eq!(list["limit"], 10);

    // Sort on another column, ascending, with 1/-1 or ASC/DESC.
    let (_, list) =
        post(&app, &key, LIST, &json!({"sort": {"httpStatusCode": 1}, "select": {"httpStatusCode": true}})).await;
    let codes: Vec<u64> =
        list["data"].as_array().expect("rows").iter().filter_map(|r| r["httpStatusCode"].as_u64()).collect();
    assert_eq!(codes, [200, 200, 200, 201, 204, 400, 404]);
    let (_, list) = post(&app, &key, LIST, &json!({"sort": {"createdAt": "ASC"}})).await;
    assert_eq!(ids(&list), native_ids.iter().rev().cloned().collect::<Vec<_>>());
    app.shutdown().await;
}

#[tokio::test]
async fn query_values_and_operators() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let count = |q: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            let (status, body) = post(app, &key, "/api/status-page-scim-log/count", &json!({ "query": q })).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["count"].as_u64().expect("count")
        }
    };
    assert_eq!(count(json!({"status": "Error"})).await, 1);
    assert_eq!(count(json!({"status": "Warning"})).await, 2, "warning and pending");
    assert_eq!(count(json!({"status": ["Error", "Warning"]})).await, 3);
    assert_eq!(count(json!({"status": {"_type": "NotEqual", "value": "Success"}})).await, 3);
    assert_eq!(count(json!({"operationType": ["CreateUser", "DeleteUser"]})).await, 3);
    assert_eq!(count(json!({"affectedUserEmail": null})).await, 2);
    assert_eq!(count(json!({"affectedUserEmail": {"_type": "NotNull"}})).await, 5);
    assert_eq!(count(json!({"affectedUserEmail": {"_type": "IsNull"}})).await, 2);
    assert_eq!(count(json!({"affectedUserEmail": {"_type": "EqualToOrNull", "value": "bo@acme.io"}})).await, 3);
    assert_eq!(count(json!({"httpStatusCode": {"_type": "InBetween", "startValue": 201, "endValue": 399}})).await, 2);
    assert_eq!(count(json!({"httpStatusCode": {"_type": "GreaterThanOrEqual", "value": 400}})).await, 2);
    assert_eq!(count(json!({"httpStatusCode": {"_type": "IncludesNone", "value": [200, 201]}})).await, 3);
    assert_eq!(count(json!({"operationType": {"_type": "Search", "value": "user"}})).await, 6);
    assert_eq!(count(json!({"operationType": {"_type": "StartsWith", "value": "Create"}})).await, 2);
    assert_eq!(count(json!({"operationType": {"_type": "EndsWith", "value": "Operation"}})).await, 1);
    assert_eq!(count(json!({"statusMessage": {"_type": "NotContains", "value": "200"}})).await, 4);
    assert_eq!(
        count(json!({"createdAt": {"_type": "GreaterThan", "value": {"_type": "DateTime", "value": "2026-08-21T10:05:00Z"}}}))
            .await,
        3
    );
    assert_eq!(count(json!({"createdAt": {"_type": "LessThan", "value": "2026-08-21T10:03:00Z"}})).await, 2);
    assert_eq!(count(json!({"statusPageId": {"_type": "ObjectID", "value": STATUS_PAGE}})).await, 7);
    assert_eq!(count(json!({"statusPageScimId": "00000000-0000-0000-0000-000000000000"})).await, 0);
    assert_eq!(count(json!({"projectId": PROJECT})).await, 7);
    assert_eq!(count(json!({"projectId": OTHER_PROJECT})).await, 0);
    assert_eq!(count(json!({"requestPath": {"_type": "Search", "value": "/USERS"}})).await, 7);
    assert_eq!(count(json!({"httpMethod": "POST", "status": "Success"})).await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn documented_errors() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let error = |(status, body): (StatusCode, Value), want: StatusCode, message: &str| {
        assert_eq!(status, want, "{body}");
        assert_eq!(body, json!({ "error": message }));
    };
    error(
        get(&app, &key, &format!("{LIST}?limit=101")).await,
        StatusCode::BAD_REQUEST,
        "Limit should be less than or equal to 100",
    );
    error(
        post(&app, &key, LIST, &json!({"limit": 500})).await,
        StatusCode::BAD_REQUEST,
        "Limit should be less than or equal to 100",
    );
    error(
        get(&app, &key, &format!("{LIST}?skip=-1")).await,
        StatusCode::BAD_REQUEST,
        "positiveNumber cannot be less than 0",
    );
    error(
        post(&app, &key, LIST, &json!({"query": {"nope": 1}})).await,
        StatusCode::BAD_REQUEST,
        "Invalid column on Status Page SCIM Log - nope. Column does not exist.",
    );
    error(
        post(&app, &key, LIST, &json!({"select": {"password": true}})).await,
        StatusCode::BAD_REQUEST,
        "Invalid select clause. Cannot select on \"password\".",
    );
    error(
        post(&app, &key, LIST, &json!({"groupBy": {"status": true}})).await,
        StatusCode::BAD_REQUEST,
        "GroupBy is currently not supported",
    );
    error(
        post(&app, &key, "/api/status-page-scim-log/not-a-uuid/get-item", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "Invalid ID format: \"not-a-uuid\". Expected a valid UUID (e.g., \"550e8400-e29b-41d4-a716-446655440000\").",
    );
    // An id that is not there (or not a SCIM log row) is an empty object.
    let (status, item) =
        get(&app, &key, "/api/status-page-scim-log/00000000-0000-7000-8000-000000000000/get-item").await;
    assert_eq!((status, item), (StatusCode::OK, json!({})));

    // Authentication.
    let resp = app.http.post(app.url(LIST)).json(&json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"error": "Authenticated user or a valid API key is needed to read record of Status Page SCIM Log."})
    );
    error(post(&app, "not-a-key", LIST, &json!({})).await, StatusCode::BAD_REQUEST, "Invalid API Key");
    error(post(&app, "", LIST, &json!({})).await, StatusCode::BAD_REQUEST, "Invalid API Key");
    let write_only = app.create_key("acme", &["events:write"]).await;
    let (status, body) = post(&app, &write_only.secret, LIST, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("You do not have permissions to read Status Page SCIM Log.")));

    // Writes are refused.
    let id = "00000000-0000-7000-8000-000000000000";
    for (method, path, verb) in [
        ("POST", "/api/status-page-scim-log".to_owned(), "create"),
        ("PUT", format!("/api/status-page-scim-log/{id}"), "update"),
        ("DELETE", format!("/api/status-page-scim-log/{id}"), "delete"),
        ("POST", format!("/api/status-page-scim-log/{id}/update-item"), "update"),
        ("GET", format!("/api/status-page-scim-log/{id}/delete-item"), "delete"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = app
            .http
            .request(method, app.url(&path))
            .header("ApiKey", &key)
            .json(&json!({"data": {}}))
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON");
        error(
            (status, body),
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{verb} on Status Page SCIM Log is not allowed."),
        );
    }
    assert_eq!(native_scim(&app, &key).await.len(), 7, "nothing changed");
    app.shutdown().await;
}

#[tokio::test]
async fn a_key_reads_only_its_own_project() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let other = tenant_with_alias(&app, "globex", OTHER_PROJECT).await;
    let theirs = app.ingest_ok(&other, &scim("GetUser", "success", 200, 1, None)).await;

    // Naming another tenant's project: refused in OneUptime's shape, by header, query or body.
    let invalid = json!({"error": "Invalid Project ID or API Key"});
    let resp = app
        .http
        .post(app.url(LIST))
        .header("ApiKey", &key)
        .header("projectid", OTHER_PROJECT)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.expect("JSON"), invalid);
    assert_eq!(
        post(&app, &key, &format!("{LIST}?tenantid={OTHER_PROJECT}"), &json!({})).await,
        (StatusCode::BAD_REQUEST, invalid.clone())
    );
    assert_eq!(
        post(&app, &key, LIST, &json!({"projectId": OTHER_PROJECT})).await,
        (StatusCode::BAD_REQUEST, invalid.clone())
    );
    assert_eq!(
        post(&app, &key, LIST, &json!({"projectId": "00000000-0000-0000-0000-000000000000"})).await,
        (StatusCode::BAD_REQUEST, invalid)
    );
    // Its own project named explicitly is fine.
    let (status, list) = post(&app, &key, LIST, &json!({"projectId": PROJECT})).await;
    assert_eq!((status, list["count"].as_u64()), (StatusCode::OK, Some(7)));
    // Another tenant's event id is not found.
    let path = format!("/api/status-page-scim-log/{}/get-item", theirs["id"].as_str().expect("id"));
    assert_eq!(get(&app, &key, &path).await, (StatusCode::OK, json!({})));
    let (_, item) = get(&app, &other, &path).await;
    assert_eq!(item["_id"], theirs["id"]);

    // The operator key must name the project.
    assert_eq!(
        post(&app, OPERATOR, LIST, &json!({})).await,
        (StatusCode::BAD_REQUEST, json!({"error": "ProjectID not found in the request header."}))
    );
    let (status, list) = post(&app, OPERATOR, LIST, &json!({"projectId": OTHER_PROJECT})).await;
    assert_eq!((status, list["count"].as_u64()), (StatusCode::OK, Some(1)));

    // A view filter narrows every read.
    let resp = app
        .post_json("/v1/keys", OPERATOR, &json!({"tenant": "acme", "name": "view", "scopes": ["events:read"], "view_filter": "status eq \"failure\""}))
        .send()
        .await
        .expect("sent");
    let viewer: Value = resp.json().await.expect("key");
    let viewer = viewer["secret"].as_str().expect("secret");
    let (_, count) = post(&app, viewer, "/api/status-page-scim-log/count", &json!({})).await;
    assert_eq!(count, json!({"count": 1}));
    let (_, list) = post(&app, viewer, LIST, &json!({"select": {"status": true}})).await;
    assert_eq!(list["data"][0]["status"], "Error");
    app.shutdown().await;
}

#[tokio::test]
async fn routes_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("sent").json().await.expect("JSON");
    for path in [
        "/api/status-page-scim-log/get-list",
        "/api/status-page-scim-log/count",
        "/api/status-page-scim-log/{id}/get-item",
        "/api/status-page-scim-log",
        "/api/status-page-scim-log/{id}",
        "/api/status-page-scim-log/{id}/update-item",
        "/api/status-page-scim-log/{id}/delete-item",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
    let list = &doc["paths"]["/api/status-page-scim-log/get-list"];
    assert!(list["get"].is_object() && list["post"].is_object(), "get-list answers GET and POST");
    app.shutdown().await;
}

#[tokio::test]
async fn a_skip_or_limit_too_large_for_64_bits_is_refused_not_read_as_zero() {
    let app = spawn_app().await;
    let key = populated(&app).await;
    let huge = "99999999999999999999999";
    for (path, body, message) in [
        (format!("{LIST}?skip={huge}"), json!({}), "Skip should be less than or equal to"),
        (LIST.to_owned(), json!({ "skip": huge }), "Skip should be less than or equal to"),
        (format!("{LIST}?skip=-{huge}"), json!({}), "Skip should be less than or equal to"),
        (format!("{LIST}?limit={huge}"), json!({}), "Limit should be less than or equal to 100"),
    ] {
        let (status, body) = post(&app, &key, &path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.starts_with(message)), "{path}: {body}");
    }
    // Positive control: a skip that fits still pages.
    let (status, list) = post(&app, &key, &format!("{LIST}?skip=1&limit=1"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["skip"], 1);
    app.shutdown().await;
}
