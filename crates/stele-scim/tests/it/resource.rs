//! Normalising POST/PUT bodies, indexed columns, rendering, versions.

use serde_json::json;
use stele_scim::{
    etag, group_fields, normalize, parse_if_match, render_user, user_fields, GroupRef, IfMatch, ResourceKind, ScimType,
};

use crate::common::{fixture, meta, user};

#[test]
fn entra_create_user_normalises_to_the_canonical_document() {
    let doc = user(fixture("entra_create_user.json"));
    assert_eq!(
        doc,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "emails": [{
                "primary": true,
                "type": "work",
                "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
            }],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        }),
        "meta is readOnly, roles unknown: both dropped"
    );
    let f = user_fields(&doc);
    assert_eq!(f.user_name, "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
    assert_eq!(f.external_id.as_deref(), Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"));
    assert_eq!(f.primary_email.as_deref(), Some("Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"));
    assert!(f.active);
}

#[test]
fn okta_create_user_discards_the_password_and_readonly_groups() {
    let doc = user(fixture("okta_create_user.json"));
    assert!(doc.get("password").is_none());
    assert!(doc.get("groups").is_none());
    assert_eq!(doc["locale"], "en-US");
    assert_eq!(user_fields(&doc).display_name.as_deref(), Some("Test User"));
}

#[test]
fn okta_put_user_drops_the_echoed_id_and_meta() {
    let doc = user(fixture("okta_put_user.json"));
    assert!(doc.get("id").is_none() && doc.get("meta").is_none());
    assert_eq!(doc["name"]["middleName"], "Excited");
}

#[test]
fn groups_from_entra_and_okta_normalise() {
    let entra = normalize(ResourceKind::Group, &fixture("entra_create_group.json")).expect("entra group");
    assert_eq!(group_fields(&entra).display_name, "displayName");
    assert_eq!(group_fields(&entra).external_id.as_deref(), Some("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
    let okta = normalize(ResourceKind::Group, &fixture("okta_create_group.json")).expect("okta group");
    assert!(group_fields(&okta).member_ids.is_empty());
}

#[test]
fn names_are_canonicalised_and_strings_become_booleans() {
    let doc = user(json!({
        "USERNAME": "a@x.io",
        "Active": "False",
        "Emails": [{"Value": "a@x.io", "Primary": "true"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Ops", "manager": "m-1"},
    }));
    assert_eq!(doc["userName"], "a@x.io");
    assert_eq!(doc["active"], false);
    assert_eq!(doc["emails"], json!([{"value": "a@x.io", "primary": true}]));
    let ext = &doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(ext["department"], "Ops");
    assert_eq!(ext["manager"], json!({"value": "m-1"}), "Entra sends the manager as its id");
    assert_eq!(doc["schemas"][1], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    assert!(!user_fields(&doc).active);
}

#[test]
fn bad_bodies_give_the_scim_type_the_rfc_names() {
    let cases = [
        (json!([]), ScimType::InvalidSyntax),
        (json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "a"}), ScimType::InvalidSyntax),
        (json!({"schemas": "urn:ietf:params:scim:schemas:core:2.0:User", "userName": "a"}), ScimType::InvalidSyntax),
        (json!({"displayName": "no user name"}), ScimType::InvalidValue),
        (json!({"userName": "  "}), ScimType::InvalidValue),
        (json!({"userName": 5}), ScimType::InvalidValue),
        (json!({"userName": "a", "active": "yes"}), ScimType::InvalidValue),
        (json!({"userName": "a", "name": "Ann"}), ScimType::InvalidValue),
        (
            json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
            ScimType::InvalidValue,
        ),
    ];
    for (body, expected) in cases {
        let err = normalize(ResourceKind::User, &body).expect_err(&body.to_string());
        assert_eq!((err.status, err.scim_type), (400, Some(expected)), "{body}: {err}");
    }
    let err = normalize(ResourceKind::User, &json!({"userName": "a", "nickName": 1})).expect_err("type");
    assert!(err.detail.contains("nickName"), "the detail names the attribute: {err}");
    let err = normalize(ResourceKind::Group, &json!({"members": []})).expect_err("group without name");
    assert_eq!(err.detail, "displayName is required");
}

#[test]
fn a_body_without_schemas_is_accepted() {
    assert!(normalize(ResourceKind::User, &json!({"userName": "a"})).is_ok());
}

#[test]
fn rendering_adds_id_meta_version_and_groups() {
    let doc = user(json!({"userName": "a", "emails": [{"value": "x@y.z"}, {"value": "p@y.z", "primary": true}]}));
    assert_eq!(user_fields(&doc).primary_email.as_deref(), Some("p@y.z"));
    let groups =
        [GroupRef { value: "g1".into(), display: Some("Ops".into()), location: Some("https://s/Groups/g1".into()) }];
    let r = render_user(&doc, &meta("u1", 7), &groups);
    assert_eq!(r["id"], "u1");
    assert_eq!(r["meta"]["version"], "W/\"7\"");
    assert_eq!(r["meta"]["resourceType"], "User");
    assert_eq!(r["meta"]["created"], "2026-01-10T08:00:00.000000Z");
    assert_eq!(r["meta"]["location"], "https://stele.example/scim/v2/t1/Users/u1");
    assert_eq!(
        r["groups"],
        json!([{"value": "g1", "$ref": "https://s/Groups/g1", "display": "Ops", "type": "direct"}])
    );
    assert!(render_user(&doc, &meta("u1", 1), &[]).get("groups").is_none());
}

#[test]
fn if_match_accepts_star_strong_and_weak_tags() {
    assert_eq!(etag(3), "W/\"3\"");
    let cases = [
        ("*", 9, true),
        ("W/\"3\"", 3, true),
        ("\"3\"", 3, true),
        ("W/\"2\", W/\"3\"", 3, true),
        ("W/\"2\"", 3, false),
        ("\"abc\"", 3, false),
        ("", 3, false),
    ];
    for (header, current, ok) in cases {
        assert_eq!(parse_if_match(header).allows(current), ok, "{header:?} vs {current}");
    }
    assert_eq!(parse_if_match("W/\"2\"").check(3).map_err(|e| e.status), Err(412));
    assert_eq!(parse_if_match("*"), IfMatch::Any);
}
