//! `attributes` / `excludedAttributes`.

use serde_json::json;
use stele_scim::{project, ResourceKind};

use crate::common::{rendered_group, rendered_user};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn attributes_keep_only_what_is_asked_plus_id_and_schemas() {
    let u = rendered_user(json!({
        "userName": "a", "displayName": "A", "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"value": "a@x", "type": "work"}],
        ENT: {"department": "Ops", "costCenter": "7"},
    }));
    let p = project(&u, ResourceKind::User, &names(&["USERNAME", "name.givenName", "emails.value", "nope"]), &[]);
    assert_eq!(
        p,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u1",
            "userName": "a",
            "name": {"givenName": "Ann"},
            "emails": [{"value": "a@x"}],
        })
    );
    let p = project(&u, ResourceKind::User, &names(&[&format!("{ENT}:department")]), &[]);
    assert_eq!(p[ENT], json!({"department": "Ops"}));
    assert_eq!(p["schemas"][1], ENT);
    let p = project(&u, ResourceKind::User, &names(&[ENT]), &[]);
    assert_eq!(p[ENT], json!({"department": "Ops", "costCenter": "7"}));
}

#[test]
fn excluded_attributes_remove_but_never_the_id() {
    let doc = stele_scim::normalize(ResourceKind::Group, &json!({"displayName": "G", "members": [{"value": "m"}]}))
        .expect("group");
    let g = rendered_group(&doc);
    let p = project(&g, ResourceKind::Group, &[], &names(&["members", "id"]));
    assert!(p.get("members").is_none(), "Entra reads groups with excludedAttributes=members");
    assert_eq!(p["id"], "g1");
    assert_eq!(p["displayName"], "G");
    let u = rendered_user(
        json!({"userName": "a", "emails": [{"value": "a@x", "type": "work"}], ENT: {"department": "Ops"}}),
    );
    let p = project(&u, ResourceKind::User, &[], &names(&["emails.type", ENT, "meta"]));
    assert_eq!(p["emails"], json!([{"value": "a@x"}]));
    assert!(p.get(ENT).is_none() && p.get("meta").is_none());
    assert_eq!(p["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
    assert_eq!(project(&u, ResourceKind::User, &[], &[]), u);
}
