//! Bulk requests: checks, bulkId references, failOnErrors, the BulkResponse.

use serde_json::{json, Value};
use stele_scim::{
    BulkMethod, BulkRequest, OpOutcome, ResolvedOp, ResourceKind, ScimError, ScimType, ServiceProviderConfig,
};

fn config() -> ServiceProviderConfig {
    ServiceProviderConfig { bulk_max_operations: 5, bulk_max_payload_bytes: 10_000, ..Default::default() }
}

fn request(ops: Value, fail_on_errors: Option<u64>) -> Value {
    let mut r = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
    if let Some(n) = fail_on_errors {
        r["failOnErrors"] = json!(n);
    }
    r
}

/// Runs a plan with a fake store: POSTs create `id-<bulkId>`, operations on ids starting
/// with `missing` fail with 404. Returns the order run and the response.
fn run(body: &Value) -> (Vec<ResolvedOp>, Value) {
    let mut plan = BulkRequest::parse(body, body.to_string().len(), &config()).expect("valid bulk").plan();
    let mut ran = Vec::new();
    while let Some(op) = plan.next_op() {
        let outcome = match (&op.method, &op.id) {
            (BulkMethod::Post, _) => {
                let id = format!("id-{}", op.bulk_id.clone().unwrap_or_default());
                OpOutcome::Success {
                    location: format!("https://s/scim/v2/t1{}/{id}", op.kind.endpoint()),
                    id,
                    version: Some(1),
                    status: 201,
                }
            }
            (_, Some(id)) if id.starts_with("missing") => OpOutcome::Failure(ScimError::not_found(format!("no {id}"))),
            (m, Some(id)) => OpOutcome::Success {
                location: format!("https://s/scim/v2/t1{}/{id}", op.kind.endpoint()),
                id: id.clone(),
                version: (*m != BulkMethod::Delete).then_some(2),
                status: if *m == BulkMethod::Delete { 204 } else { 200 },
            },
            (_, None) => OpOutcome::Failure(ScimError::internal("no id")),
        };
        plan.record(&op, outcome);
        ran.push(op);
    }
    (ran, plan.response())
}

