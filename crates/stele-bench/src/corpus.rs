//! A generated, realistic corpus: actors, targets, context and request bodies of ~0.5-1 KiB.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const ACTIONS: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "user.login",
    "user.logout",
    "group.created",
    "group.member_added",
    "setting.changed",
    "apikey.created",
    "apikey.revoked",
    "scim.CreateUser",
    "scim.UpdateUser",
    "scim.ListUsers",
    "invoice.paid",
    "project.archived",
    "role.assigned",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `n` events as JSON values, deterministic for a seed.
pub fn events(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|i| event(&mut rng, i)).collect()
}

fn word(rng: &mut StdRng, len: usize) -> String {
    (0..len).map(|_| char::from(b'a' + rng.gen_range(0..26))).collect()
}

fn event(rng: &mut StdRng, i: usize) -> Value {
    let actor = rng.gen_range(0..1000);
    let target = rng.gen_range(0..5000);
    let action = ACTIONS[rng.gen_range(0..ACTIONS.len())];
    let method = METHODS[rng.gen_range(0..METHODS.len())];
    let status = if rng.gen_bool(0.9) { "success" } else { "failure" };
    let code = if status == "success" { 200 } else { 400 + rng.gen_range(0..30) };
    let attributes: serde_json::Map<String, Value> = (0..rng.gen_range(6..14))
        .map(|k| {
            let len = rng.gen_range(8..32);
            (format!("attr_{k}"), json!(word(rng, len)))
        })
        .collect();
    json!({
        "action": action,
        "status": status,
        "message": format!("{action} by user{actor} on target {target}: {}", word(rng, 24)),
        "actor": {"type": "user", "id": format!("u_{actor}"), "name": format!("User {actor}"),
                  "email": format!("user{actor}@example.com"), "ip": format!("10.{}.{}.{}", actor % 256, target % 256, i % 256),
                  "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
        "origin": "api",
        "targets": [{"type": "User", "id": format!("t_{target}"), "name": format!("Target {target}"), "email": format!("t{target}@example.com")}],
        "context": {"product_id": format!("prod_{}", actor % 7), "environment_id": format!("env_{}", target % 3), "region": "eu-west-1"},
        "request": {"id": format!("req_{i}"), "method": method, "path": format!("/api/v1/users/t_{target}"),
                    "status_code": code, "query": {"expand": "groups"},
                    "body": {"userName": format!("t{target}"), "attributes": attributes, "password": "hunter2"},
                    "response_body": {"id": format!("t_{target}"), "ok": status == "success"}},
        "correlation_id": format!("corr-{}", word(rng, 12)),
        "metadata": {"sdk": "stele-bench", "sequence": i}
    })
}
