//! Cross-check: the same events read through every read profile and through the native API
//! agree on count and order (newest first everywhere).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use crate::common;

use common::{spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

const UUID: &str = "0b8f6a9e-2d51-4c3e-9a7b-5f1e2d3c4b5a";
const HEX: &str = "5f0c1d2e3a4b5c6d7e8f9a0b";
const DOMAIN: &str = "acme.example.com";

async fn setup(app: &TestApp) -> common::Key {
    let resp = app
        .post_json("/v1/tenants", OPERATOR, &json!({"id": "acme", "name": "Acme", "aliases": [UUID, HEX, DOMAIN]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let key = app.create_key("acme", &["events:write", "events:read"]).await;
    let now = stele_core::Timestamp::now();
    let ops = ["CreateUser", "ListUsers", "GetUser", "UpdateUser", "DeleteUser", "ListGroups"];
    let events: Vec<Value> = (0..45)
        .map(|i: i64| {
            let time = now.plus_micros(-(i + 1) * 60_000_000 - 7_000 * i);
            let action =
                if i % 5 == 4 { "document.viewed".to_owned() } else { format!("scim.{}", ops[i as usize % 6]) };
            json!({"action": action, "time": time.to_string(), "status": if i % 7 == 0 { "failure" } else { "success" },
                   "actor": {"id": format!("u{i}"), "name": format!("User {i}"), "email": format!("u{i}@acme.io")},
                   "targets": [{"type": "User", "id": format!("t{i}"), "name": format!("target {i}")}],
                   "request": {"method": "POST", "path": "/scim/v2/Users", "status_code": 200}})
        })
        .collect();
    app.ingest_ok(&key.secret, &json!({ "events": events })).await;
    key
}

/// (id, seq) of every event the native API lists for `filter`, newest first.
async fn native(app: &TestApp, key: &str, filter: Option<&str>) -> Vec<(String, u64)> {
    let path = match filter {
        Some(f) => format!("/v1/events?limit=1000&filter={}", f.replace(' ', "%20").replace('"', "%22")),
        None => "/v1/events?limit=1000".to_owned(),
    };
    let page: Value = app.get(&path, key).send().await.unwrap().json().await.unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_owned(), e["seq"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn every_profile_agrees_with_the_native_api() {
    let app = spawn_app().await;
    let key = setup(&app).await;
    let all = native(&app, &key.secret, None).await;
    let scim = native(&app, &key.secret, Some("action sw \"scim.\"")).await;
    assert_eq!(all.len(), 47, "creation, key and 45 events");
    assert_eq!(scim.len(), 36);
    let all_ids: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    let all_seqs: Vec<u64> = all.iter().map(|(_, s)| *s).collect();
    let scim_ids: Vec<&str> = scim.iter().map(|(id, _)| id.as_str()).collect();

    // OneUptime: the SCIM log, newest first, plus its count.
    let body = json!({"select": {"_id": true}, "sort": {"createdAt": -1}});
    let resp = app
        .http
        .post(app.url(&format!("/api/status-page-scim-log/get-list?limit=100&tenantid={UUID}")))
        .header("ApiKey", &key.secret)
        .header("projectid", UUID)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|r| r["_id"].as_str().unwrap()).collect();
    assert_eq!(ids, scim_ids, "OneUptime order");
    assert_eq!(list["count"], 36);
    let count: Value = app
        .http
        .post(app.url("/api/status-page-scim-log/count"))
        .header("ApiKey", &key.secret)
        .header("projectid", UUID)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 36, "OneUptime count");

    // CloudCockpit: every event of the last month, newest first.
    let resp = app
        .http
        .get(app.url("/v1/AuditLogs?PageSize=2000"))
        .header("X-Tenant", DOMAIN)
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page: Value = resp.json().await.unwrap();
    let ids: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, all_ids, "CloudCockpit order");

    // ConfigCat V2 (organization): pages of 20, newest first; auditLogId is the seq.
    let mut seqs = Vec::new();
    for page_number in 1..=3 {
        let resp = app
            .http
            .get(app.url(&format!("/v2/organizations/{UUID}/auditlogs?pageSize=20&pageNumber={page_number}")))
            .basic_auth(&key.id, Some(&key.secret))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let page: Value = resp.json().await.unwrap();
        seqs.extend(page["data"].as_array().unwrap().iter().map(|i| i["auditLogId"].as_u64().unwrap()));
    }
    assert_eq!(seqs, all_seqs, "ConfigCat order");

    // Losant: newest first by creationDate; the item id is the seq in 24 hex digits.
    let resp = app
        .http
        .get(app.url(&format!("/instance/{HEX}/audit-logs?perPage=1000&sortField=creationDate&sortDirection=desc")))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page: Value = resp.json().await.unwrap();
    assert_eq!(page["totalCount"], 47, "Losant count");
    let seqs: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| u64::from_str_radix(i["id"].as_str().unwrap(), 16).unwrap())
        .collect();
    assert_eq!(seqs, all_seqs, "Losant order");
    app.shutdown().await;
}
