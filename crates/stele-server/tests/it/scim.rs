//! The SCIM endpoints through the real server: Okta's and Entra's documented requests
//! replayed verbatim (`stele-scim/tests/fixtures`, sources in `SOURCES.md`), every error
//! shape, ETags, Bulk, and for each request the SCIM log event it left.

use crate::common;

use common::{spawn_app, TestApp, OPERATOR};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../../../stele-scim/tests/fixtures/", $name, ".json")))
            .expect("fixture JSON")
    };
}

struct Scim {
    app: TestApp,
    base: String,
    token: String,
    connection: String,
}

async fn scim() -> Scim {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let (connection, token) = app.scim_connection("acme").await;
    Scim { base: format!("/scim/v2/{connection}"), token, connection, app }
}

/// Status, headers and JSON body (Null when empty).
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    location: Option<String>,
    content_type: Option<String>,
    body: Value,
}

impl Scim {
    async fn call_with(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Answer {
        let mut r =
            self.app.http.request(method, self.app.url(&format!("{}{path}", self.base))).bearer_auth(&self.token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = r.send().await.expect("sent");
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (etag, location, content_type) = (header("etag"), header("location"), header("content-type"));
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON answer") };
        Answer { status, etag, location, content_type, body }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    /// The tenant's SCIM log events, oldest first.
    async fn log(&self) -> Vec<Value> {
        let mut events: Vec<Value> = self
            .app
            .all_events("acme")
            .await
            .into_iter()
            .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("scim.")))
            .collect();
        events.reverse();
        events
    }

    async fn last_event(&self) -> Value {
        self.log().await.pop().expect("a SCIM log event")
    }
}

fn assert_error(a: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(a.status.as_u16(), status, "{}", a.body);
    assert_eq!(a.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{}", a.body);
    assert_eq!(a.body["status"], status.to_string(), "{}", a.body);
    assert_eq!(a.body["scimType"].as_str(), scim_type, "{}", a.body);
    assert!(a.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_user_lifecycle_is_served_and_logged() {
    let s = scim().await;
    // Okta's "test connection" and pre-create lookup: an unknown userName is an empty list.
    let a = s
        .call(Method::GET, "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100", None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["totalResults"], 0);
    assert_eq!(a.body["Resources"], json!([]));
    let e = s.last_event().await;
    assert_eq!(e["action"], "scim.ListUsers");
    assert_eq!(e["request"]["query"]["filter"], "userName eq \"test.user@okta.local\"");
    assert_eq!(e["request"]["status_code"], 200);

    let created = s.call(Method::POST, "/Users", Some(&fixture!("okta_create_user"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.content_type.as_deref(), Some("application/scim+json"));
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.etag.as_deref(), Some("W/\"1\""));
    assert!(
        created.location.as_deref().is_some_and(|l| l.ends_with(&format!("{}/Users/{id}", s.base))),
        "{:?}",
        created.location
    );
    assert_eq!(created.body["userName"], "test.user@okta.local");
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    assert!(created.body.get("password").is_none(), "a password is never returned: {}", created.body);
    let e = s.last_event().await;
    assert_eq!(e["action"], "scim.CreateUser");
    assert_eq!(e["status"], "success");
    assert_eq!(e["request"]["method"], "POST");
    assert_eq!(e["request"]["path"], format!("{}/Users", s.base));
    assert_eq!(e["request"]["status_code"], 201);
    assert_eq!(e["request"]["body"]["password"], "[REDACTED]", "the password never reaches the log");
    assert_eq!(e["request"]["response_body"]["id"], id.as_str());
    assert_eq!(e["targets"][0]["id"], id.as_str());
    assert_eq!(e["targets"][0]["email"], "test.user@okta.local");
    assert_eq!(e["context"]["scim_connection_id"], s.connection.as_str());

    // Duplicate userName (any case): 409 uniqueness, logged as a failure.
    let mut dup = fixture!("okta_create_user");
    dup["userName"] = json!("TEST.USER@okta.local");
    let a = s.call(Method::POST, "/Users", Some(&dup)).await;
    assert_error(&a, 409, Some("uniqueness"));
    let e = s.last_event().await;
    assert_eq!((e["action"].as_str(), e["status"].as_str()), (Some("scim.CreateUser"), Some("failure")));
    assert_eq!(e["request"]["status_code"], 409);
    assert!(e["message"].as_str().is_some_and(|m| m.contains("userName")), "{e}");
    assert_eq!(e["targets"][0]["name"], "TEST.USER@okta.local", "a refused request names what it was about");

    // Lookup now finds it (case-insensitively), with projection.
    let a = s
        .call(Method::GET, "/Users?filter=userName%20eq%20%22Test.User%40OKTA.local%22&attributes=userName", None)
        .await;
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    let r = &a.body["Resources"][0];
    assert_eq!((r["id"].as_str(), r["userName"].as_str()), (Some(id.as_str()), Some("test.user@okta.local")));
    assert!(r.get("emails").is_none(), "attributes=userName leaves emails out: {r}");

    // Okta's PUT-only update.
    let mut put = fixture!("okta_put_user");
    put["id"] = json!(id);
    let a = s.call(Method::PUT, &format!("/Users/{id}"), Some(&put)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["name"]["givenName"], "Another");
    assert_eq!(a.etag.as_deref(), Some("W/\"2\""));
    assert_eq!(s.last_event().await["action"], "scim.UpdateUser");

    // Okta's deactivation: PATCH replace with a value object and no path.
    let a = s.call(Method::PATCH, &format!("/Users/{id}"), Some(&fixture!("okta_deactivate_user"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["active"], false);
    let member: Value = s
        .app
        .get(&format!("/v1/tenants/acme/members/{id}"), OPERATOR)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(member["active"], false, "the member record follows SCIM: {member}");

    let a = s.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_error(&s.call(Method::GET, &format!("/Users/{id}"), None).await, 404, None);
    let actions: Vec<String> = s.log().await.iter().map(|e| e["action"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(
        actions,
        [
            "scim.ListUsers",
            "scim.CreateUser",
            "scim.CreateUser",
            "scim.ListUsers",
            "scim.UpdateUser",
            "scim.UpdateUser",
            "scim.DeleteUser",
            "scim.GetUser"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_requests_as_entra_sends_them() {
    let s = scim().await;
    // Entra's "test connection": a random userName that does not exist.
    let a = s.call(Method::GET, "/Users?filter=userName+eq+%2249f0a5a3-6b3c-4a27-9e36-8b8e0aa1d0b1%22", None).await;
    assert_eq!((a.status, a.body["totalResults"].as_u64()), (StatusCode::OK, Some(0)));
    let created = s.call(Method::POST, "/Users", Some(&fixture!("entra_create_user"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    // externalId lookup is case-exact.
    let a =
        s.call(Method::GET, "/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22", None).await;
    assert_eq!(a.body["totalResults"], 1);
    let a =
        s.call(Method::GET, "/Users?filter=externalId%20eq%20%220A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF%22", None).await;
    assert_eq!(a.body["totalResults"], 0);

    // Capitalised ops, a filtered path with no match (acts as add), an extension attribute.
    let a = s.call(Method::PATCH, &format!("/Users/{id}"), Some(&fixture!("entra_legacy_replace_multiple"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["displayName"], "Pvlo");
    assert_eq!(a.body["externalId"], "Eqpj");
    assert_eq!(a.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"], "Eqpj");
    assert!(
        a.body["emails"].as_array().is_some_and(|e| e.iter().any(|m| m["value"] == "TestBcwqnm@test.microsoft.com")),
        "{}",
        a.body
    );
    // "False" as a boolean string.
    let a = s.call(Method::PATCH, &format!("/Users/{id}"), Some(&fixture!("entra_legacy_disable_user"))).await;
    assert_eq!((a.status, a.body["active"].as_bool()), (StatusCode::OK, Some(false)), "{}", a.body);
    let e = s.last_event().await;
    assert_eq!(e["action"], "scim.UpdateUser");
    assert_eq!(e["request"]["body"]["Operations"][0]["op"], "Replace");

    // Groups: create, add and remove members the way Entra does.
    let g = s.call(Method::POST, "/Groups", Some(&fixture!("entra_create_group"))).await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    let gid = g.body["id"].as_str().expect("id").to_owned();
    let with_user = |f: Value| f.to_string().replace("f648f8d5ea4e4cd38e9c", &id).parse::<Value>().expect("json");
    let a = s.call(Method::PATCH, &format!("/Groups/{gid}"), Some(&with_user(fixture!("entra_add_members")))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["members"][0]["value"], id.as_str());
    let user = s.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(user.body["groups"][0]["value"], gid.as_str(), "{}", user.body);
    let a = s.call(Method::PATCH, &format!("/Groups/{gid}"), Some(&with_user(fixture!("entra_remove_members")))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["members"], json!([]));
    // Entra asks for groups without members.
    let a = s
        .call(Method::GET, "/Groups?filter=displayName%20eq%20%22displayName%22&excludedAttributes=members", None)
        .await;
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    assert!(a.body["Resources"][0].get("members").is_none(), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_group_membership_and_etags() {
    let s = scim().await;
    let mut ids = Vec::new();
    for name in ["ana@okta.local", "bo@okta.local"] {
        let mut body = fixture!("okta_create_user");
        body["userName"] = json!(name);
        let a = s.call(Method::POST, "/Users", Some(&body)).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        ids.push(a.body["id"].as_str().expect("id").to_owned());
    }
    let g = s.call(Method::POST, "/Groups", Some(&fixture!("okta_create_group"))).await;
    let gid = g.body["id"].as_str().expect("id").to_owned();
    let replace = fixture!("okta_replace_members")
        .to_string()
        .replace("23a35c27-23d3-4c03-b4c5-6443c09e7173", &ids[0])
        .replace("89bb1940-b905-4575-9e7f-6f887cfb368e", &ids[1]);
    let a = s.call(Method::PATCH, &format!("/Groups/{gid}"), Some(&replace.parse().expect("json"))).await;
    assert_eq!(a.body["members"].as_array().map(Vec::len), Some(2), "{}", a.body);
    // Okta removes with members[value eq "…"] and adds in one request.
    let update = fixture!("okta_update_membership")
        .to_string()
        .replace("89bb1940-b905-4575-9e7f-6f887cfb368e", &ids[1])
        .replace("23a35c27-23d3-4c03-b4c5-6443c09e7173", &ids[0]);
    let a = s.call(Method::PATCH, &format!("/Groups/{gid}"), Some(&update.parse().expect("json"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let members: Vec<&str> =
        a.body["members"].as_array().expect("members").iter().filter_map(|m| m["value"].as_str()).collect();
    assert_eq!(members, [ids[0].as_str()]);
    let version = a.etag.clone().expect("etag");

    // If-Match: a stale version is 412 and changes nothing; the current one applies.
    // Okta's rename, to a name the group does not have yet (the same name would change nothing).
    let mut rename = fixture!("okta_rename_group");
    rename["Operations"][0]["value"]["displayName"] = json!("Renamed SCIMv2");
    let a = s.call_with(Method::PATCH, &format!("/Groups/{gid}"), Some(&rename), &[("if-match", "W/\"1\"")]).await;
    assert_error(&a, 412, None);
    let unchanged = s.call(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(unchanged.etag.as_deref(), Some(version.as_str()));
    let a = s.call_with(Method::PATCH, &format!("/Groups/{gid}"), Some(&rename), &[("if-match", &version)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_ne!(a.etag.as_deref(), Some(version.as_str()));
    let e = s.last_event().await;
    assert_eq!((e["action"].as_str(), e["targets"][0]["type"].as_str()), (Some("scim.UpdateGroup"), Some("Group")));
    // A member that does not exist: 400 invalidValue, nothing stored.
    let ghost = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": "0193a0c4-0000-7000-8000-000000000000"}]}]});
    assert_error(&s.call(Method::PATCH, &format!("/Groups/{gid}"), Some(&ghost)).await, 400, Some("invalidValue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_scim_shapes_and_are_logged() {
    let s = scim().await;
    assert_error(&s.call(Method::GET, "/Users?filter=userName%20xx%20%22a%22", None).await, 400, Some("invalidFilter"));
    assert_error(&s.call(Method::GET, "/Users?filter=nosuch%20eq%20%22a%22", None).await, 400, Some("invalidFilter"));
    let resp = s
        .app
        .http
        .post(s.app.url(&format!("{}/Users", s.base)))
        .bearer_auth(&s.token)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["scimType"], "invalidSyntax");
    let e = s.last_event().await;
    assert_eq!((e["action"].as_str(), e["request"]["status_code"].as_u64()), (Some("scim.CreateUser"), Some(400)));
    assert_error(
        &s.call(Method::POST, "/Users", Some(&json!({"name": {"givenName": "x"}}))).await,
        400,
        Some("invalidValue"),
    );
    let id_patch =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove"}]});
    let user = s.call(Method::POST, "/Users", Some(&json!({"userName": "x@y.z"}))).await;
    let uid = user.body["id"].as_str().expect("id").to_owned();
    assert_error(&s.call(Method::PATCH, &format!("/Users/{uid}"), Some(&id_patch)).await, 400, Some("noTarget"));
    let remove_required = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "userName"}]});
    assert_error(
        &s.call(Method::PATCH, &format!("/Users/{uid}"), Some(&remove_required)).await,
        400,
        Some("mutability"),
    );
    let bad_path = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]});
    let a = s.call(Method::PATCH, &format!("/Users/{uid}"), Some(&bad_path)).await;
    assert!(matches!(a.body["scimType"].as_str(), Some("invalidPath" | "invalidFilter")), "{}", a.body);
    assert_error(&s.call(Method::GET, "/Nowhere", None).await, 404, None);
    assert_eq!(s.last_event().await["action"], "scim.Unknown");
    assert_error(&s.call(Method::GET, "/Me", None).await, 501, None);
    assert_eq!(s.last_event().await["action"], "scim.GetMe");

    // A wrong token: 401, logged as scim.Unauthorized in the connection's tenant.
    let resp =
        s.app.http.get(s.app.url(&format!("{}/Users", s.base))).bearer_auth("scim_wrong").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("www-authenticate").is_some());
    let e = s.last_event().await;
    assert_eq!((e["action"].as_str(), e["status"].as_str()), (Some("scim.Unauthorized"), Some("failure")));
    assert_eq!(e["context"]["scim_connection_id"], s.connection.as_str());
    assert!(!e.to_string().contains("scim_wrong"), "the presented token is not logged");
    // An unknown connection: 401 and no tenant's log holds it (positive control above).
    let before = s.log().await.len();
    let resp = s
        .app
        .http
        .get(s.app.url("/scim/v2/0193a0c4-0000-7000-8000-000000000000/Users"))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.log().await.len(), before);
    // A revoked connection's token stops working.
    let revoke = s
        .app
        .http
        .delete(s.app.url(&format!("/v1/tenants/acme/scim-connections/{}", s.connection)))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .expect("sent");
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_error(&s.call(Method::GET, "/Users", None).await, 401, None);
    assert_eq!(s.last_event().await["action"], "scim.Unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_resolves_references_and_stops_on_errors() {
    let s = scim().await;
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g1",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides",
                      "members": [{"type": "User", "value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice@example.com"}}
        ]
    });
    let a = s.call(Method::POST, "/Bulk", Some(&bulk)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let ops = a.body["Operations"].as_array().expect("operations");
    assert_eq!(ops.len(), 2, "{}", a.body);
    assert!(ops.iter().all(|o| o["status"] == "201"), "{}", a.body);
    let group = ops.iter().find(|o| o["bulkId"] == "g1").expect("group result");
    let gid = group["location"].as_str().expect("location").rsplit('/').next().expect("id").to_owned();
    let g = s.call(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(g.body["members"].as_array().map(Vec::len), Some(1), "{}", g.body);
    let events = s.log().await;
    let tail: Vec<&str> = events.iter().rev().take(3).filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(tail, ["scim.GetGroup", "scim.BulkOperation", "scim.CreateGroup"]);
    let bulk_event = &events[events.len() - 2];
    let sub = &events[events.len() - 3];
    assert_eq!(sub["correlation_id"], bulk_event["request"]["id"], "operations carry the Bulk request's id");

    // failOnErrors: 1 stops after the first failure (a duplicate userName).
    let failing = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "alice@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "carol@example.com"}}
        ]
    });
    let a = s.call(Method::POST, "/Bulk", Some(&failing)).await;
    let ops = a.body["Operations"].as_array().expect("operations");
    assert_eq!(ops.len(), 1, "{}", a.body);
    assert_eq!(ops[0]["status"], "409");
    let carol = s.call(Method::GET, "/Users?filter=userName%20eq%20%22carol%40example.com%22", None).await;
    assert_eq!(carol.body["totalResults"], 0, "nothing ran after the stop");
    // More operations than advertised: 413 tooMany.
    let config = s.call(Method::GET, "/ServiceProviderConfig", None).await;
    let max = config.body["bulk"]["maxOperations"].as_u64().expect("maxOperations") as usize;
    let many: Vec<Value> = (0..=max)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("x{i}"), "data": {"userName": format!("u{i}@x.io")}}))
        .collect();
    let a = s
        .call(
            Method::POST,
            "/Bulk",
            Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": many})),
        )
        .await;
    assert_error(&a, 413, Some("tooMany"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_endpoints_describe_what_is_served() {
    let s = scim().await;
    let a = s.call(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["patch"]["supported"], true);
    assert_eq!(a.body["bulk"]["supported"], true);
    assert_eq!(a.body["etag"]["supported"], true);
    let a = s.call(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(a.body["totalResults"], 2, "{}", a.body);
    let a = s.call(Method::GET, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", None).await;
    assert_eq!(a.body["id"], "urn:ietf:params:scim:schemas:core:2.0:User", "{}", a.body);
    let actions: Vec<String> = s.log().await.iter().map(|e| e["action"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(actions, ["scim.GetServiceProviderConfig", "scim.GetResourceTypes", "scim.GetSchemas"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oneuptime_profile_serves_the_scim_log() {
    let s = scim().await;
    s.app.create_tenant_with_aliases("globex", &[]).await;
    let created = s.call(Method::POST, "/Users", Some(&fixture!("okta_create_user"))).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    s.call(Method::GET, &format!("/Users/{id}"), None).await;
    // The profile needs the tenant's UUID alias and a key.
    let alias = "5d4b0e58-1a7e-4a7f-9a2f-2f6c8d1e0b11";
    let resp = s
        .app
        .http
        .patch(s.app.url("/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .json(&json!({"aliases": [alias]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let key = s.app.create_key("acme", &["events:read"]).await;
    let resp = s
        .app
        .http
        .post(s.app.url("/api/status-page-scim-log/get-list"))
        .header("ApiKey", &key.secret)
        .header("projectid", alias)
        .json(&json!({"query": {}, "select": {"operationType": true, "httpMethod": true, "requestPath": true, "httpStatusCode": true,
                       "statusPageScimId": true, "affectedUserEmail": true, "status": true}, "sort": {"createdAt": "ASC"}}))
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["data"].as_array().expect("data");
    let ops: Vec<&str> = rows.iter().filter_map(|r| r["operationType"].as_str()).collect();
    assert_eq!(ops, ["CreateUser", "GetUser"], "{body}");
    assert_eq!(rows[0]["httpMethod"], "POST");
    assert_eq!(rows[0]["requestPath"], format!("{}/Users", s.base));
    assert_eq!(rows[0]["httpStatusCode"], 201);
    assert_eq!(rows[0]["statusPageScimId"], s.connection.as_str());
    assert_eq!(rows[0]["affectedUserEmail"], "test.user@okta.local");
    assert_eq!(rows[0]["status"], "Success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim_log_answers_the_pages_filters() {
    let s = scim().await;
    let created = s.call(Method::POST, "/Users", Some(&fixture!("okta_create_user"))).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    s.call(Method::POST, "/Users", Some(&fixture!("okta_create_user"))).await; // 409
    s.call(Method::GET, &format!("/Users/{id}"), None).await;
    s.call(Method::POST, "/Groups", Some(&fixture!("okta_create_group"))).await;
    s.call(Method::GET, "/Me", None).await;
    // A non-SCIM event of the same tenant never shows.
    let writer = s.app.create_key("acme", &["events:write"]).await;
    s.app
        .ingest_ok(&writer.secret, &json!({"action": "user.login", "request": {"method": "POST", "path": "/Users"}}))
        .await;

    let reader = s.app.create_key("acme", &["events:read"]).await;
    let rows = |query: &'static str| {
        let s = &s;
        let secret = reader.secret.clone();
        async move {
            let resp = s.app.get(&format!("/v1/scim-log?{query}"), &secret).send().await.expect("sent");
            assert_eq!(resp.status(), StatusCode::OK, "{query}");
            let page: Value = resp.json().await.expect("json");
            page["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| e["action"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        rows("").await,
        ["scim.GetMe", "scim.CreateGroup", "scim.GetUser", "scim.CreateUser", "scim.CreateUser"]
    );
    assert_eq!(rows("method=post&resource_type=Users").await, ["scim.CreateUser", "scim.CreateUser"]);
    assert_eq!(rows("status=failed").await, ["scim.GetMe", "scim.CreateUser"]);
    assert_eq!(rows("status=success&resource_type=groups").await, ["scim.CreateGroup"]);
    assert_eq!(rows("resource_type=Me").await, ["scim.GetMe"]);
    let endpoint = format!("endpoint=%2FUsers%2F{id}");
    let resp = s.app.get(&format!("/v1/scim-log?{endpoint}"), &reader.secret).send().await.expect("sent");
    let page: Value = resp.json().await.expect("json");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{page}");
    let far = rows("from=2099-01-01T00:00:00Z").await;
    assert!(far.is_empty());
    for bad in ["method=FETCH", "resource_type=Widgets", "status=maybe", "colour=red"] {
        let resp = s.app.get(&format!("/v1/scim-log?{bad}"), &reader.secret).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // A key without events:read cannot read it.
    let resp = s.app.get("/v1/scim-log", &writer.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