#[test]
fn a_group_refers_to_a_user_created_later_in_the_same_request() {
    let body = request(
        json!([
            {"method": "POST", "path": "/Groups", "bulkId": "ytrewq",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides",
                      "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "qwerty",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
            {"method": "PATCH", "path": "/Users/bulkId:qwerty",
             "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]}},
        ]),
        None,
    );
    let (ran, response) = run(&body);
    let order: Vec<usize> = ran.iter().map(|o| o.index).collect();
    assert_eq!(order, [1, 0, 2], "the user is created before the group that refers to it");
    assert_eq!(ran[1].kind, ResourceKind::Group);
    assert_eq!(ran[1].data.as_ref().map(|d| d["members"][0]["value"].clone()), Some(json!("id-qwerty")));
    assert_eq!(ran[2].id.as_deref(), Some("id-qwerty"));
    assert_eq!(
        response["Operations"][0],
        json!({"method": "POST", "bulkId": "qwerty", "version": "W/\"1\"", "location": "https://s/scim/v2/t1/Users/id-qwerty", "status": "201"})
    );
    assert_eq!(response["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]));
}

#[test]
fn unresolvable_and_circular_references_fail_with_409() {
    let body = request(
        json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "A", "members": [{"value": "bulkId:g2"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "g2", "data": {"displayName": "B", "members": [{"value": "bulkId:g1"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "g3", "data": {"displayName": "C", "members": [{"value": "bulkId:nobody"}]}},
            {"method": "DELETE", "path": "/Users/u9"},
        ]),
        None,
    );
    let (ran, response) = run(&body);
    assert_eq!(ran.iter().map(|o| o.index).collect::<Vec<_>>(), [3], "only the DELETE can run");
    let statuses: Vec<(&str, &str)> = response["Operations"]
        .as_array()
        .map(|ops| {
            ops.iter().map(|o| (o["bulkId"].as_str().unwrap_or("-"), o["status"].as_str().unwrap_or(""))).collect()
        })
        .unwrap_or_default();
    assert_eq!(
        statuses,
        [("g3", "409"), ("-", "204"), ("g1", "409"), ("g2", "409")],
        "ready operations run before a cycle is broken"
    );
    assert_eq!(response["Operations"][0]["response"]["scimType"], "invalidValue");
}

#[test]
fn fail_on_errors_stops_after_that_many_errors() {
    let ops = json!([
        {"method": "DELETE", "path": "/Users/missing-1"},
        {"method": "DELETE", "path": "/Users/missing-2"},
        {"method": "DELETE", "path": "/Users/u3"},
    ]);
    let (ran, response) = run(&request(ops.clone(), Some(1)));
    assert_eq!(ran.len(), 1);
    assert_eq!(response["Operations"][0]["status"], "404");
    assert_eq!(response["Operations"][0]["response"]["status"], "404");
    let (ran, _) = run(&request(ops.clone(), Some(2)));
    assert_eq!(ran.len(), 2);
    let (ran, _) = run(&request(ops, None));
    assert_eq!(ran.len(), 3);
}

#[test]
fn a_failed_post_fails_what_refers_to_it() {
    let body = request(
        json!([
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "x"}},
            {"method": "PATCH", "path": "/Groups/missing-g", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}},
        ]),
        None,
    );
    let (ran, _) = run(&body);
    assert_eq!(ran.len(), 2);
    let mut plan = BulkRequest::parse(
        &request(
            json!([
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "x"}},
                {"method": "PUT", "path": "/Users/bulkId:u", "data": {"userName": "y"}},
            ]),
            None,
        ),
        0,
        &config(),
    )
    .expect("valid")
    .plan();
    let first = plan.next_op().expect("post");
    plan.record(&first, OpOutcome::Failure(ScimError::uniqueness("taken")));
    assert!(plan.next_op().is_none());
    let response = plan.response();
    assert_eq!(response["Operations"][1]["status"], "409");
    assert_eq!(response["Operations"][1]["response"]["detail"], "bulkId \"u\" was not created");
}

#[test]
fn malformed_bulk_requests_are_refused_whole() {
    let post = json!({"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "a"}});
    let six: Vec<Value> = (0..6).map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")})).collect();
    let cases: Vec<(Value, usize, u16, Option<ScimType>)> = vec![
        (request(Value::Array(six), None), 100, 413, Some(ScimType::TooMany)),
        (request(json!([post]), None), 10_001, 413, None),
        (json!({"Operations": [post]}), 100, 400, Some(ScimType::InvalidSyntax)),
        (request(json!([]), None), 100, 400, Some(ScimType::InvalidSyntax)),
        (request(json!([{"method": "GET", "path": "/Users/a"}]), None), 100, 400, Some(ScimType::InvalidSyntax)),
        (
            request(json!([{"method": "POST", "path": "/Users", "data": {}}]), None),
            100,
            400,
            Some(ScimType::InvalidSyntax),
        ),
        (
            request(json!([{"method": "POST", "path": "/Users/x", "bulkId": "b", "data": {}}]), None),
            100,
            400,
            Some(ScimType::InvalidSyntax),
        ),
        (
            request(json!([{"method": "PATCH", "path": "/Users", "data": {}}]), None),
            100,
            400,
            Some(ScimType::InvalidSyntax),
        ),
        (request(json!([{"method": "PUT", "path": "/Users/x"}]), None), 100, 400, Some(ScimType::InvalidSyntax)),
        (request(json!([{"method": "DELETE", "path": "/Widgets/x"}]), None), 100, 400, Some(ScimType::InvalidSyntax)),
        (request(json!([post, post]), None), 100, 400, Some(ScimType::InvalidSyntax)),
        (request(json!([post]), Some(0)), 100, 400, Some(ScimType::InvalidSyntax)),
    ];
    for (body, size, status, scim_type) in cases {
        let err = BulkRequest::parse(&body, size, &config()).expect_err(&body.to_string());
        assert_eq!((err.status, err.scim_type), (status, scim_type), "{body}: {err}");
    }
}
