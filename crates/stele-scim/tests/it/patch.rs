//! PATCH, replaying Entra's and Okta's documented requests.

use serde_json::{json, Value};
use stele_scim::{apply_patch, normalize, PatchEffect, ResourceKind, ScimType};

use crate::common::{fixture, user};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn entra_user() -> Value {
    user(fixture("entra_create_user.json"))
}

fn group(members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    normalize(ResourceKind::Group, &json!({"displayName": "Ops", "members": members})).expect("group")
}

fn patch(doc: &mut Value, kind: ResourceKind, request: &Value) -> PatchEffect {
    apply_patch(doc, kind, request).unwrap_or_else(|e| panic!("{request}: {e}"))
}

#[test]
fn entra_replace_with_capitalised_ops_updates_the_work_email_and_family_name() {
    let mut doc = entra_user();
    let effect = patch(&mut doc, ResourceKind::User, &fixture("entra_patch_user_multi_valued.json"));
    assert!(effect.changed && !effect.deactivated);
    assert_eq!(doc["emails"], json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}]));
    assert_eq!(doc["name"]["familyName"], "updatedFamilyName");
    assert_eq!(doc["name"]["givenName"], "givenName");
}

#[test]
fn entra_single_valued_replace_changes_the_user_name() {
    let mut doc = entra_user();
    patch(&mut doc, ResourceKind::User, &fixture("entra_patch_user_single_valued.json"));
    assert_eq!(doc["userName"], "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com");
}

#[test]
fn disabling_a_user_reports_the_deactivation_whether_false_is_a_boolean_or_a_string() {
    for name in ["entra_disable_user.json", "entra_legacy_disable_user.json", "okta_deactivate_user.json"] {
        let mut doc = entra_user();
        let effect = patch(&mut doc, ResourceKind::User, &fixture(name));
        assert_eq!(doc["active"], false, "{name}");
        assert!(effect.deactivated && !effect.reactivated, "{name}");
        // Again: already inactive, nothing to end.
        let again = patch(&mut doc, ResourceKind::User, &fixture(name));
        assert!(!again.deactivated && !again.changed, "{name}");
    }
    let mut doc = entra_user();
    patch(&mut doc, ResourceKind::User, &fixture("okta_deactivate_user.json"));
    let back = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": "True"}}]});
    assert!(patch(&mut doc, ResourceKind::User, &back).reactivated);
}

#[test]
fn entra_legacy_add_sets_a_single_valued_attribute() {
    let mut doc = entra_user();
    patch(&mut doc, ResourceKind::User, &fixture("entra_legacy_add_nickname.json"));
    assert_eq!(doc["nickName"], "Babs");
}

