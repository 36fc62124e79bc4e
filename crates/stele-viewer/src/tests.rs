//! Every page renders, values are escaped, and no page carries inline script or style.

use crate::views::*;
use crate::{asset, Viewer};

fn chrome() -> Chrome {
    Chrome {
        tenant: "acme".into(),
        tenant_name: "Acme <Corp>".into(),
        member: "Ana".into(),
        member_email: "ana@acme.io".into(),
        role: "admin".into(),
        csrf: "tok".into(),
        nav: "events",
        may_export: true,
        may_manage: true,
    }
}

fn pages() -> Vec<String> {
    let v = Viewer::new().expect("templates compile");
    let evil = "<script>alert(1)</script>";
    vec![
        v.render(&LoginView {
            tenant: "acme".into(),
            email: evil.into(),
            error: Some(evil.into()),
            ..Default::default()
        })
        .expect("login"),
        v.render(&InviteView { email: evil.into(), action: "/invite/x".into(), ..Default::default() }).expect("invite"),
        v.render(&EventsView {
            chrome: chrome(),
            filter: evil.into(),
            filter_error: Some(FilterError { message: evil.into(), at: "x".into(), column: 3, ..Default::default() }),
            rows: vec![EventRow { message: evil.into(), href: "/t/acme/events/1".into(), ..Default::default() }],
            ..Default::default()
        })
        .expect("events"),
        v.render(&EventView {
            chrome: chrome(),
            raw: evil.into(),
            diff: vec![DiffRow { path: "role".into(), before: evil.into(), ..Default::default() }],
            ..Default::default()
        })
        .expect("event"),
        v.render(&ScimLogsView {
            chrome: chrome(),
            rows: vec![ScimRow { failed: true, error: evil.into(), method: "POST".into(), ..Default::default() }],
            ..Default::default()
        })
        .expect("scim logs"),
        v.render(&ExportView { chrome: chrome(), filter: evil.into(), error: Some(evil.into()), ..Default::default() })
            .expect("export"),
        v.render(&IntegrityView {
            chrome: chrome(),
            heads: vec![HeadRow { root: evil.into(), ..Default::default() }],
            commands: vec![CommandView { title: "t".into(), text: evil.into() }],
            ..Default::default()
        })
        .expect("integrity"),
        v.render(&AdminMembersView {
            chrome: chrome(),
            tab: "members",
            members: vec![MemberRow { name: evil.into(), roles: vec![Choice::default()], ..Default::default() }],
            shown: Some(Shown { title: "Invite".into(), secret: evil.into(), extra: vec![] }),
            ..Default::default()
        })
        .expect("admin members"),
        v.render(&AdminKeysView {
            chrome: chrome(),
            tab: "keys",
            keys: vec![KeyRow { name: evil.into(), ..Default::default() }],
            scopes: vec![Check { value: "events:read".into(), ..Default::default() }],
            ..Default::default()
        })
        .expect("admin keys"),
        v.render(&AdminScimView {
            chrome: chrome(),
            tab: "scim",
            connections: vec![ConnectionRow { name: evil.into(), ..Default::default() }],
            error: Some(evil.into()),
            ..Default::default()
        })
        .expect("admin scim"),
        v.render(&AdminStreamsView {
            chrome: chrome(),
            tab: "streams",
            streams: vec![StreamRow { name: evil.into(), last_error: Some(evil.into()), ..Default::default() }],
            fields: vec![StreamField {
                name: "url".into(),
                input: "url".into(),
                value: evil.into(),
                ..Default::default()
            }],
            form_error: Some(evil.into()),
            ..Default::default()
        })
        .expect("admin streams"),
        v.render(&AdminStreamEditView {
            chrome: chrome(),
            tab: "streams",
            stream_name: evil.into(),
            name: evil.into(),
            filter: evil.into(),
            fields: vec![
                StreamField {
                    name: "url".into(),
                    input: "url".into(),
                    value: evil.into(),
                    invalid: true,
                    ..Default::default()
                },
                StreamField {
                    name: "ca_pem".into(),
                    input: "textarea".into(),
                    value: evil.into(),
                    ..Default::default()
                },
            ],
            form_error: Some(evil.into()),
            name_invalid: true,
            ..Default::default()
        })
        .expect("admin stream edit"),
        v.render(&AdminRetentionView {
            chrome: chrome(),
            tab: "retention",
            hold: Some(evil.into()),
            waiting: vec![WaitingStream { name: evil.into(), href: "/t/acme/admin/streams".into() }],
            ..Default::default()
        })
        .expect("admin retention"),
        v.render(&ErrorView { status: 404, title: "Not found".into(), detail: evil.into(), home: "/".into() })
            .expect("error"),
    ]
}

