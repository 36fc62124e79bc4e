//! The directory admin API: members, groups and SCIM connections, who may manage them, and
//! every change recorded in the tenant's own log.

use crate::common;

use common::{assert_problem, detail, spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    secret: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.http.request(method, app.url(path)).bearer_auth(secret);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.expect("sent")
}

async fn ok_json(resp: reqwest::Response, status: StatusCode) -> Value {
    let got = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).expect("json")
}

/// The `stele.*` actions of the tenant's log, oldest first.
async fn directory_actions(app: &TestApp, tenant: &str) -> Vec<String> {
    let mut events = app.all_events(tenant).await;
    events.reverse();
    events
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| !a.starts_with("stele.tenant"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_created_listed_changed_and_deleted_with_events() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let base = "/v1/tenants/acme/members";
    let made = ok_json(
        send(
            &app,
            reqwest::Method::POST,
            base,
            OPERATOR,
            Some(json!({"email": "ana@acme.io", "name": "Ana", "role": "auditor"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["user_name"], "ana@acme.io");
    assert_eq!(made["email"], "ana@acme.io");
    assert_eq!(made["display_name"], "Ana");
    assert_eq!(made["role"], "auditor");
    assert_eq!(made["active"], true);
    assert_eq!(made["version"], 1);
    let id = made["id"].as_str().expect("id").to_owned();

    // The same user name again, in other case: 409 naming the field, nothing stored.
    let resp = send(&app, reqwest::Method::POST, base, OPERATOR, Some(json!({"email": "ANA@acme.io"}))).await;
    let p = assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    assert!(detail(&p).contains("user_name"), "{p}");
    // Validation names the field and stores nothing.
    for (body, field) in [
        (json!({"email": "not-an-address"}), "email"),
        (json!({"email": "bo@acme.io", "role": "king"}), "role"),
        (json!({"email": "bo@acme.io", "name": ""}), "name"),
        (json!({"email": "bo@acme.io", "colour": "red"}), "colour"),
    ] {
        let resp = send(&app, reqwest::Method::POST, base, OPERATOR, Some(body.clone())).await;
        let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(detail(&p).contains(field), "{body}: {p}");
    }
    let page = ok_json(send(&app, reqwest::Method::GET, base, OPERATOR, None).await, StatusCode::OK).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["members"][0]["id"], id.as_str());

    // Change role and active; the answer and a read agree.
    let path = format!("{base}/{id}");
    let changed = ok_json(
        send(&app, reqwest::Method::PATCH, &path, OPERATOR, Some(json!({"role": "admin", "active": false}))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (changed["role"].as_str(), changed["active"].as_bool(), changed["version"].as_u64()),
        (Some("admin"), Some(false), Some(2))
    );
    let read = ok_json(send(&app, reqwest::Method::GET, &path, OPERATOR, None).await, StatusCode::OK).await;
    assert_eq!(read["role"], "admin");
    assert_eq!(read["effective_role"], "admin");
    assert_eq!(read["groups"], json!([]));

    assert_eq!(send(&app, reqwest::Method::DELETE, &path, OPERATOR, None).await.status(), StatusCode::NO_CONTENT);
    let resp = send(&app, reqwest::Method::GET, &path, OPERATOR, None).await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;

    let actions = directory_actions(&app, "acme").await;
    assert_eq!(
        actions,
        ["stele.member.created", "stele.member.invited", "stele.member.updated", "stele.member.deleted"]
    );
    let events = app.all_events("acme").await;
    let updated = events.iter().find(|e| e["action"] == "stele.member.updated").expect("update event");
    assert_eq!(updated["targets"][0]["email"], "ana@acme.io");
    assert_eq!(updated["changes"]["before"]["role"], "auditor");
    assert_eq!(updated["changes"]["after"]["role"], "admin");
    assert_eq!(updated["changes"]["after"]["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_map_roles_to_their_members() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let member = |email: &'static str| {
        let app = &app;
        async move {
            let body = json!({"email": email});
            let m = ok_json(
                send(app, reqwest::Method::POST, "/v1/tenants/acme/members", OPERATOR, Some(body)).await,
                StatusCode::CREATED,
            )
            .await;
            m["id"].as_str().expect("id").to_owned()
        }
    };
    let (ana, bo) = (member("ana@acme.io").await, member("bo@acme.io").await);
    let group = ok_json(
        send(
            &app,
            reqwest::Method::POST,
            "/v1/tenants/acme/groups",
            OPERATOR,
            Some(json!({"display_name": "Auditors", "role": "auditor", "members": [ana]})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(group["members"][0]["id"], ana.as_str());
    assert_eq!(group["members"][0]["display"], "ana@acme.io");
    let gid = group["id"].as_str().expect("id").to_owned();
    let read = ok_json(
        send(&app, reqwest::Method::GET, &format!("/v1/tenants/acme/members/{ana}"), OPERATOR, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((read["role"].as_str(), read["effective_role"].as_str()), (Some("member"), Some("auditor")));
    assert_eq!(read["groups"][0]["display_name"], "Auditors");

    // An unknown member cannot join; the group is unchanged.
    let stranger = "0193a0c4-0000-7000-8000-000000000000";
    let resp = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/v1/tenants/acme/groups/{gid}"),
        OPERATOR,
        Some(json!({"members": [bo, stranger]})),
    )
    .await;
    let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    assert!(detail(&p).contains(stranger), "{p}");
    // Replace the members and drop the role.
    let changed = ok_json(
        send(
            &app,
            reqwest::Method::PATCH,
            &format!("/v1/tenants/acme/groups/{gid}"),
            OPERATOR,
            Some(json!({"members": [bo], "role": null})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["members"].as_array().map(Vec::len), Some(1));
    assert!(changed.get("role").is_none(), "{changed}");
    let listed =
        ok_json(send(&app, reqwest::Method::GET, "/v1/tenants/acme/groups", OPERATOR, None).await, StatusCode::OK)
            .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &format!("/v1/tenants/acme/groups/{gid}"), OPERATOR, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let actions = directory_actions(&app, "acme").await;
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("stele.group.")).collect::<Vec<_>>(),
        ["stele.group.created", "stele.group.updated", "stele.group.deleted"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_unfiltered_admins_of_the_tenant_manage_its_directory() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let admin = app.create_key("acme", &["admin", "events:read"]).await;
    let reader = app.create_key("acme", &["events:read", "events:write"]).await;
    let other = app.create_key("globex", &["admin"]).await;
    let resp = app
        .post_json(
            "/v1/keys",
            OPERATOR,
            &json!({"tenant": "acme", "name": "narrow", "scopes": ["admin"], "view_filter": "actor.id eq \"u1\""}),
        )
        .send()
        .await
        .expect("sent");
    let narrow: Value = ok_json(resp, StatusCode::CREATED).await;
    let narrow = narrow["secret"].as_str().expect("secret").to_owned();
    let body = json!({"email": "ana@acme.io"});
    let path = "/v1/tenants/acme/members";
    for (secret, why) in [(&reader.secret, "admin scope"), (&other.secret, "own tenant"), (&narrow, "view filter")] {
        let resp = send(&app, reqwest::Method::POST, path, secret, Some(body.clone())).await;
        let p = assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(!detail(&p).is_empty(), "{why}: {p}");
        let resp = send(&app, reqwest::Method::GET, path, secret, None).await;
        assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Positive control: the unfiltered admin key of the tenant may.
    let made = send(&app, reqwest::Method::POST, path, &admin.secret, Some(body)).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let page = ok_json(send(&app, reqwest::Method::GET, path, &admin.secret, None).await, StatusCode::OK).await;
    assert_eq!(page["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_connection_tokens_are_shown_once_rotated_and_revoked() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let base = "/v1/tenants/acme/scim-connections";
    let made = ok_json(
        send(&app, reqwest::Method::POST, base, OPERATOR, Some(json!({"name": "Okta"}))).await,
        StatusCode::CREATED,
    )
    .await;
    let id = made["id"].as_str().expect("id").to_owned();
    let token = made["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("scim_") && token.len() > 40, "{token}");
    assert!(made["base_url"].as_str().expect("base url").ends_with(&format!("/scim/v2/{id}")), "{made}");
    let listed = ok_json(send(&app, reqwest::Method::GET, base, OPERATOR, None).await, StatusCode::OK).await;
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&token), "the token is never listed");

    let rotated = ok_json(
        send(&app, reqwest::Method::POST, &format!("{base}/{id}/rotate"), OPERATOR, None).await,
        StatusCode::OK,
    )
    .await;
    let second = rotated["token"].as_str().expect("token");
    assert_ne!(second, token);
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &format!("{base}/{id}"), OPERATOR, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let listed = ok_json(send(&app, reqwest::Method::GET, base, OPERATOR, None).await, StatusCode::OK).await;
    assert!(listed[0]["revoked_at"].as_str().is_some(), "{listed}");
    let resp = send(&app, reqwest::Method::POST, &format!("{base}/{id}/rotate"), OPERATOR, None).await;
    assert_problem(resp, StatusCode::CONFLICT, "conflict").await;
    // Another tenant's admin cannot see it.
    app.create_tenant("globex").await;
    let other = app.create_key("globex", &["admin"]).await;
    let resp =
        send(&app, reqwest::Method::DELETE, &format!("/v1/tenants/globex/scim-connections/{id}"), &other.secret, None)
            .await;
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;

    let actions = directory_actions(&app, "acme").await;
    assert_eq!(
        actions,
        ["stele.scim_connection.created", "stele.scim_connection.rotated", "stele.scim_connection.revoked"]
    );
    let events = app.all_events("acme").await;
    assert!(
        events.iter().all(|e| !e.to_string().contains(&token) && !e.to_string().contains(second)),
        "no token in the log"
    );
    assert!(events
        .iter()
        .filter(|e| e["action"].as_str().unwrap_or("").starts_with("stele.scim"))
        .all(|e| e["context"]["scim_connection_id"] == id.as_str()));
}