#[test]
fn entra_legacy_replace_of_many_paths_including_a_urn_qualified_one() {
    let mut doc = entra_user();
    patch(&mut doc, ResourceKind::User, &fixture("entra_legacy_replace_multiple.json"));
    assert_eq!(doc["displayName"], "Pvlo");
    assert_eq!(doc["emails"][0]["value"], "TestBcwqnm@test.microsoft.com");
    assert_eq!(doc["name"]["givenName"], "Gtfd");
    assert_eq!(doc["externalId"], "Eqpj");
    assert_eq!(doc[ENT]["employeeNumber"], "Eqpj");
    assert_eq!(doc["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]));
}

#[test]
fn entra_no_path_replace_applies_dotted_and_urn_qualified_keys() {
    let mut doc = entra_user();
    patch(&mut doc, ResourceKind::User, &fixture("entra_compliant_replace_multiple.json"));
    assert_eq!(doc["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
    assert_eq!(doc["displayName"], "Bjfe");
    assert_eq!(doc["name"], json!({"formatted": "givenName familyName", "givenName": "Kkom", "familyName": "Unua"}));
    assert_eq!(doc[ENT]["employeeNumber"], "Aklq");
}

#[test]
fn replace_on_a_value_path_without_a_match_adds_the_value() {
    let mut doc = user(json!({"userName": "a", "emails": [{"type": "home", "value": "h@x.io"}]}));
    patch(&mut doc, ResourceKind::User, &fixture("entra_patch_user_multi_valued.json"));
    assert_eq!(
        doc["emails"],
        json!([{"type": "home", "value": "h@x.io"}, {"type": "work", "value": "updatedEmail@microsoft.com"}])
    );
    let mut bare = user(json!({"userName": "a"}));
    patch(&mut bare, ResourceKind::User, &fixture("entra_patch_user_multi_valued.json"));
    assert_eq!(bare["emails"], json!([{"type": "work", "value": "updatedEmail@microsoft.com"}]));
}

#[test]
fn entra_adds_and_removes_members_with_value_arrays() {
    let mut doc = group(&["a"]);
    let added = patch(&mut doc, ResourceKind::Group, &fixture("entra_add_members.json"));
    assert_eq!(added.members_added, vec!["f648f8d5ea4e4cd38e9c".to_string()]);
    assert_eq!(doc["members"], json!([{"value": "a"}, {"value": "f648f8d5ea4e4cd38e9c"}]), "$ref: null is dropped");
    let again = patch(&mut doc, ResourceKind::Group, &fixture("entra_add_members.json"));
    assert!(again.members_added.is_empty() && !again.changed, "members are not duplicated");
    let removed = patch(&mut doc, ResourceKind::Group, &fixture("entra_remove_members.json"));
    assert_eq!(removed.members_removed, vec!["f648f8d5ea4e4cd38e9c".to_string()]);
    assert_eq!(doc["members"], json!([{"value": "a"}]));
}

#[test]
fn entra_legacy_and_compliant_member_removals_agree() {
    let mut legacy = group(&["u1091", "x"]);
    let e = patch(&mut legacy, ResourceKind::Group, &fixture("entra_legacy_remove_member.json"));
    assert_eq!(e.members_removed, vec!["u1091".to_string()]);
    let mut compliant = group(&["7f4bc1a3-285e-48ae-8202-5accb43efb0e", "x"]);
    let e = patch(&mut compliant, ResourceKind::Group, &fixture("entra_compliant_remove_member.json"));
    assert_eq!(e.members_removed, vec!["7f4bc1a3-285e-48ae-8202-5accb43efb0e".to_string()]);
    assert_eq!(legacy, compliant);
}

#[test]
fn okta_membership_patch_removes_by_filter_and_adds() {
    let mut doc = group(&["89bb1940-b905-4575-9e7f-6f887cfb368e"]);
    let e = patch(&mut doc, ResourceKind::Group, &fixture("okta_update_membership.json"));
    assert_eq!(e.members_removed, vec!["89bb1940-b905-4575-9e7f-6f887cfb368e".to_string()]);
    assert_eq!(e.members_added, vec!["23a35c27-23d3-4c03-b4c5-6443c09e7173".to_string()]);
    assert_eq!(doc["members"], json!([{"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173"}]), "display is readOnly");
    // Removing a member that is not there is not an error (retries).
    let e = patch(&mut doc, ResourceKind::Group, &fixture("entra_compliant_remove_member.json"));
    assert!(!e.changed);
}

#[test]
fn okta_replace_members_and_rename_group() {
    let mut doc = group(&["old"]);
    let e = patch(&mut doc, ResourceKind::Group, &fixture("okta_replace_members.json"));
    assert_eq!(e.members_removed, vec!["old".to_string()]);
    assert_eq!(e.members_added.len(), 2);
    patch(&mut doc, ResourceKind::Group, &fixture("okta_rename_group.json"));
    assert_eq!(doc["displayName"], "Test SCIMv2");
    assert!(doc.get("id").is_none(), "the id in Okta's value is skipped");
    patch(&mut doc, ResourceKind::Group, &fixture("entra_patch_group_display_name.json"));
    assert_eq!(doc["displayName"], "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");
}

#[test]
fn other_path_shapes() {
    let mut doc = user(json!({"userName": "a", "emails": [{"value": "w@x.io", "type": "work", "primary": true}]}));
    let req = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    patch(
        &mut doc,
        ResourceKind::User,
        &req(json!([
            {"op": "add", "path": "emails", "value": [{"value": "h@x.io", "type": "home", "primary": true}]},
            {"op": "add", "path": ENT, "value": {"department": "Ops"}},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m1"},
            {"op": "replace", "path": "password", "value": "hunter2"},
            {"op": "add", "path": "name.givenName", "value": "Ann"},
        ])),
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "w@x.io", "type": "work"}, {"value": "h@x.io", "type": "home", "primary": true}]),
        "a new primary clears the old one"
    );
    assert_eq!(doc[ENT], json!({"department": "Ops", "manager": {"value": "m1"}}));
    assert!(doc.get("password").is_none());
    patch(
        &mut doc,
        ResourceKind::User,
        &req(json!([
            {"op": "remove", "path": "emails[type eq \"home\"]"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": ENT},
            {"op": "replace", "path": "nickName", "value": null},
        ])),
    );
    assert_eq!(doc["emails"], json!([{"value": "w@x.io", "type": "work"}]));
    assert!(doc.get("name").is_none() && doc.get(ENT).is_none());
    assert_eq!(doc["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
}

#[test]
fn every_patch_error_has_its_scim_type() {
    let op = |op: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]});
    let cases = [
        (json!({"Operations": [{"op": "add", "path": "nickName", "value": "x"}]}), ScimType::InvalidSyntax),
        (
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}),
            ScimType::InvalidSyntax,
        ),
        (op(json!({"op": "move", "path": "nickName", "value": "x"})), ScimType::InvalidSyntax),
        (op(json!({"op": "add", "path": "nickName"})), ScimType::InvalidSyntax),
        (op(json!({"op": "add", "value": "not an object"})), ScimType::InvalidSyntax),
        (op(json!({"op": "remove"})), ScimType::NoTarget),
        (op(json!({"op": "replace", "path": "emails[value co \"x\"].type", "value": "work"})), ScimType::NoTarget),
        (op(json!({"op": "remove", "path": "userName"})), ScimType::Mutability),
        (op(json!({"op": "replace", "path": "id", "value": "x"})), ScimType::Mutability),
        (op(json!({"op": "add", "path": "groups", "value": [{"value": "g"}]})), ScimType::Mutability),
        (op(json!({"op": "replace", "path": "meta.created", "value": "2026-01-01T00:00:00Z"})), ScimType::Mutability),
        (op(json!({"op": "replace", "path": "nope", "value": "x"})), ScimType::InvalidPath),
        (op(json!({"op": "replace", "path": "name.nope", "value": "x"})), ScimType::InvalidPath),
        (op(json!({"op": "replace", "path": "emails[type eq \"work\"].nope", "value": "x"})), ScimType::InvalidPath),
        (op(json!({"op": "replace", "path": "nope[type eq \"work\"]", "value": "x"})), ScimType::InvalidPath),
        (op(json!({"op": "replace", "path": "emails[type eq ]", "value": "x"})), ScimType::InvalidFilter),
        (op(json!({"op": "replace", "path": "emails[nope eq \"x\"].value", "value": "x"})), ScimType::InvalidFilter),
        (op(json!({"op": "replace", "path": "emails[type eq \"work\"", "value": "x"})), ScimType::InvalidFilter),
        (op(json!({"op": "replace", "path": "active", "value": "maybe"})), ScimType::InvalidValue),
        (op(json!({"op": "replace", "path": "userName", "value": ""})), ScimType::InvalidValue),
        (op(json!({"op": "replace", "path": "userName", "value": null})), ScimType::Mutability),
    ];
    for (request, expected) in cases {
        let mut doc = entra_user();
        let before = doc.clone();
        let err = apply_patch(&mut doc, ResourceKind::User, &request).expect_err(&request.to_string());
        assert_eq!((err.status, err.scim_type), (400, Some(expected)), "{request}: {err}");
        assert_eq!(doc, before, "a failed PATCH changes nothing: {request}");
    }
    let mut g = group(&["a"]);
    let err = apply_patch(&mut g, ResourceKind::Group, &op(json!({"op": "remove", "path": "displayName"})))
        .expect_err("required");
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
}

#[test]
fn a_failing_operation_leaves_earlier_ones_unapplied() {
    let mut doc = entra_user();
    let before = doc.clone();
    let req = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "nickName", "value": "x"},
        {"op": "remove"},
    ]});
    let err = apply_patch(&mut doc, ResourceKind::User, &req).expect_err("second op fails");
    assert!(err.detail.starts_with("Operations[1]"), "{err}");
    assert_eq!(doc, before);
}
