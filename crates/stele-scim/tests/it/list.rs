//! List parameters, sorting and the ListResponse.

use serde_json::{json, Value};
use stele_scim::list::{sort_key, sort_resources, SortKey};
use stele_scim::{list_response, ListParams, ListQuery, ResourceKind, ScimType, SortOrder};

use crate::common::rendered_user;

fn params(q: ListQuery<'_>) -> Result<ListParams, stele_scim::ScimError> {
    ListParams::parse(ResourceKind::User, &q, 100)
}

#[test]
fn paging_parameters_are_clamped_as_rfc_7644_says() {
    let cases: &[(Option<&str>, Option<&str>, usize, usize)] = &[
        (None, None, 1, 100),
        (Some("1"), Some("100"), 1, 100),
        (Some("0"), Some("10"), 1, 10),
        (Some("-5"), Some("-1"), 1, 0),
        (Some("21"), Some("1000"), 21, 100),
        (Some(" 3 "), Some("0"), 3, 0),
        (
            Some("99999999999999999999999"),
            Some("99999999999999999999999"),
            usize::try_from(i64::MAX).unwrap_or(usize::MAX),
            100,
        ),
    ];
    for (start, count, want_start, want_count) in cases {
        let p = params(ListQuery { start_index: *start, count: *count, ..Default::default() }).expect("valid");
        assert_eq!((p.start_index, p.count), (*want_start, *want_count), "{start:?} {count:?}");
    }
    assert_eq!(params(ListQuery { start_index: Some("21"), ..Default::default() }).map(|p| p.offset()).ok(), Some(20));
    for (start, count) in [(Some("one"), None), (None, Some("1.5")), (None, Some(""))] {
        let err = params(ListQuery { start_index: start, count, ..Default::default() }).expect_err("not a number");
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    }
}

#[test]
fn sort_and_attribute_parameters() {
    let p = params(ListQuery {
        filter: Some(r#"userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081""#),
        sort_by: Some("NAME.familyName"),
        sort_order: Some("DESCENDING"),
        attributes: Some("userName, emails.value,,"),
        excluded_attributes: Some("members"),
        ..Default::default()
    })
    .expect("valid");
    assert!(p.filter.is_some());
    assert_eq!(p.sort_by.map(|s| s.canonical()), Some("name.familyName".into()));
    assert_eq!(p.sort_order, SortOrder::Descending);
    assert_eq!(p.attributes, vec!["userName".to_string(), "emails.value".to_string()]);
    assert_eq!(p.excluded_attributes, vec!["members".to_string()]);
    for q in [
        ListQuery { sort_by: Some("nope"), ..Default::default() },
        ListQuery { sort_order: Some("up"), ..Default::default() },
    ] {
        assert_eq!(params(q).expect_err("bad").scim_type, Some(ScimType::InvalidValue));
    }
    let bad_filter = params(ListQuery { filter: Some("userName eq"), ..Default::default() }).expect_err("bad filter");
    assert_eq!(bad_filter.scim_type, Some(ScimType::InvalidFilter));
}

#[test]
fn search_bodies_give_the_same_parameters() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["displayName", "userName"],
        "excludedAttributes": [],
        "filter": "displayName sw \"smith\"",
        "startIndex": 1,
        "count": 10
    });
    let p = ListParams::from_search_body(ResourceKind::User, &body, 100).expect("search body");
    assert_eq!((p.start_index, p.count), (1, 10));
    assert_eq!(p.attributes, vec!["displayName".to_string(), "userName".to_string()]);
    assert!(p.filter.is_some());
    let wrong = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]});
    assert_eq!(
        ListParams::from_search_body(ResourceKind::User, &wrong, 100).expect_err("schema").scim_type,
        Some(ScimType::InvalidSyntax)
    );
}

#[test]
fn sorting_follows_attribute_rules_and_puts_missing_values_last() {
    let mk = |name: &str, family: Option<&str>| -> Value {
        let mut body = json!({"userName": name});
        if let Some(f) = family {
            body["name"] = json!({"familyName": f});
        }
        rendered_user(body)
    };
    let mut users = vec![mk("c", Some("beta")), mk("a", None), mk("b", Some("Alpha")), mk("d", Some("gamma"))];
    let path = stele_scim::schema::resolve(ResourceKind::User, "name.familyName").expect("path");
    sort_resources(&mut users, &path, SortOrder::Ascending);
    let names: Vec<&str> = users.iter().filter_map(|u| u["userName"].as_str()).collect();
    assert_eq!(names, ["b", "c", "d", "a"]);
    sort_resources(&mut users, &path, SortOrder::Descending);
    let names: Vec<&str> = users.iter().filter_map(|u| u["userName"].as_str()).collect();
    assert_eq!(names, ["d", "c", "b", "a"]);
    let emails = stele_scim::schema::resolve(ResourceKind::User, "emails").expect("path");
    let u = rendered_user(json!({"userName": "x", "emails": [{"value": "Z@x"}, {"value": "a@x", "primary": true}]}));
    assert_eq!(sort_key(&u, &emails), Some(SortKey::Text("a@x".into())));
}

#[test]
fn list_response_counts_the_page() {
    let r = list_response(3, 2, vec![json!({"id": "a"})]);
    assert_eq!(
        r,
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 3, "startIndex": 2, "itemsPerPage": 1, "Resources": [{"id": "a"}]
        })
    );
    assert_eq!(list_response(0, 1, vec![])["Resources"], json!([]));
}
