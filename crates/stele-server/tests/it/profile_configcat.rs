//! ConfigCat profile (contract A.4): V1 and V2 audit logs of products and organizations.

use crate::common;

use common::{spawn_app, Key, TestApp, OPERATOR};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const ORG: &str = "0a1b2c3d-0000-4000-8000-000000000001";
const PRODUCT: &str = "08d8e6f3-1111-4222-8333-444455556666";
const OTHER_PRODUCT: &str = "08d8e6f3-9999-4222-8333-444455556666";
const CONFIG: &str = "c0f1c0f1-0000-4000-8000-0000000000c1";
const ENV: &str = "e0e0e0e0-0000-4000-8000-0000000000e1";
const OTHER_ENV: &str = "e0e0e0e0-0000-4000-8000-0000000000e2";

/// A tenant `id` with the organization alias, and a read key for it.
async fn tenant(app: &TestApp, id: &str, org: &str) -> Key {
    app.create_tenant(id).await;
    let resp = app
        .http
        .patch(app.url(&format!("/v1/tenants/{id}")))
        .bearer_auth(OPERATOR)
        .json(&json!({"aliases": [org]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    app.create_key(id, &["events:write", "events:read"]).await
}

fn change(action: &str, time: &str, product: &str, env: &str) -> Value {
    json!({
        "action": action,
        "time": time,
        "message": format!("{action} at {time}"),
        "reason": "ticket CC-1",
        "actor": {"id": "u1", "name": "Ana Lima", "email": "ana@acme.io"},
        "targets": [{"type": "Setting", "id": "s1", "name": "isFeatureOn"}, {"type": "Config", "name": "Main"}],
        "context": {"product_id": product, "config_id": CONFIG, "environment_id": env, "where": "Main Config / Production",
                    "change_set_id": "5b0e2d3c-aaaa-4bbb-8ccc-dddddddddddd"}
    })
}

async fn get(app: &TestApp, path: &str, key: &Key) -> Response {
    app.http.get(app.url(path)).basic_auth(&key.id, Some(&key.secret)).send().await.expect("sent")
}

async fn get_json(app: &TestApp, path: &str, key: &Key) -> Value {
    let resp = get(app, path, key).await;
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// `seq`s the native API answers for a filter, newest first.
async fn native(app: &TestApp, key: &Key, filter: &str, extra: &str) -> Vec<u64> {
    let path = format!("/v1/events?limit=1000&filter={}{extra}", urlencode(filter));
    let page: Value = app.get(&path, &key.secret).send().await.expect("sent").json().await.expect("JSON");
    page["events"].as_array().expect("events").iter().map(common::seq).collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ids(items: &Value) -> Vec<u64> {
    items.as_array().expect("array").iter().map(|i| i["auditLogId"].as_u64().expect("auditLogId")).collect()
}

async fn bad(resp: Response, parameter: &str) {
    let problem = common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    assert_eq!(problem["parameter"], parameter, "{problem}");
}

async fn unauthorized(resp: Response) {
    let header = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(header.starts_with("Basic "), "WWW-Authenticate: {header}");
    common::assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn seed_example_request_answers_the_documented_array() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let wanted =
        app.ingest_ok(&key.secret, &change("settingValueChanged", "2024-08-05T10:00:00.25Z", PRODUCT, ENV)).await;
    let newer = app.ingest_ok(&key.secret, &change("settingValueChanged", "2024-08-09T08:30:00Z", PRODUCT, ENV)).await;
    app.ingest_ok(&key.secret, &change("settingValueChanged", "2024-08-06T00:00:00Z", PRODUCT, OTHER_ENV)).await;
    app.ingest_ok(&key.secret, &change("settingChanged", "2024-08-06T00:00:00Z", PRODUCT, ENV)).await;
    app.ingest_ok(&key.secret, &change("settingValueChanged", "2024-08-16T00:00:00Z", PRODUCT, ENV)).await;
    app.ingest_ok(&key.secret, &change("settingValueChanged", "2024-08-06T00:00:00Z", OTHER_PRODUCT, ENV)).await;

    let path = format!(
        "/v1/products/{PRODUCT}/auditlogs?environmentId={ENV}&auditLogType=settingValueChanged&fromUtcDateTime=2024-08-01T00:00:00Z&toUtcDateTime=2024-08-15T00:00:00Z"
    );
    let resp = get(&app, &path, &key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let text = resp.text().await.expect("body");
    let items: Value = serde_json::from_str(&text).expect("a bare JSON array");
    assert_eq!(ids(&items), vec![common::seq(&newer), common::seq(&wanted)], "newest first, only matches");
    assert_eq!(
        items[1],
        json!({
            "auditLogId": common::seq(&wanted),
            "auditLogDateTime": "2024-08-05T10:00:00.250000Z",
            "auditLogTypeEnum": "settingValueChanged",
            "changeSetId": "5b0e2d3c-aaaa-4bbb-8ccc-dddddddddddd",
            "truncated": false,
            "auditLogType": "Setting value changed",
            "userEmail": "ana@acme.io",
            "userName": "Ana Lima",
            "where": "Main Config / Production",
            "why": "ticket CC-1",
            "actionTarget": "isFeatureOn",
            "details": "settingValueChanged at 2024-08-05T10:00:00.25Z"
        })
    );
    // The members come in the spec's order.
    let order = [
        "auditLogId",
        "auditLogDateTime",
        "auditLogTypeEnum",
        "changeSetId",
        "truncated",
        "auditLogType",
        "userEmail",
        "userName",
        "\"where\"",
        "why",
        "actionTarget",
        "details",
    ];
    let positions: Vec<usize> =
        order.iter().map(|m| text.find(&format!("\"{}\":", m.trim_matches('"'))).expect("member present")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    // The same events as the native API with the equivalent filter.
    let filter = format!(
        "context.product_id eq \"{PRODUCT}\" and context.environment_id eq \"{ENV}\" and action eq \"settingValueChanged\""
    );
    assert_eq!(ids(&items), native(&app, &key, &filter, "&from=2024-08-01T00:00:00Z&to=2024-08-15T00:00:00Z").await);
    app.shutdown().await;
}

#[tokio::test]
async fn missing_fields_are_null() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let bare = app
        .ingest_ok(
            &key.secret,
            &json!({"action": "productCreated", "time": "2024-08-02T00:00:00Z", "context": {"product_id": PRODUCT}}),
        )
        .await;
    let items = get_json(
        &app,
        &format!("/v1/products/{PRODUCT}/auditlogs?fromUtcDateTime=2024-08-01&toUtcDateTime=2024-08-03"),
        &key,
    )
    .await;
    assert_eq!(
        items,
        json!([{
            "auditLogId": common::seq(&bare), "auditLogDateTime": "2024-08-02T00:00:00.000000Z",
            "auditLogTypeEnum": "productCreated", "changeSetId": null, "truncated": false,
            "auditLogType": "Product created", "userEmail": null, "userName": null, "where": null,
            "why": null, "actionTarget": null, "details": null
        }])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn each_parameter_filters_and_v1_defaults_to_the_last_seven_days() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let mut seqs = Vec::new();
    for (action, time, product, env) in [
        ("configCreated", "2024-08-02T00:00:00Z", PRODUCT, ENV),
        ("settingCreated", "2024-08-03T00:00:00Z", PRODUCT, OTHER_ENV),
        ("settingCreated", "2024-08-04T00:00:00Z", OTHER_PRODUCT, ENV),
        ("webHookCreated", "2024-08-05T00:00:00Z", OTHER_PRODUCT, OTHER_ENV),
    ] {
        seqs.push(common::seq(&app.ingest_ok(&key.secret, &change(action, time, product, env)).await));
    }
    let mut no_config = change("configDeleted", "2024-08-06T00:00:00Z", PRODUCT, ENV);
    no_config["context"]["config_id"] = json!("c0f1c0f1-0000-4000-8000-0000000000c2");
    seqs.push(common::seq(&app.ingest_ok(&key.secret, &no_config).await));
    let range = "fromUtcDateTime=2024-08-01T00:00:00Z&toUtcDateTime=2024-08-20T00:00:00Z";
    let org = |q: &str| format!("/v1/organizations/{ORG}/auditlogs?{range}{q}");
    let cases: Vec<(String, Vec<u64>)> = vec![
        (org(""), vec![seqs[4], seqs[3], seqs[2], seqs[1], seqs[0]]),
        (org(&format!("&productId={PRODUCT}")), vec![seqs[4], seqs[1], seqs[0]]),
        (org(&format!("&productId={}", PRODUCT.to_uppercase())), vec![seqs[4], seqs[1], seqs[0]]),
        (org(&format!("&environmentId={ENV}")), vec![seqs[4], seqs[2], seqs[0]]),
        (org(&format!("&configId={CONFIG}")), vec![seqs[3], seqs[2], seqs[1], seqs[0]]),
        (org("&auditLogType=settingCreated"), vec![seqs[2], seqs[1]]),
        (org("&AUDITLOGTYPE=SettingCreated"), vec![seqs[2], seqs[1]]),
        (format!("/v1/organizations/{ORG}/auditlogs?fromUtcDateTime=2024-08-03T00:00:00Z&toUtcDateTime=2024-08-05T00:00:00Z"), vec![seqs[2], seqs[1]]),
        (format!("/v1/products/{PRODUCT}/auditlogs?{range}&environmentId={ENV}&configId={CONFIG}"), vec![seqs[0]]),
        (format!("/v1/products/{OTHER_PRODUCT}/auditlogs?{range}"), vec![seqs[3], seqs[2]]),
    ];
    for (path, expected) in cases {
        assert_eq!(ids(&get_json(&app, &path, &key).await), expected, "{path}");
    }

    // No bounds: V1 answers the last 7 days, V2 everything.
    let now = time::OffsetDateTime::now_utc();
    let recent = (now - time::Duration::days(1)).format(&time::format_description::well_known::Rfc3339).expect("time");
    let old = (now - time::Duration::days(9)).format(&time::format_description::well_known::Rfc3339).expect("time");
    let r = common::seq(&app.ingest_ok(&key.secret, &change("tagAdded", &recent, PRODUCT, ENV)).await);
    let o = common::seq(&app.ingest_ok(&key.secret, &change("tagAdded", &old, PRODUCT, ENV)).await);
    let v1 = get_json(&app, &format!("/v1/products/{PRODUCT}/auditlogs?auditLogType=tagAdded"), &key).await;
    assert_eq!(ids(&v1), vec![r]);
    let v2 = get_json(&app, &format!("/v2/products/{PRODUCT}/auditlogs?auditLogType=tagAdded"), &key).await;
    assert_eq!(ids(&v2["data"]), vec![r, o]);
    app.shutdown().await;
}

#[tokio::test]
async fn every_seed_type_is_accepted_and_others_are_400() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let names = [
        "productCreated",
        "productChanged",
        "productOwnershipTransferred",
        "productDeleted",
        "productsReordered",
        "teamMemberInvited",
        "teamMemberInvitationRevoked",
        "teamMemberJoined",
        "teamMemberPermissionGroupChanged",
        "teamMemberRemoved",
        "teamMemberLeft",
        "teamMemberInvitationChanged",
        "teamMemberInvitationResent",
        "teamMemberInvitationRejected",
        "configCreated",
        "configChanged",
        "configDeleted",
        "configsReordered",
        "environmentCreated",
        "environmentChanged",
        "environmentDeleted",
        "environmentsReordered",
        "settingCreated",
        "settingChanged",
        "settingDeleted",
        "settingsReordered",
        "settingValueChanged",
        "webHookCreated",
        "webHookChanged",
        "webHookDeleted",
        "permissionGroupCreated",
        "permissionGroupChanged",
        "permissionGroupDeleted",
        "permissionGroupDefault",
        "apiKeyAdded",
        "apiKeyRemoved",
        "integrationAdded",
        "integrationChanged",
        "integrationRemoved",
        "apiKeyConnected",
        "integrationLinkAdded",
        "integrationLinkRemoved",
        "organizationAdded",
        "organizationRemoved",
        "organizationChanged",
        "organizationSubscriptionTypeChanged",
        "organizationAdminChanged",
        "organizationAdminLeft",
        "organizationAdminDisabled2FA",
        "tagAdded",
        "tagChanged",
        "tagRemoved",
        "settingTagAdded",
        "settingTagRemoved",
        "publicApiAccessTokenAdded",
        "publicApiAccessTokenRemoved",
        "domainAdded",
        "domainVerified",
        "domainRemoved",
        "domainSamlConfigured",
        "domainSamlDeleted",
        "autoProvisioningConfigurationChanged",
        "samlIdpConfigurationAdded",
        "samlIdpConfigurationRemoved",
        "samlIdpConfigurationUpdated",
        "organizationMemberJoined",
        "organizationMemberProductJoinRequested",
        "organizationMemberProductJoinRequestRejected",
        "organizationMemberProductJoinRequestApproved",
        "codeReferencesUploaded",
        "codeReferenceDeleted",
        "codeReferenceStaleBranchDeleted",
        "segmentCreated",
        "segmentChanged",
        "segmentDeleted",
        "webhookSigningKeyDeleted",
        "webhookSigningKeyCreated",
    ];
    assert_eq!(names.len(), 77);
    let batch: Vec<Value> = names.iter().map(|n| change(n, "2024-08-02T00:00:00Z", PRODUCT, ENV)).collect();
    app.ingest_ok(&key.secret, &json!({"events": batch})).await;
    for name in names {
        let page = get_json(&app, &format!("/v2/organizations/{ORG}/auditlogs?auditLogType={name}"), &key).await;
        assert_eq!(page["paging"]["totalCount"], 1, "{name}");
        assert_eq!(page["data"][0]["auditLogTypeEnum"], name);
    }
    assert_eq!(
        get_json(&app, &format!("/v2/organizations/{ORG}/auditlogs?auditLogType=organizationAdminDisabled2FA"), &key)
            .await["data"][0]["auditLogType"],
        "Organization admin disabled 2FA"
    );
    for other in ["subscriptionChanged", "twoFactorDisabledForMember", "setting.value.changed", "1"] {
        bad(get(&app, &format!("/v2/organizations/{ORG}/auditlogs?auditLogType={other}"), &key).await, "auditLogType")
            .await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn v2_pages_walk_the_same_events_as_the_native_api() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let batch: Vec<Value> = (0..23)
        .map(|i| change("settingValueChanged", &format!("2024-08-{:02}T00:00:00Z", 1 + i % 9), PRODUCT, ENV))
        .collect();
    app.ingest_ok(&key.secret, &json!({"events": batch})).await;
    let native_order = native(&app, &key, &format!("context.product_id eq \"{PRODUCT}\""), "").await;
    assert_eq!(native_order.len(), 23);

    let mut walked = Vec::new();
    for page in 1..=5u64 {
        let body =
            get_json(&app, &format!("/v2/products/{PRODUCT}/auditlogs?pageNumber={page}&pageSize=5"), &key).await;
        assert_eq!(
            body["paging"],
            json!({"currentPage": page, "totalPages": 5, "pageSize": 5, "totalCount": 23,
                   "hasPrevious": page > 1, "hasNext": page < 5})
        );
        walked.extend(ids(&body["data"]));
    }
    assert_eq!(walked, native_order, "pages agree with the native order (newest first, ties by seq)");

    let beyond = get_json(&app, &format!("/v2/products/{PRODUCT}/auditlogs?pageNumber=6&pageSize=5"), &key).await;
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["paging"]["hasNext"], false);
    assert_eq!(beyond["paging"]["hasPrevious"], true);
    let default = get_json(&app, &format!("/v2/products/{PRODUCT}/auditlogs"), &key).await;
    assert_eq!(
        default["paging"],
        json!({"currentPage": 1, "totalPages": 1, "pageSize": 100, "totalCount": 23,
        "hasPrevious": false, "hasNext": false})
    );
    assert_eq!(ids(&default["data"]), native_order);
    let empty = get_json(&app, &format!("/v2/products/{OTHER_PRODUCT}/auditlogs"), &key).await;
    assert_eq!(
        empty,
        json!({"paging": {"currentPage": 1, "totalPages": 0, "pageSize": 100, "totalCount": 0,
        "hasPrevious": false, "hasNext": false}, "data": []})
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let v2 = format!("/v2/organizations/{ORG}/auditlogs");
    let cases = [
        ("/v1/products/not-a-uuid/auditlogs".to_owned(), "productId"),
        (format!("{v2}?productId=123"), "productId"),
        (format!("{v2}?configId=x"), "configId"),
        (format!("{v2}?environmentId=e0e0"), "environmentId"),
        (format!("{v2}?fromUtcDateTime=yesterday"), "fromUtcDateTime"),
        (format!("{v2}?toUtcDateTime=2024-13-01"), "toUtcDateTime"),
        (format!("{v2}?fromUtcDateTime=2024-08-02&toUtcDateTime=2024-08-01"), "fromUtcDateTime"),
        (
            format!("/v1/organizations/{ORG}/auditlogs?fromUtcDateTime=2024-06-01&toUtcDateTime=2024-08-01"),
            "toUtcDateTime",
        ),
        (format!("{v2}?pageSize=0"), "pageSize"),
        (format!("{v2}?pageSize=101"), "pageSize"),
        (format!("{v2}?pageSize=ten"), "pageSize"),
        (format!("{v2}?pageNumber=0"), "pageNumber"),
        (format!("{v2}?pageNumber=-1"), "pageNumber"),
        (format!("{v2}?pageNumber=2147483648"), "pageNumber"),
    ];
    for (path, parameter) in cases {
        bad(get(&app, &path, &key).await, parameter).await;
    }
    // A span of exactly 30 days is allowed on V1; V2 has no span limit.
    get_json(
        &app,
        &format!("/v1/organizations/{ORG}/auditlogs?fromUtcDateTime=2024-07-01&toUtcDateTime=2024-07-31"),
        &key,
    )
    .await;
    get_json(&app, &format!("{v2}?fromUtcDateTime=2024-01-01&toUtcDateTime=2024-08-01"), &key).await;
    app.shutdown().await;
}

#[tokio::test]
async fn credentials_are_http_basic_with_the_key_id_and_secret() {
    let app = spawn_app().await;
    let key = tenant(&app, "acme", ORG).await;
    let other = app.create_key("acme", &["events:read"]).await;
    let writer = app.create_key("acme", &["events:write"]).await;
    let path = app.url(&format!("/v2/products/{PRODUCT}/auditlogs"));
    unauthorized(app.http.get(&path).send().await.expect("sent")).await;
    unauthorized(app.http.get(&path).bearer_auth(&key.secret).send().await.expect("sent")).await;
    unauthorized(app.http.get(&path).basic_auth(&key.id, Some("stl_wrong")).send().await.expect("sent")).await;
    unauthorized(app.http.get(&path).basic_auth(&other.id, Some(&key.secret)).send().await.expect("sent")).await;
    unauthorized(app.http.get(&path).basic_auth("operator", Some(OPERATOR)).send().await.expect("sent")).await;
    unauthorized(app.http.get(&path).header("authorization", "Basic !!!").send().await.expect("sent")).await;
    let resp = app.http.get(&path).basic_auth(&writer.id, Some(&writer.secret)).send().await.expect("sent");
    common::assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Revoked keys stop working.
    let resp =
        app.http.delete(app.url(&format!("/v1/keys/{}", other.id))).bearer_auth(OPERATOR).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    unauthorized(app.http.get(&path).basic_auth(&other.id, Some(&other.secret)).send().await.expect("sent")).await;
    get_json(&app, &format!("/v2/products/{PRODUCT}/auditlogs"), &key).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_key_reads_only_its_own_tenant_and_its_view() {
    let app = spawn_app().await;
    let acme = tenant(&app, "acme", ORG).await;
    let globex_org = "0a1b2c3d-0000-4000-8000-000000000002";
    let globex = tenant(&app, "globex", globex_org).await;
    app.ingest_ok(&acme.secret, &change("settingChanged", "2024-08-02T00:00:00Z", PRODUCT, ENV)).await;
    let theirs = app.ingest_ok(&globex.secret, &change("settingChanged", "2024-08-03T00:00:00Z", PRODUCT, ENV)).await;
    for path in [format!("/v1/organizations/{ORG}/auditlogs"), format!("/v2/organizations/{ORG}/auditlogs")] {
        let resp = get(&app, &path, &globex).await;
        common::assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    }
    let resp = get(&app, "/v2/organizations/0a1b2c3d-0000-4000-8000-00000000ffff/auditlogs", &globex).await;
    common::assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    // The product routes read the key's own tenant, whatever the product id.
    let page = get_json(&app, &format!("/v2/products/{PRODUCT}/auditlogs"), &globex).await;
    assert_eq!(ids(&page["data"]), vec![common::seq(&theirs)]);

    // A key with a view filter sees only its view, and totals count only that.
    let resp = app
        .post_json(
            "/v1/keys",
            OPERATOR,
            &json!({"tenant": "acme", "name": "env", "scopes": ["events:read"],
            "view_filter": format!("context.environment_id eq \"{OTHER_ENV}\"")}),
        )
        .send()
        .await
        .expect("sent");
    let body: Value = resp.json().await.expect("JSON");
    let viewer =
        Key { id: body["id"].as_str().expect("id").into(), secret: body["secret"].as_str().expect("secret").into() };
    let hidden =
        app.ingest_ok(&acme.secret, &change("settingChanged", "2024-08-04T00:00:00Z", PRODUCT, OTHER_ENV)).await;
    let page = get_json(&app, &format!("/v2/organizations/{ORG}/auditlogs?fromUtcDateTime=2024-08-01"), &viewer).await;
    assert_eq!(ids(&page["data"]), vec![common::seq(&hidden)]);
    assert_eq!(page["paging"]["totalCount"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_routes_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("sent").json().await.expect("JSON");
    for path in [
        "/v1/products/{productId}/auditlogs",
        "/v1/organizations/{organizationId}/auditlogs",
        "/v2/products/{productId}/auditlogs",
        "/v2/organizations/{organizationId}/auditlogs",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["basic"]["scheme"], "basic");
    app.shutdown().await;
}