#[test]
fn values_are_escaped_on_every_page() {
    for html in pages() {
        assert!(html.contains("&lt;script&gt;"), "the value is shown, escaped");
        assert!(!html.contains("<script>alert"), "never as markup");
    }
}

#[test]
fn no_page_has_inline_script_or_style() {
    for html in pages() {
        assert!(html.contains(r#"<script type="module" src="/assets/app.js"#), "the one module is external");
        assert_eq!(html.matches("<script").count(), 1, "no other script element");
        for inline in [" style=", "<style", " onclick=", " onload=", " onsubmit=", "javascript:"] {
            assert!(!html.contains(inline), "{inline} in a page");
        }
    }
}

#[test]
fn the_scim_page_has_the_seed_columns_and_filters() {
    let v = Viewer::new().expect("templates compile");
    let html = v.render(&ScimLogsView { chrome: chrome(), ..Default::default() }).expect("render");
    for header in [
        "Request ID",
        "Time",
        "Status",
        "HTTP Method",
        "Endpoint",
        "Query Parameter",
        "Status Code",
        "Response",
        "Request",
    ] {
        assert!(html.contains(&format!(r#"<th scope="col">{header}</th>"#)), "{header}");
    }
    for label in ["Start date", "End date", "HTTP Method", "Resource Type", "Endpoint", "Status"] {
        assert!(html.contains(&format!(">{label}</label>")), "{label}");
    }
    assert!(html.contains(">Filter</button>") && html.contains(">Reset</button>"));
}

#[test]
fn the_event_page_embeds_the_trusted_key_for_verify() {
    let v = Viewer::new().expect("templates compile");
    let html = v
        .render(&EventView {
            chrome: chrome(),
            leaf_hash: "ab".repeat(32),
            proof_href: "/t/acme/events/1/proof".into(),
            public_key: "KEY+/=".into(),
            key_id: "0123456789abcdef".into(),
            ..Default::default()
        })
        .expect("render");
    // Auto-escaping writes `/` as `&#x2f;`; the browser reads the attribute back as `KEY+/=`.
    assert!(html.contains(r#"data-public-key="KEY+&#x2f;=""#), "the key the page trusts");
    assert!(html.contains(r#"data-key-id="0123456789abcdef""#));
    assert!(html.contains(r#"data-proof-href="&#x2f;t&#x2f;acme&#x2f;events&#x2f;1&#x2f;proof""#));
    assert!(html.contains("data-verify-button hidden"), "the button appears only with the script");
    assert!(html.contains("stele verify"), "the offline hint without JS");
}

#[test]
fn the_navigation_shows_export_and_admin_only_when_allowed() {
    let v = Viewer::new().expect("templates compile");
    let with = v.render(&EventsView { chrome: chrome(), ..Default::default() }).expect("render");
    assert!(with.contains(">Export</a>") && with.contains(">Admin</a>") && with.contains(">Integrity</a>"));
    let reader = Chrome { may_export: false, may_manage: false, ..chrome() };
    let without = v.render(&EventsView { chrome: reader, ..Default::default() }).expect("render");
    assert!(!without.contains(">Export</a>") && !without.contains(">Admin</a>"));
    assert!(without.contains(">Integrity</a>"), "every session sees the Integrity page");
}

#[test]
fn assets_are_embedded_and_unknown_names_are_none() {
    assert_eq!(asset("app.css").map(|a| a.content_type), Some("text/css; charset=utf-8"));
    assert!(asset("app.js").is_some_and(|a| !a.body.is_empty()));
    assert!(asset("verify.js").is_some_and(|a| a.content_type.starts_with("text/javascript")));
    assert!(asset("../Cargo.toml").is_none());
    assert!(asset("nope.js").is_none());
}

#[test]
fn the_edit_form_marks_the_refused_field_and_carries_its_version() {
    let v = Viewer::new().expect("templates compile");
    let html = v
        .render(&AdminStreamEditView {
            chrome: chrome(),
            tab: "streams",
            stream_name: "Hook".into(),
            action: "/t/acme/admin/streams/s1/edit".into(),
            version: "7".into(),
            fields: vec![
                StreamField { name: "url".into(), input: "url".into(), invalid: true, ..Default::default() },
                StreamField { name: "secret".into(), input: "password".into(), ..Default::default() },
            ],
            form_error: Some("url: must be an absolute URL".into()),
            ..Default::default()
        })
        .expect("render");
    assert!(html.contains(r#"name="version" value="7""#), "the version the form was filled from");
    assert!(
        html.contains(r#"id="f-url" name="url" type="url" value="" class="invalid" aria-invalid="true""#),
        "{html}"
    );
    assert!(!html.contains(r#"id="f-secret" name="secret" type="password" value="" class="invalid""#));
    assert!(html.contains(r#"role="alert" id="edit-error">url: must be an absolute URL"#));
    assert!(html.contains(">Save changes</button>") && html.contains(">Cancel</a>"));
}
