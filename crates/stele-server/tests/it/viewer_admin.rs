//! The viewer's Export, Integrity and Admin pages and the Verify button's proof over HTTP:
//! each page renders for the roles it is for and is 403 for the others (with a positive
//! control each time), forms without their CSRF token change nothing, what the admin pages
//! make works against the API (a key's secret with exactly its scopes, an invite URL, a
//! rotated SCIM token), the export download is the API's export and is logged, and the
//! proof answers only inside the session's tenant.

use crate::common;

use common::viewer_client::{
    accept_invite, attribute_after, location, member_with_role, signed_in_as, Browser, PASSWORD,
};
use common::{spawn_app, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};
use stele_core::integrity::{verify_inclusion, Hash, HeadKey, SignedTreeHead};

/// The secret a page shows once.
fn shown_secret(html: &str) -> String {
    attribute_after(html, r#"id="shown-secret" class="mono secret" type="text" value=""#)
}

async fn actions_by(app: &TestApp, tenant: &str, email: &str) -> Vec<Value> {
    app.all_events(tenant).await.into_iter().filter(|e| e["actor"]["email"] == email).collect()
}

fn has_action(events: &[Value], action: &str) -> bool {
    events.iter().any(|e| e["action"] == action)
}

async fn seed(app: &TestApp) -> common::Key {
    let key = app.tenant_with_key("acme").await;
    let events: Vec<Value> = (0..12)
        .map(|i| {
            json!({"action": if i % 3 == 0 { "user.login" } else { "doc.read" }, "message": format!("event {i}"),
                   "actor": {"email": "someone@acme.io"}, "time": format!("2026-11-29T{:02}:00:00Z", i)})
        })
        .collect();
    assert_eq!(app.ingest(&key.secret, &json!({"events": events})).await.status(), StatusCode::CREATED);
    key
}

#[tokio::test]
async fn each_page_answers_the_roles_it_is_for_and_403_the_others() {
    let app = spawn_app().await;
    seed(&app).await;
    app.create_tenant("globex").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let mut auditor = signed_in_as(&app, "acme", "aud@acme.io", "auditor").await;
    let mut member = signed_in_as(&app, "acme", "mel@acme.io", "member").await;

    for page in ["/t/acme/admin/members", "/t/acme/admin/keys", "/t/acme/admin/scim"] {
        let (status, html, _) = admin.page(page).await;
        assert_eq!(status, StatusCode::OK, "{page} for an admin");
        assert!(html.contains(">Admin</a>") && html.contains(r#"aria-current="page">Admin</a>"#), "{page}");
        for who in [&mut auditor, &mut member] {
            let (status, html, _) = who.page(page).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
            assert!(!html.contains(">Admin</a>"), "no Admin entry for a non-admin");
        }
        assert_eq!(admin.get(&page.replace("acme", "globex")).await.status(), StatusCode::NOT_FOUND, "{page}");
    }
    assert_eq!(admin.get("/t/acme/admin").await.status(), StatusCode::SEE_OTHER);

    for who in [&mut admin, &mut auditor] {
        let (status, html, _) = who.page("/t/acme/export").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(">Download</button>") && html.contains("events in this view"), "{html}");
        let (_, events, _) = who.page("/t/acme/events?status=success").await;
        assert!(events.contains("Export this view") && events.contains(">Export</a>"));
    }
    let (status, _, _) = member.page("/t/acme/export").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a member reads but does not export");
    let (_, events, _) = member.page("/t/acme/events").await;
    assert!(!events.contains("Export this view") && !events.contains(">Export</a>"));

    for who in [&mut admin, &mut auditor, &mut member] {
        let (status, html, _) = who.page("/t/acme/integrity").await;
        assert_eq!(status, StatusCode::OK, "everyone who reads sees the Integrity page");
        assert!(html.contains("Latest signed heads"));
    }
    assert_eq!(member.get("/t/globex/integrity").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(member.get("/t/globex/export").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, _, csrf) = admin.page("/t/acme/admin/keys").await;
    let keys_before =
        app.get("/v1/keys?tenant=acme", OPERATOR).send().await.expect("keys").json::<Value>().await.expect("json");
    let members_before = app.count("acme").await;

    for token in [None, Some("tampered")] {
        let mut form = vec![("name", "CI"), ("scope-events:read", "on")];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        let resp = admin.post("/t/acme/admin/keys", &form).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.expect("html").contains("Form expired"));
        let mut invite = vec![("email", "eve@acme.io"), ("role", "member")];
        if let Some(t) = token {
            invite.push(("csrf", t));
        }
        assert_eq!(admin.post("/t/acme/admin/members", &invite).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(admin.post("/t/acme/admin/scim", &[("name", "Okta")]).await.status(), StatusCode::FORBIDDEN);
        let download = admin.post("/t/acme/export/download", &[("format", "csv")]).await;
        assert_eq!(download.status(), StatusCode::FORBIDDEN);
    }
    let keys_after =
        app.get("/v1/keys?tenant=acme", OPERATOR).send().await.expect("keys").json::<Value>().await.expect("json");
    assert_eq!(keys_before, keys_after, "no key was made");
    assert_eq!(app.count("acme").await, members_before, "no event at all: nothing changed");
    let scim = app.get("/v1/tenants/acme/scim-connections", OPERATOR).send().await.expect("sent");
    assert_eq!(scim.json::<Value>().await.expect("json"), json!([]), "no SCIM connection");

    // The forms that change an existing record refuse it too, and change nothing.
    let mel = member_with_role(&app, "acme", "mel@acme.io", "member").await;
    let key = app.create_key("acme", &["events:read"]).await;
    let (conn, token) = app.scim_connection("acme").await;
    let before = app.count("acme").await;
    for (path, form) in [
        (format!("/t/acme/admin/members/{mel}"), vec![("do", "deactivate")]),
        (format!("/t/acme/admin/members/{mel}"), vec![("do", "role"), ("role", "admin"), ("csrf", "x")]),
        (format!("/t/acme/admin/keys/{}/revoke", key.id), vec![]),
        (format!("/t/acme/admin/scim/{conn}/rotate"), vec![("csrf", "")]),
        (format!("/t/acme/admin/scim/{conn}/revoke"), vec![]),
    ] {
        assert_eq!(admin.post(&path, &form).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.count("acme").await, before, "no change, no event");
    assert_eq!(app.get("/v1/events", &key.secret).send().await.expect("read").status(), StatusCode::OK);
    let scim_users = app.http.get(app.url(&format!("/scim/v2/{conn}/Users"))).bearer_auth(&token).send().await;
    assert_eq!(scim_users.expect("SCIM").status(), StatusCode::OK, "the SCIM token still works");
    let mel_now: Value = app
        .get(&format!("/v1/tenants/acme/members/{mel}"), OPERATOR)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!((mel_now["active"].clone(), mel_now["role"].clone()), (json!(true), json!("member")));

    // Positive control: the same form with the page's token works.
    let resp = admin.post("/t/acme/admin/keys", &[("csrf", &csrf), ("name", "CI"), ("scope-events:read", "on")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(shown_secret(&resp.text().await.expect("html")).starts_with("stl_"));
}

#[tokio::test]
async fn a_key_made_on_the_admin_page_has_exactly_its_scopes_and_view() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, _, csrf) = admin.page("/t/acme/admin/keys").await;
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Docs reader"),
        ("scope-events:read", "on"),
        ("view_filter", r#"action sw "doc.""#),
    ];
    let resp = admin.post("/t/acme/admin/keys", &form).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    let secret = shown_secret(&html);
    assert!(!secret.is_empty(), "the secret is shown once: {html}");
    assert!(html.contains("shown only this once"));
    // It is not in any URL and not shown again.
    let (_, again, _) = admin.page("/t/acme/admin/keys").await;
    assert!(!again.contains(&secret) && again.contains("Docs reader"));

    let read = app.get("/v1/events?limit=100", &secret).send().await.expect("read");
    assert_eq!(read.status(), StatusCode::OK);
    let page: Value = read.json().await.expect("json");
    let actions: Vec<&str> =
        page["events"].as_array().expect("events").iter().map(|e| e["action"].as_str().unwrap_or("")).collect();
    assert_eq!(actions.len(), 8, "only the view's events: {actions:?}");
    assert!(actions.iter().all(|a| a.starts_with("doc.")));
    let write = app.ingest(&secret, &json!({"action": "doc.read"})).await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN, "no events:write");
    assert_eq!(app.get("/v1/events/export", &secret).send().await.expect("export").status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/keys", &secret).send().await.expect("keys").status(), StatusCode::FORBIDDEN, "no admin");

    // Made by the member, through the viewer.
    let made = actions_by(&app, "acme", "ada@acme.io").await;
    let created = made.iter().find(|e| e["action"] == "stele.key.created").expect("stele.key.created");
    assert_eq!(created["actor"]["type"], "member");
    assert_eq!(created["origin"], "user");

    // A bad view filter is refused on the page, naming it; no key is made.
    let resp = admin
        .post(
            "/t/acme/admin/keys",
            &[("csrf", &csrf), ("name", "Bad"), ("scope-events:read", "on"), ("view_filter", "action eq")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("html").contains("view_filter"));
    let resp = admin.post("/t/acme/admin/keys", &[("csrf", &csrf), ("name", "None")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "at least one scope");

    // Revoke: the secret stops working.
    let keys: Value = app.get("/v1/keys?tenant=acme", OPERATOR).send().await.expect("keys").json().await.expect("json");
    let id = keys.as_array().expect("keys").iter().find(|k| k["name"] == "Docs reader").expect("the key")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resp = admin.post(&format!("/t/acme/admin/keys/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/t/acme/admin/keys?done=revoked");
    assert_eq!(app.get("/v1/events", &secret).send().await.expect("read").status(), StatusCode::UNAUTHORIZED);
    // Another tenant's key is 404 to the page.
    let theirs = app.tenant_with_key("globex").await;
    let resp = admin.post(&format!("/t/acme/admin/keys/{}/revoke", theirs.id), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v1/events", &theirs.secret).send().await.expect("read").status(), StatusCode::OK);
}

#[tokio::test]
async fn an_invite_from_the_admin_page_works_and_deactivation_ends_sessions() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let (_, _, csrf) = admin.page("/t/acme/admin/members").await;
    let resp = admin
        .post(
            "/t/acme/admin/members",
            &[("csrf", &csrf), ("email", "bob@acme.io"), ("name", "Bob"), ("role", "auditor")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    let url = shown_secret(&html);
    let path = url.strip_prefix(&app.base).expect("an invite URL of this server").to_owned();
    accept_invite(&app, &path).await;
    let mut bob = Browser::new(&app);
    assert_eq!(bob.sign_in("acme", "bob@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(bob.get("/t/acme/export").await.status(), StatusCode::OK, "bob is an auditor");

    let by_ada = actions_by(&app, "acme", "ada@acme.io").await;
    assert!(has_action(&by_ada, "stele.member.created") && has_action(&by_ada, "stele.member.invited"));

    // Deactivate (Post/Redirect/Get): bob's session ends; reactivate: bob signs in again.
    let members: Value =
        app.get("/v1/tenants/acme/members", OPERATOR).send().await.expect("list").json().await.expect("json");
    let bob_id =
        members["members"].as_array().expect("members").iter().find(|m| m["email"] == "bob@acme.io").expect("bob")
            ["id"]
            .as_str()
            .expect("id")
            .to_owned();
    let resp = admin.post(&format!("/t/acme/admin/members/{bob_id}"), &[("csrf", &csrf), ("do", "deactivate")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/t/acme/admin/members?done=deactivated");
    assert_eq!(bob.get("/t/acme/events").await.status(), StatusCode::SEE_OTHER, "sent to sign in");
    let resp = admin.post(&format!("/t/acme/admin/members/{bob_id}"), &[("csrf", &csrf), ("do", "reactivate")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(bob.sign_in("acme", "bob@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);

    // Change role: bob becomes a member and may no longer export.
    let resp = admin
        .post(&format!("/t/acme/admin/members/{bob_id}"), &[("csrf", &csrf), ("do", "role"), ("role", "member")])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(bob.get("/t/acme/export").await.status(), StatusCode::FORBIDDEN);

    // A new invite URL is shown once, on the page.
    let resp = admin.post(&format!("/t/acme/admin/members/{bob_id}"), &[("csrf", &csrf), ("do", "invite")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(shown_secret(&resp.text().await.expect("html")).contains("/invite/acme/"));

    // Bad input is refused on the page, naming the field, and makes nobody.
    let resp =
        admin.post("/t/acme/admin/members", &[("csrf", &csrf), ("email", "not-an-email"), ("role", "member")]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("html").contains("email:"));
}

#[tokio::test]
async fn an_admin_gives_at_most_its_own_role_and_an_owner_may_give_owner() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "admin").await;
    let owner_id = member_with_role(&app, "acme", "olga@acme.io", "owner").await;
    let mel_id = member_with_role(&app, "acme", "mel@acme.io", "member").await;
    let (_, html, csrf) = admin.page("/t/acme/admin/members").await;
    assert!(!html.contains(r#"<option value="owner""#), "an admin is not offered owner");
    let count = |v: &Value| v["total"].as_u64().unwrap_or(0);
    let list = || async {
        app.get("/v1/tenants/acme/members", OPERATOR).send().await.expect("list").json::<Value>().await.expect("json")
    };
    let before = count(&list().await);

    let resp = admin.post("/t/acme/admin/members", &[("csrf", &csrf), ("email", "x@acme.io"), ("role", "owner")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&list().await), before, "nobody was made");
    let resp = admin
        .post(&format!("/t/acme/admin/members/{mel_id}"), &[("csrf", &csrf), ("do", "role"), ("role", "owner")])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = admin.post(&format!("/t/acme/admin/members/{owner_id}"), &[("csrf", &csrf), ("do", "deactivate")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "an admin does not change an owner");
    let me =
        list().await["members"].as_array().expect("members").iter().find(|m| m["email"] == "ada@acme.io").expect("ada")
            ["id"]
            .as_str()
            .expect("id")
            .to_owned();
    let resp = admin.post(&format!("/t/acme/admin/members/{me}"), &[("csrf", &csrf), ("do", "deactivate")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "nobody deactivates themselves here");
    let members = list().await;
    let role_of = |email: &str| {
        members["members"].as_array().expect("members").iter().find(|m| m["email"] == email).expect("member")["role"]
            .clone()
    };
    assert_eq!(role_of("mel@acme.io"), "member");
    assert_eq!(
        members["members"].as_array().expect("m").iter().find(|m| m["email"] == "olga@acme.io").expect("olga")
            ["active"],
        true
    );

    // A member whose group makes it act as owner is above an admin too.
    let gus = member_with_role(&app, "acme", "gus@acme.io", "member").await;
    let group = json!({"display_name": "Owners", "role": "owner", "members": [gus]});
    let made = app.post_json("/v1/tenants/acme/groups", OPERATOR, &group).send().await.expect("group");
    assert_eq!(made.status(), StatusCode::CREATED);
    let resp = admin.post(&format!("/t/acme/admin/members/{gus}"), &[("csrf", &csrf), ("do", "deactivate")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "gus acts as owner");

    // Positive control: an admin gives admin; an owner gives owner.
    let resp = admin
        .post(&format!("/t/acme/admin/members/{mel_id}"), &[("csrf", &csrf), ("do", "role"), ("role", "admin")])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let mut owner = Browser::new(&app);
    assert_eq!(owner.sign_in("acme", "olga@acme.io", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let (_, html, csrf) = owner.page("/t/acme/admin/members").await;
    assert!(html.contains(r#"<option value="owner""#));
    let resp = owner
        .post(&format!("/t/acme/admin/members/{mel_id}"), &[("csrf", &csrf), ("do", "role"), ("role", "owner")])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let members = list().await;
    assert_eq!(
        members["members"].as_array().expect("m").iter().find(|m| m["email"] == "mel@acme.io").expect("mel")["role"],
        "owner"
    );
}

#[tokio::test]
async fn rotating_a_scim_token_on_the_admin_page_ends_the_old_one() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let mut admin = signed_in_as(&app, "acme", "ada@acme.io", "owner").await;
    let (_, _, csrf) = admin.page("/t/acme/admin/scim").await;
    let resp = admin.post("/t/acme/admin/scim", &[("csrf", &csrf), ("name", "Okta")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    let old = shown_secret(&html);
    assert!(old.starts_with("scim_"), "{html}");
    let after = html.split("<dt>SCIM base URL</dt><dd class=\"mono hash\">").nth(1).unwrap_or_default();
    let base = common::viewer_client::unescape(after.split("</dd>").next().unwrap_or_default());
    assert!(base.starts_with(&format!("{}/scim/v2/", app.base)), "{base}");
    let users = |token: String| {
        let url = format!("{base}/Users");
        let http = app.http.clone();
        async move { http.get(url).bearer_auth(token).send().await.expect("SCIM").status() }
    };
    assert_eq!(users(old.clone()).await, StatusCode::OK);

    let id = base.rsplit('/').next().unwrap_or_default().to_owned();
    let resp = admin.post(&format!("/t/acme/admin/scim/{id}/rotate"), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let new = shown_secret(&resp.text().await.expect("html"));
    assert!(new.starts_with("scim_") && new != old);
    assert_eq!(users(old).await, StatusCode::UNAUTHORIZED, "the old token stopped");
    assert_eq!(users(new.clone()).await, StatusCode::OK, "the new one works");

    let resp = admin.post(&format!("/t/acme/admin/scim/{id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(users(new).await, StatusCode::UNAUTHORIZED);
    let by_ada = actions_by(&app, "acme", "ada@acme.io").await;
    for a in ["stele.scim_connection.created", "stele.scim_connection.rotated", "stele.scim_connection.revoked"] {
        assert!(has_action(&by_ada, a), "{a}");
    }
}

#[tokio::test]
async fn the_export_download_is_the_api_export_and_is_logged() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut auditor = signed_in_as(&app, "acme", "aud@acme.io", "auditor").await;
    let (_, html, csrf) = auditor.page("/t/acme/events?action=doc.&from=2026-11-29").await;
    let export_href = attribute_after(&html, r#"class="btn small head-action" href=""#);
    assert!(export_href.starts_with("/t/acme/export?"), "{export_href}");
    let (status, page, _) = auditor.page(&export_href).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("8 events in this view"), "the chips are folded into the filter");

    for format in ["ndjson", "csv"] {
        let form = [
            ("csrf", csrf.as_str()),
            ("format", format),
            ("filter", r#"action sw "doc.""#),
            ("from", "2026-11-29"),
            ("to", "2026-11-29"),
        ];
        let resp = auditor.post("/t/acme/export/download", &form).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let kind = resp.headers()["content-type"].to_str().expect("type").to_owned();
        let ours = resp.text().await.expect("body");
        let api = app
            .op_get(&format!("/v1/events/export?format={format}&filter=action%20sw%20%22doc.%22&from=2026-11-29T00:00:00Z&to=2026-11-30T00:00:00Z"), "acme")
            .send()
            .await
            .expect("API export");
        assert_eq!(api.headers()["content-type"].to_str().expect("type"), kind);
        let theirs = api.text().await.expect("body");
        let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
        let (ours, theirs) = (lines(&ours), lines(&theirs));
        assert_eq!(ours.len(), 9, "a first line and the 8 doc. events");
        if format == "ndjson" {
            // The head line names a head covering the log at each export's start; the events
            // (and their proofs, against those heads) are the same events.
            let head = |l: &str| serde_json::from_str::<Value>(l).expect("head line");
            assert_eq!(head(&ours[0])["stele_export"], 1);
            assert_eq!(head(&ours[0])["complete"], false);
            // Each event line is the stored event with its inclusion proof; the proofs are
            // against each export's own head, the events are the same.
            let events = |ls: &[String]| {
                ls[1..]
                    .iter()
                    .map(|l| {
                        let mut e = head(l);
                        assert!(e["proof"].is_array(), "a filtered export carries proofs");
                        e.as_object_mut().expect("object").remove("proof");
                        e
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(events(&ours), events(&theirs));
        } else {
            assert_eq!(ours, theirs, "the CSV is the API's");
        }
    }
    let exported: Vec<Value> = actions_by(&app, "acme", "aud@acme.io")
        .await
        .into_iter()
        .filter(|e| e["action"] == "stele.viewer.exported")
        .collect();
    assert_eq!(exported.len(), 2, "one event per download");
    assert!(exported.iter().any(|e| e["context"]["format"] == "csv"));

    // A member may not export; nothing is logged for the refusal.
    let mut member = signed_in_as(&app, "acme", "mel@acme.io", "member").await;
    let (_, _, mcsrf) = member.page("/t/acme/events").await;
    let resp = member.post("/t/acme/export/download", &[("csrf", &mcsrf), ("format", "csv")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(actions_by(&app, "acme", "mel@acme.io").await.iter().all(|e| e["action"] != "stele.viewer.exported"));
}

#[tokio::test]
async fn the_proof_verifies_and_answers_only_inside_the_session() {
    let app = spawn_app().await;
    seed(&app).await;
    let other = app.tenant_with_key("globex").await;
    let theirs = app.ingest_ok(&other.secret, &json!({"action": "doc.secret"})).await;
    let mut reader = signed_in_as(&app, "acme", "mel@acme.io", "member").await;
    let event = app.all_events("acme").await.into_iter().find(|e| e["action"] == "doc.read").expect("an event");
    let id = event["id"].as_str().expect("id");

    // The event page embeds the deployment's key, the one the API serves.
    let key: Value = app.op_get("/v1/integrity/key", "acme").send().await.expect("key").json().await.expect("json");
    let (_, html, _) = reader.page(&format!("/t/acme/events/{id}")).await;
    assert_eq!(attribute_after(&html, "data-public-key=\""), key["public_key"].as_str().expect("key"));
    assert_eq!(attribute_after(&html, "data-key-id=\""), key["key_id"].as_str().expect("key id"));

    let resp = reader.get(&format!("/t/acme/events/{id}/proof")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let proof: Value = resp.json().await.expect("json");
    assert_eq!(proof["leaf_hash"], event["hash"]);
    let head: SignedTreeHead = serde_json::from_value(proof["head"].clone()).expect("a signed head");
    let trusted = HeadKey::from_base64(key["public_key"].as_str().expect("key")).expect("key");
    trusted.verify(&head).expect("the head is signed by the deployment's key");
    let hashes: Vec<Hash> = serde_json::from_value(proof["proof"].clone()).expect("hashes");
    let leaf = Hash::from_hex(proof["leaf_hash"].as_str().expect("leaf")).expect("leaf");
    let index = proof["leaf_index"].as_u64().expect("index");
    verify_inclusion(index, head.head.size, &leaf, &hashes, &head.head.root).expect("the proof leads to the root");

    // Another tenant's event, an unknown id, another tenant's URL: 404, as JSON.
    let theirs_id = theirs["id"].as_str().expect("id");
    for path in [
        format!("/t/acme/events/{theirs_id}/proof"),
        "/t/acme/events/0193a0a0-0000-7000-8000-000000000000/proof".to_owned(),
        format!("/t/globex/events/{theirs_id}/proof"),
    ] {
        let resp = reader.get(&path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    // Without a session: 401, not a redirect a script cannot follow.
    let anonymous = app.http.get(app.url(&format!("/t/acme/events/{id}/proof"))).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The Integrity page shows the same key, the latest head and prefilled commands.
    let (_, page, _) = reader.page("/t/acme/integrity").await;
    let page = common::viewer_client::unescape(&page);
    assert!(
        page.contains(key["key_id"].as_str().expect("id")) && page.contains(key["public_key"].as_str().expect("key"))
    );
    let latest: Value =
        app.op_get("/v1/integrity/head", "acme").send().await.expect("head").json().await.expect("json");
    assert!(page.contains(latest["root"].as_str().expect("root")), "the latest head");
    assert!(page.contains(&format!("stele verify --server {}", app.base)), "the server is prefilled");
    assert!(page.contains("stele verify --export events.ndjson --public-key"));
}
