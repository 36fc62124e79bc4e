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
fn assets_are_embedded_and_unknown_names_are_none() {
    assert_eq!(asset("app.css").map(|a| a.content_type), Some("text/css; charset=utf-8"));
    assert!(asset("app.js").is_some_and(|a| !a.body.is_empty()));
    assert!(asset("../Cargo.toml").is_none());
    assert!(asset("nope.js").is_none());
}
