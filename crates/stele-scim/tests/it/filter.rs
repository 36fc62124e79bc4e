//! SCIM filters: parsing through stele-core's parser, matching, index lookups.

use serde_json::{json, Value};
use stele_scim::{Lookup, ResourceKind, ScimFilter, ScimType};

use crate::common::{fixture, rendered_group, rendered_user};

fn alice() -> Value {
    rendered_user(json!({
        "userName": "Test_User_Alice",
        "externalId": "Ext-1",
        "displayName": "Alice Liddell",
        "active": true,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [
            {"value": "alice@Example.com", "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Research"},
    }))
}

fn parse(text: &str) -> ScimFilter {
    ScimFilter::parse(text, ResourceKind::User).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Filters with whether they match `alice()` (meta.lastModified is 2026-02-01T12:30:00Z).
const MATCHES: &[(&str, bool)] = &[
    (r#"userName eq "Test_User_Alice""#, true),
    (r#"userName eq "test_user_alice""#, true),
    (r#"USERNAME EQ "TEST_USER_ALICE""#, true),
    (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "test_user_alice""#, true),
    (r#"userName ne "test_user_alice""#, false),
    (r#"userName sw "test_""#, true),
    (r#"userName ew "ALICE""#, true),
    (r#"userName co "user""#, true),
    (r#"userName gt "Test_User_A""#, true),
    (r#"userName lt "test_user_b""#, true),
    (r#"externalId eq "Ext-1""#, true),
    (r#"externalId eq "ext-1""#, false),
    (r#"id eq "u1""#, true),
    (r#"id eq "U1""#, false),
    (r#"emails[type eq "work" and value co "@example.com"]"#, true),
    (r#"emails[type eq "home" and value co "@example.com"]"#, false),
    (r#"emails[type eq "work" and primary eq true]"#, true),
    (r#"emails[type eq "other"]"#, false),
    (r#"emails.value eq "ALICE@home.example""#, true),
    (r#"emails eq "alice@home.example""#, true),
    (r#"emails.type eq "home""#, true),
    (r#"emails co "nowhere""#, false),
    (r#"meta.lastModified gt "2026-01-31T00:00:00Z""#, true),
    (r#"meta.lastModified gt "2026-02-01T12:30:00Z""#, false),
    (r#"meta.lastModified ge "2026-02-01T12:30:00+00:00""#, true),
    (r#"meta.created lt "2026-01-10T08:00:00.000001Z""#, true),
    (r#"meta.resourceType eq "User""#, true),
    (r#"name.familyName eq "liddell""#, true),
    (r#"name.middleName pr"#, false),
    (r#"title pr"#, false),
    (r#"not (title pr)"#, true),
    (r#"not title pr"#, true),
    (r#"not userName eq "x""#, true),
    (r#"displayName pr and active eq true"#, true),
    (r#"active eq false or userName eq "nope""#, false),
    (r#"active ne false"#, true),
    (r#"nickName eq null"#, true),
    (r#"userName ne null"#, true),
    (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "research""#, true),
    (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr"#, false),
    (r#"(userName eq "a" or userName eq "test_user_alice") and emails[type eq "work"]"#, true),
];

#[test]
fn filters_match_with_scim_semantics() {
    let alice = alice();
    for (text, expected) in MATCHES {
        assert_eq!(parse(text).matches(&alice), *expected, "{text}");
    }
}

#[test]
fn group_filters_match_members_exactly_and_names_case_insensitively() {
    let doc = stele_scim::normalize(
        ResourceKind::Group,
        &json!({"displayName": "Test SCIMv2", "members": [{"value": "abc"}]}),
    )
    .expect("group");
    let g = rendered_group(&doc);
    for (text, expected) in [
        (r#"displayName eq "test scimv2""#, true),
        (r#"members[value eq "abc"]"#, true),
        (r#"members eq "ABC""#, false),
        (r#"members.value eq "abc""#, true),
    ] {
        let f = ScimFilter::parse(text, ResourceKind::Group).expect(text);
        assert_eq!(f.matches(&g), expected, "{text}");
    }
}

#[test]
fn vendor_lookups_push_down_to_an_index() {
    let cases = [
        (
            r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
            Some(Lookup::UserName("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee".into())),
        ),
        (r#"userName eq "test.user@okta.local""#, Some(Lookup::UserName("test.user@okta.local".into()))),
        (
            r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
            Some(Lookup::ExternalId("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef".into())),
        ),
        (r#"id eq "u1" and userName eq "a""#, Some(Lookup::Id("u1".into()))),
        (r#"active eq true and userName eq "a""#, Some(Lookup::UserName("a".into()))),
        (r#"userName eq "a" or userName eq "b""#, None),
        (r#"not userName eq "a""#, None),
        (r#"userName ne "a""#, None),
        (r#"emails[value eq "a"]"#, None),
        (r#"name.givenName eq "a""#, None),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).lookup(), expected, "{text}");
    }
    let g = ScimFilter::parse(r#"displayName eq "Test SCIMv2""#, ResourceKind::Group).expect("group filter");
    assert_eq!(g.lookup(), Some(Lookup::DisplayName("Test SCIMv2".into())));
    assert!(!Lookup::UserName("a".into()).case_exact() && Lookup::ExternalId("a".into()).case_exact());
    // A lookup only narrows: the candidate is still checked.
    let f = parse(r#"userName eq "test_user_alice" and active eq false"#);
    assert!(f.lookup().is_some() && !f.matches(&alice()));
    assert!(!fixture("okta_create_user.json").is_null());
}

#[test]
fn bad_filters_are_invalid_filter_with_position() {
    let cases = [
        (r#"nope eq "x""#, r#"filter: unknown attribute "nope" at 1"#),
        (r#"userName eq"#, "filter: expected a value (a string, number, true, false or null) at 12"),
        (r#"emails[nope eq "x"]"#, r#"filter: unknown attribute "nope" in emails at 8"#),
        (r#"emails[type eq "x""#, r#"filter: expected "]" at 19"#),
        (r#"emails[type eq "x"] eq "y""#, "filter: expected end of filter at 21"),
        (r#"userName[type eq "x"]"#, "filter: userName has no sub-attributes to filter on at 10"),
        (r#"emails[type eq "a" and emails[type eq "b"]]"#, "filter: unknown attribute \"emails\" in emails at 24"),
        (r#"active eq "true""#, "filter: active compares only with true or false at 11"),
        (r#"active gt true"#, "filter: active supports only eq, ne and pr at 8"),
        (
            r#"meta.created gt "yesterday""#,
            "filter: meta.created compares only with an RFC 3339 date-time string at 17",
        ),
        (r#"meta.created co "2026""#, "filter: co cannot be used with meta.created at 14"),
        (r#"userName eq 5"#, "filter: userName compares only with a string at 13"),
        (r#"name eq "x""#, "filter: name is a complex attribute: compare one of its sub-attributes at 6"),
        (r#"userName gt null"#, "filter: gt cannot compare with null at 13"),
        ("", "filter: empty filter at 1"),
    ];
    for (text, detail) in cases {
        let err = ScimFilter::parse(text, ResourceKind::User).expect_err(text);
        assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidFilter)), "{text}");
        assert_eq!(err.detail, detail, "{text}");
    }
}

#[test]
fn filters_obey_stele_core_bounds() {
    let long = format!(r#"userName eq "{}""#, "x".repeat(5000));
    assert!(ScimFilter::parse(&long, ResourceKind::User).is_err());
    let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
    let err = ScimFilter::parse(&deep, ResourceKind::User).expect_err("too deep");
    assert!(err.detail.contains("nested deeper than 32 levels"), "{err}");
    let many = vec!["id pr"; 300].join(" or ");
    let err = ScimFilter::parse(&many, ResourceKind::User).expect_err("too many terms");
    assert!(err.detail.contains("more than 256 comparisons"), "{err}");
}

mod props {
    use proptest::prelude::*;
    use serde_json::json;
    use stele_scim::{ResourceKind, ScimFilter};

    use crate::common::rendered_user;

    proptest! {
        /// `userName eq` matches whatever the case of either side (caseExact=false), and
        /// `not` always inverts.
        #[test]
        fn user_name_eq_ignores_case(name in "[A-Za-z0-9_.@-]{1,24}", flips in proptest::collection::vec(any::<bool>(), 24)) {
            let query: String = name.chars().zip(flips.iter().cycle()).map(|(c, f)| if *f { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect();
            let user = rendered_user(json!({"userName": name}));
            let f = ScimFilter::parse(&format!("userName eq {}", serde_json::to_string(&query).expect("json")), ResourceKind::User).expect("filter");
            prop_assert!(f.matches(&user));
            let not = ScimFilter::parse(&format!("not (userName eq {})", serde_json::to_string(&query).expect("json")), ResourceKind::User).expect("filter");
            prop_assert!(!not.matches(&user));
        }

        /// The parser never panics on filter-like text.
        #[test]
        fn parsing_never_panics(text in r#"[a-zA-Z.:\[\]() "=0-9]{0,60}"#) {
            let _ = ScimFilter::parse(&text, ResourceKind::User);
            let _ = ScimFilter::parse(&text, ResourceKind::Group);
        }
    }
}
