//! The data-driven filter table: a fixed fixture of events and, for each filter, the exact
//! set of events it must select. Every backend runs it through `conformance_tests!`.
//!
//! Each fixture event carries a unique label in `correlation_id` (`e01`..`e20`); the
//! tenant's own `stele.tenant.created` event has none and shows as `-`. A second tenant,
//! `other`, holds a relabelled copy of the fixture (labels `x..`) at different `seq`s, so
//! any leak across tenants shows up as a foreign label or a duplicate.
//!
//! Semantics pinned here (from `stele_core::filter` and the SQLite compiler):
//! - `eq ne co sw ew` are case-insensitive with ASCII folding only: `"ZOË"` does not
//!   match a stored `"Zoë"` (SQLite `NOCASE`/`LIKE` fold only A-Z); `"ZOë"` does.
//! - `gt ge lt le` on strings compare in binary (code point) order, as `filter/mod.rs` says.
//! - `target.*` matches when any target matches, each comparison on its own (two
//!   comparisons may be satisfied by different targets); `target.x ne v` means "some target
//!   has an x other than v", so it never matches an event without targets.
//! - `context.<key>` is single-valued: `ne` and `not` count a missing key as "not equal";
//!   the key is case-sensitive (kept exactly as written), its value is not.
//! - `metadata.<path>` compares with the JSON value at that path: numbers numerically,
//!   strings case-insensitively, booleans only with booleans; the path is case-sensitive;
//!   a JSON `null` counts as absent (`pr` is false, `eq null` true).
//! - `not`, `ne` and `eq null` over a missing attribute select the events missing it.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};
use stele_core::{
    parse_ingest_body, Filter, Limit, Limits, NewEvent, PageRequest, Query, TenantId, TimeRange, Timestamp, ViewFilter,
};

use crate::{NewTenant, Store};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("RFC 3339 timestamp")
}

/// One fixture event: `body` plus its label as `correlation_id`, received at
/// `received_at` (default: its own `time`).
fn labelled(label: Option<&str>, received_at: Option<&str>, mut body: Value) -> NewEvent {
    let time = body["time"].as_str().expect("fixture events have a time").to_owned();
    if let Some(label) = label {
        body["correlation_id"] = Value::from(label);
    }
    let now = ts(received_at.unwrap_or(&time));
    let mut parsed =
        parse_ingest_body(body.to_string().as_bytes(), &Limits::default(), now).expect("valid fixture event");
    parsed.events.remove(0)
}

/// The tenant's creation event, shaped like the server's audit events.
fn creation_event(tenant: &str, label: Option<&str>) -> NewEvent {
    labelled(
        label,
        None,
        json!({
            "time": "2024-02-28T00:00:00Z",
            "action": "stele.tenant.created",
            "origin": "api",
            "message": format!("Created tenant {tenant}"),
            "actor": {"type": "admin", "id": "root"},
            "targets": [{"type": "Tenant", "id": tenant}]
        }),
    )
}

/// `(label, received_at, body)`; times are spread over 2024-03-01..04 with ties.
fn fixture() -> Vec<(&'static str, Option<&'static str>, Value)> {
    vec![
        (
            "e01",
            None,
            json!({
                "time": "2024-03-01T09:00:00Z", "action": "user.created", "status": "success", "origin": "user",
                "actor": {"type": "user", "id": "u_1", "name": "Ana Silva", "email": "ana@acme.io", "ip": "10.0.0.1"},
                "targets": [{"type": "User", "id": "u_7", "name": "Bob Stone", "email": "bob@acme.io"}],
                "context": {"env": "prod", "region": "eu", "region.zone": "eu-west-1a"},
                "request": {"id": "req-1", "method": "post", "path": "/v1/users", "status_code": 201},
                "message": "Created user Bob",
                "metadata": {"plan": "pro", "seats": 5, "trial": false, "billing": {"tier": "gold", "cycle": "annual"}}
            }),
        ),
        (
            "e02",
            None,
            json!({
                "time": "2024-03-01T09:00:00Z", "action": "User.Created", "status": "success", "origin": "api",
                "actor": {"type": "service", "id": "svc_ci", "name": "CI Bot"},
                "targets": [{"type": "User", "id": "u_8", "email": "carol@example.com"}],
                "context": {"env": "staging"},
                "request": {"id": "req-2", "method": "POST", "path": "/v1/users", "status_code": 201},
                "message": "Created user via API",
                "metadata": {"plan": "Pro", "seats": 10}
            }),
        ),
        (
            "e03",
            None,
            json!({
                "time": "2024-03-01T17:30:00Z", "action": "user.deleted", "status": "failure", "origin": "user",
                "actor": {"type": "user", "id": "u_2", "name": "Zoë", "email": "zoe@acme.io", "ip": "2001:db8::1"},
                "targets": [{"type": "User", "id": "u_7", "name": "Bob Stone"}],
                "context": {"env": "prod", "region": "us"},
                "request": {"id": "req-3", "method": "DELETE", "path": "/v1/users/u_7", "status_code": 403},
                "message": "Delete refused: 100% of quota used",
                "reason": "permission denied"
            }),
        ),
        (
            "e04",
            None,
            json!({
                "time": "2024-03-02T08:00:00Z", "action": "user.login", "status": "success", "origin": "user",
                "actor": {"type": "user", "id": "u_1", "name": "Ana Silva", "email": "ana@acme.io", "ip": "10.0.0.1"},
                "context": {"env": "prod"},
                "request": {"method": "GET", "path": "/login", "status_code": 200},
                "message": "Login ok",
                "metadata": {"mfa": true, "method": "totp"}
            }),
        ),
        (
            "e05",
            None,
            json!({
                "time": "2024-03-02T08:00:00Z", "action": "user.login", "status": "failure", "origin": "user",
                "actor": {"type": "user", "id": "u_3", "email": "dave@acme.io"},
                "context": {"env": "prod"},
                "request": {"method": "GET", "path": "/login", "status_code": 401},
                "message": "Login failed for dave_x",
                "reason": "bad password",
                "metadata": {"mfa": false, "attempts": 3}
            }),
        ),
        (
            "e06",
            None,
            json!({
                "time": "2024-03-02T12:00:00Z", "action": "group.member.added", "status": "success", "origin": "api",
                "actor": {"type": "service", "id": "svc_sync", "name": "Sync"},
                "targets": [
                    {"type": "Group", "id": "g_1", "name": "Admins"},
                    {"type": "User", "id": "u_7", "name": "Bob Stone", "email": "bob@acme.io"}
                ],
                "context": {"env": "prod", "region.zone": "us-east-1b"},
                "message": "Added Bob to Admins",
                "metadata": {"source": {"system": "scim", "version": 2}, "count": 1}
            }),
        ),
        (
            "e07",
            None,
            json!({
                "time": "2024-03-02T23:59:59Z", "action": "group.member.removed",
                "status": "warning", "origin": "system",
                "targets": [
                    {"type": "Group", "id": "g_2", "name": "Billing"},
                    {"type": "User", "id": "u_9", "email": "eve@example.com"},
                    {"type": "Device", "id": "d_1"}
                ],
                "context": {"job": "cleanup"},
                "message": "Removed 3 stale members"
            }),
        ),
        (
            "e08",
            None,
            json!({
                "time": "2024-03-03T00:00:00Z", "action": "export.started", "status": "pending", "origin": "system",
                "message": "Export 50% done",
                "metadata": {"format": "csv"}
            }),
        ),
        (
            "e09",
            None,
            json!({
                "time": "2024-03-03T06:00:00Z", "action": "export.finished", "status": "success", "origin": "system",
                "message": "Exported 500 rows to s3_bucket",
                "metadata": {"rows": 500, "ratio": 0.75, "format": "csv", "note": null}
            }),
        ),
        (
            "e10",
            None,
            json!({
                "time": "2024-03-03T06:00:00Z", "action": "settings.updated", "status": "success", "origin": "user",
                "actor": {"type": "user", "id": "u_2", "name": "Zoë", "email": "Zoe@Acme.IO"},
                "targets": [{"type": "Setting", "id": "label"}],
                "context": {"env": "prod"},
                "request": {"id": "req-10", "method": "patch", "path": "/v1/settings", "status_code": 200},
                "message": "Set label to \"beta\"",
                "reason": "path C:\\temp\\new",
                "metadata": {"changes": {"field": "label", "old": "alpha", "new": "beta"}, "size": "large"}
            }),
        ),
        (
            "e11",
            None,
            json!({
                "time": "2024-03-03T12:00:00Z", "action": "api.key.created", "status": "success", "origin": "api",
                "actor": {"type": "user", "id": "u_1", "name": "Ana Silva", "email": "ana@acme.io"},
                "targets": [{"type": "ApiKey", "id": "k_1", "name": "ci-key"}],
                "context": {"env": "prod", "ip_country": "PT"},
                "request": {"id": "req-11", "method": "POST", "path": "/v1/keys", "status_code": 201},
                "message": "Key created",
                "metadata": {"size": 10}
            }),
        ),
        (
            "e12",
            None,
            json!({
                "time": "2024-03-03T12:00:00Z", "action": "export.queued", "status": "pending", "origin": "api",
                "actor": {"type": "service", "id": "svc_ci", "name": "CI Bot"},
                "message": "Export_job queued",
                "metadata": {"size": true}
            }),
        ),
        (
            "e13",
            Some("2024-03-04T08:00:05Z"),
            json!({
                "time": "2024-03-04T10:00:00+02:00", "action": "session.revoked", "status": "success", "origin": "user",
                "actor": {
                    "type": "user", "id": "u_4", "name": "Dev \u{1F600}", "email": "dev@acme.io", "ip": "192.168.1.20"
                },
                "targets": [{"type": "Session", "id": "s_1"}],
                "context": {"env": "prod"},
                "request": {"id": "req-13", "method": "DELETE", "path": "/v1/sessions/s_1", "status_code": 204},
                "message": "Revoked C:\\Users\\dev token"
            }),
        ),
        (
            "e14",
            None,
            json!({
                "time": "2024-03-04T12:00:00Z", "action": "billing.invoice.paid", "status": "success", "origin": "api",
                "actor": {"type": "service", "id": "stripe"},
                "targets": [{"type": "Invoice", "id": "inv_100", "name": "Invoice #100"}],
                "context": {"env": "prod", "region": "eu"},
                "request": {
                    "id": "req-14", "method": "PUT", "path": "/v1/billing/invoices/inv_100", "status_code": 200
                },
                "metadata": {"amount": 1999, "currency": "EUR", "paid": true, "billing": {"tier": "silver"}}
            }),
        ),
        (
            "e15",
            None,
            json!({
                "time": "2024-03-04T12:00:00Z", "action": "billing.invoice.failed",
                "status": "failure", "origin": "api",
                "actor": {"type": "service", "id": "stripe"},
                "targets": [{"type": "Invoice", "id": "inv_101"}],
                "context": {"env": "prod"},
                "request": {"method": "PUT", "path": "/v1/billing/invoices/inv_101", "status_code": 502},
                "reason": "card_declined",
                "metadata": {"amount": 25.5, "currency": "usd", "paid": false, "retry": null}
            }),
        ),
        (
            "e16",
            None,
            json!({
                "time": "2024-03-04T13:00:00Z", "action": "user.updated", "status": "success", "origin": "user",
                "actor": {"id": "u_1", "email": "ana@acme.io"},
                "targets": [{"type": "user", "id": "U_7"}],
                "context": {"Tier": "gold"}
            }),
        ),
        (
            "e17",
            None,
            json!({
                "time": "2024-03-04T23:00:00Z", "action": "user.created", "status": "success", "origin": "user",
                "actor": {"type": "user", "id": "u_5", "name": "Frank", "email": "frank@example.com", "ip": "10.0.0.2"},
                "targets": [{"type": "User", "id": "u_10", "name": "Grace", "email": "grace@acme.io"}],
                "context": {"env": "prod", "region": "eu", "region.zone": "eu-west-1b"},
                "request": {"id": "req-17", "method": "POST", "path": "/v1/users", "status_code": 201},
                "message": "Created user Grace",
                "metadata": {"plan": "free", "seats": 1, "trial": true}
            }),
        ),
        (
            "e18",
            Some("2024-03-05T00:00:00Z"),
            json!({
                "time": "2024-03-01T00:00:00Z", "action": "admin.impersonation", "status": "warning", "origin": "user",
                "actor": {"type": "admin", "id": "u_6", "name": "O'Brien", "email": "obrien@acme.io"},
                "targets": [{"type": "User", "id": "u_1", "name": "Ana Silva", "email": "ana@acme.io"}],
                "context": {"env": "prod"},
                "message": "Impersonated ana",
                "reason": "support ticket #42"
            }),
        ),
        (
            "e19",
            None,
            json!({
                "time": "2024-03-03T12:00:00Z", "action": "data.exported", "status": "success", "origin": "api",
                "actor": {"type": "service", "id": "svc_ci", "name": "CI Bot"},
                "request": {"id": "req-19"}
            }),
        ),
        ("e20", None, json!({"time": "2024-03-02T12:00:00Z", "action": "ping"})),
    ]
}

/// `(filter, expected labels)`. Expected is space-separated labels, or `all` / `all but
/// <labels>` (all 21 events of `acme`, `-` being the creation event), or empty for none.
const TABLE: &[(&str, &str)] = &[
    // --- action, eventType alias, case rules, each string operator ---
    (r#"action eq "user.created""#, "e01 e02 e17"),
    (r#"ACTION EQ "USER.CREATED""#, "e01 e02 e17"),
    (r#"eventType eq "user.login""#, "e04 e05"),
    (r#"action ne "user.created""#, "all but e01 e02 e17"),
    (r#"action sw "user.""#, "e01 e02 e03 e04 e05 e16 e17"),
    (r#"action ew ".CREATED""#, "- e01 e02 e11 e17"),
    (r#"action co "member""#, "e06 e07"),
    (r#"action co ".""#, "all but e20"),
    // --- status / origin: eq/ne only, words case-insensitive; origin may be absent ---
    (r#"status eq "failure""#, "e03 e05 e15"),
    (r#"STATUS Eq "Failure""#, "e03 e05 e15"),
    (r#"status ne "success""#, "e03 e05 e07 e08 e12 e15 e18"),
    (r#"status eq "warning" or status eq "pending""#, "e07 e08 e12 e18"),
    (r#"origin eq "system""#, "e07 e08 e09"),
    (r#"origin ne "user""#, "- e02 e06 e07 e08 e09 e11 e12 e14 e15 e19 e20"),
    (r#"origin eq null"#, "e20"),
    (r#"not origin pr"#, "e20"),
    // --- message / reason, LIKE metacharacters must be literal, string escapes ---
    (r#"message co "50%""#, "e08"),
    (r#"message co "\u0025""#, "e03 e08"),
    (r#"message ew "% done""#, "e08"),
    (r#"message co "_""#, "e05 e09 e12"),
    (r#"message sw "Export_""#, "e12"),
    (r#"message co "\"beta\"""#, "e10"),
    (r#"message co "C:\\Users\\""#, "e13"),
    (r#"message co "created""#, "- e01 e02 e11 e17"),
    // Substrings across words, in another case, missing, negated (trigram candidates on
    // SQLite, re-checked on the row).
    (r#"message co "ED USER""#, "e01 e02 e17"),
    (r#"message co "ser v""#, "e02"),
    (r#"message co "created" and message co "api""#, "e02"),
    (r#"message co "zzz""#, ""),
    (r#"not (message co "created")"#, "all but - e01 e02 e11 e17"),
    (r#"message eq "login OK""#, "e04"),
    (r#"not message pr"#, "e14 e15 e16 e19 e20"),
    (r#"reason pr"#, "e03 e05 e10 e15 e18"),
    (r#"reason co "\\""#, "e10"),
    (r#"reason co "C:\\temp\\""#, "e10"),
    (r#"reason co "_""#, "e15"),
    (r##"reason ew "#42""##, "e18"),
    (r#"not (reason eq "BAD password")"#, "all but e05"),
    // --- correlation_id ---
    (r#"correlation_id eq "E07""#, "e07"),
    (r#"correlation_id sw "e0""#, "e01 e02 e03 e04 e05 e06 e07 e08 e09"),
    (r#"correlation_id ew "0""#, "e10 e20"),
    (r#"correlation_id pr"#, "all but -"),
    (r#"correlation_id eq null"#, "-"),
    // --- seq ---
    (r#"seq eq 1"#, "-"),
    (r#"seq le 2"#, "- e01"),
    (r#"seq gt 19"#, "e19 e20"),
    (r#"seq ge 21"#, "e20"),
    (r#"seq ne 1 and seq lt 4"#, "e01 e02"),
    // --- time / published / received_at: instants, offsets, fractions, ties ---
    (r#"time eq "2024-03-01T09:00:00Z""#, "e01 e02"),
    (r#"time eq "2024-03-01T11:00:00+02:00""#, "e01 e02"),
    (r#"time eq "2024-03-04T10:00:00+02:00""#, "e13"),
    (r#"time eq "2024-03-04T08:00:00.000000Z""#, "e13"),
    (r#"time ge "2024-03-04T00:00:00Z""#, "e13 e14 e15 e16 e17"),
    (r#"time lt "2024-03-01T09:00:00Z""#, "- e18"),
    (r#"time gt "2024-03-02T23:59:59Z" and time lt "2024-03-03T06:00:00Z""#, "e08"),
    (r#"time le "2024-03-02T03:00:00-05:00" and time gt "2024-03-01T17:30:00Z""#, "e04 e05"),
    (r#"time lt "2024-03-02T08:00:00.000001Z" and time gt "2024-03-01T23:00:00Z""#, "e04 e05"),
    (r#"time ne "2024-03-03T12:00:00Z""#, "all but e11 e12 e19"),
    (r#"published ge "2024-03-04T12:00:00.000Z" and PUBLISHED le "2024-03-04T13:00:00+00:00""#, "e14 e15 e16"),
    (r#"received_at gt "2024-03-04T23:30:00Z""#, "e18"),
    (r#"received_at lt "2024-03-01T09:00:00Z""#, "-"),
    (r#"received_at eq "2024-03-04T10:00:05+02:00""#, "e13"),
    (r#"received_at ge "2024-03-04T08:00:01Z" and time lt "2024-03-04T08:00:01Z""#, "e13 e18"),
    // --- actor.* ---
    (r#"actor.email eq "ANA@ACME.IO""#, "e01 e04 e11 e16"),
    (r#"Actor.Email eq "dave@acme.io""#, "e05"),
    (r#"actor.email ew "@example.com""#, "e17"),
    (r#"actor.email co "acme""#, "e01 e03 e04 e05 e10 e11 e13 e16 e18"),
    (r#"actor.email pr"#, "e01 e03 e04 e05 e10 e11 e13 e16 e17 e18"),
    (r#"actor.email eq null"#, "- e02 e06 e07 e08 e09 e12 e14 e15 e19 e20"),
    (r#"not (actor.email eq "ana@acme.io")"#, "all but e01 e04 e11 e16"),
    (r#"not actor.email ew "acme.io" and actor.id pr"#, "- e02 e06 e12 e14 e15 e17 e19"),
    (r#"actor.type eq "service""#, "e02 e06 e12 e14 e15 e19"),
    (r#"actor.type eq "ADMIN""#, "- e18"),
    (r#"actor.id eq "u_2""#, "e03 e10"),
    (r#"actor.id pr and not actor.name pr"#, "- e05 e14 e15 e16"),
    (r#"actor.ip eq "2001:DB8::1""#, "e03"),
    (r#"actor.ip sw "10.0.0.""#, "e01 e04 e17"),
    (r#"actor.ip ne null"#, "e01 e03 e04 e13 e17"),
    (r#"actor.ip PR"#, "e01 e03 e04 e13 e17"),
    (r#"actor.ip ge "192""#, "e03 e13"),
    (r#"actor.name eq "Zo\u00eb""#, "e03 e10"),
    (r#"actor.name eq "ZOë""#, "e03 e10"),
    // SQLite folds ASCII letters only (NOCASE, LIKE): "Ë" does not match a stored "ë".
    (r#"actor.name eq "ZOË""#, ""),
    (r#"actor.name co "\ud83d\ude00""#, "e13"),
    (r#"actor.name eq "O'Brien""#, "e18"),
    (r#"actor.name lt "B""#, "e01 e04 e11"),
    // Ordering folds ASCII case like eq does (and like the sort order): nothing is below "a".
    (r#"actor.email lt "a""#, ""),
    // --- target.*: any target matches, per comparison ---
    (r#"target.id eq "u_7""#, "e01 e03 e06 e16"),
    (r#"target.type eq "group""#, "e06 e07"),
    (r#"target.type eq "User" and target.id eq "g_1""#, "e06"),
    (r#"target.type ne "User""#, "- e06 e07 e10 e11 e13 e14 e15"),
    (r#"not (target.type eq "User")"#, "- e04 e05 e08 e09 e10 e11 e12 e13 e14 e15 e19 e20"),
    (r#"not (target.type ne "User")"#, "e01 e02 e03 e04 e05 e08 e09 e12 e16 e17 e18 e19 e20"),
    (r#"target.email pr"#, "e01 e02 e06 e07 e17 e18"),
    (r#"not target.email pr"#, "all but e01 e02 e06 e07 e17 e18"),
    (r#"target.id eq null"#, "e04 e05 e08 e09 e12 e19 e20"),
    (r#"target.name co "BOB""#, "e01 e03 e06"),
    (r#"target.name sw "Invoice #""#, "e14"),
    (r#"target.email ew "@EXAMPLE.COM""#, "e02 e07"),
    (r#"target.id co "_""#, "e01 e02 e03 e06 e07 e11 e13 e14 e15 e16 e17 e18"),
    (r#"target.id sw "inv_1""#, "e14 e15"),
    (r#"target.id eq "d_1" or target.id eq "k_1""#, "e07 e11"),
    (r#"target.type lt "B""#, "e11"),
    // Case-folded order: "ci-key" and the names from "Carol" on are >= "c".
    (r#"target.name ge "c""#, "e11 e14 e17"),
    // --- context.<key>: single-valued, key matched case-insensitively, dotted keys, absent keys ---
    (r#"context.env eq "prod""#, "e01 e03 e04 e05 e06 e10 e11 e13 e14 e15 e17 e18"),
    (r#"CONTEXT.env eq "PROD""#, "e01 e03 e04 e05 e06 e10 e11 e13 e14 e15 e17 e18"),
    (r#"context.env ne "prod""#, "- e02 e07 e08 e09 e12 e16 e19 e20"),
    (r#"context.region eq "eu""#, "e01 e14 e17"),
    (r#"context.region pr"#, "e01 e03 e14 e17"),
    (r#"not (context.region eq "eu")"#, "all but e01 e14 e17"),
    (r#"context.region.zone sw "eu-""#, "e01 e17"),
    (r#"context.region.zone pr"#, "e01 e06 e17"),
    (r#"context.ip_country eq "pt""#, "e11"),
    (r#"context.ip_country co "T""#, "e11"),
    (r#"context.job co "clean""#, "e07"),
    (r#"context.Tier eq "GOLD""#, "e16"),
    (r#"context.tier eq "gold""#, "e16"),
    (r#"context.missing pr"#, ""),
    (r#"context.missing eq null"#, "all"),
    (r#"not (context.missing eq "x")"#, "all"),
    // --- request.* ---
    (r#"request.method eq "post""#, "e01 e02 e11 e17"),
    (r#"request.method lt "H""#, "e03 e04 e05 e13"),
    (r#"request.path sw "/v1/users""#, "e01 e02 e03 e17"),
    (r#"request.path eq "/LOGIN""#, "e04 e05"),
    (r#"request.status_code ge 400"#, "e03 e05 e15"),
    (r#"request.status_code eq 201"#, "e01 e02 e11 e17"),
    (r#"request.status_code ne 201"#, "all but e01 e02 e11 e17"),
    (r#"request.status_code lt 300"#, "e01 e02 e04 e10 e11 e13 e14 e17"),
    (r#"not (request.status_code lt 300)"#, "- e03 e05 e06 e07 e08 e09 e12 e15 e16 e18 e19 e20"),
    (r#"request.id pr"#, "e01 e02 e03 e10 e11 e13 e14 e17 e19"),
    (r#"request.id eq "REQ-19""#, "e19"),
    // --- metadata.<path>: strings, numbers, booleans, null, nested paths ---
    (r#"metadata.plan eq "PRO""#, "e01 e02"),
    (r#"METADATA.plan sw "f""#, "e17"),
    (r#"metadata.Plan pr"#, ""),
    (r#"not (metadata.plan eq "pro")"#, "all but e01 e02"),
    (r#"metadata.seats ge 5"#, "e01 e02"),
    (r#"metadata.seats lt 5.5"#, "e01 e17"),
    (r#"metadata.seats eq "5""#, ""),
    (r#"metadata.trial eq false"#, "e01"),
    (r#"metadata.trial ne true"#, "all but e17"),
    (r#"metadata.mfa eq TRUE"#, "e04"),
    (r#"metadata.paid eq true"#, "e14"),
    (r#"metadata.amount gt 100"#, "e14"),
    (r#"metadata.amount le 25.5"#, "e15"),
    (r#"metadata.ratio eq 0.75"#, "e09"),
    (r#"metadata.rows eq 500"#, "e09"),
    (r#"metadata.format eq "csv""#, "e08 e09"),
    (r#"metadata.currency eq "eur""#, "e14"),
    (r#"metadata.source.system eq "SCIM""#, "e06"),
    (r#"metadata.source.version ge 2"#, "e06"),
    (r#"metadata.changes.new co "ET""#, "e10"),
    (r#"metadata.billing.tier eq "gold""#, "e01"),
    (r#"metadata.billing.tier pr"#, "e01 e14"),
    (r#"metadata.billing pr"#, "e01 e14"),
    (r#"metadata.note pr"#, ""),
    (r#"metadata.note eq null"#, "all"),
    (r#"metadata.retry eq null and metadata.currency pr"#, "e14 e15"),
    (r#"metadata.size eq true"#, "e12"),
    // A boolean is not the number 1, and a string is not greater than a number.
    (r#"metadata.count eq true"#, ""),
    (r#"metadata.size gt 5"#, "e11"),
    // Case-folded order: "free", "Pro", "pro" are all >= "a"; only "free" is < "g".
    (r#"metadata.plan lt "a""#, ""),
    (r#"metadata.plan lt "g""#, "e17"),
    // --- precedence and not ---
    (r#"action eq "user.login" or action eq "user.created" and status eq "failure""#, "e04 e05"),
    (r#"(action eq "user.login" or action eq "user.created") and status eq "failure""#, "e05"),
    (r#"status eq "failure" and action sw "user" or origin eq "system""#, "e03 e05 e07 e08 e09"),
    (r#"not status eq "success""#, "e03 e05 e07 e08 e12 e15 e18"),
    (r#"not (status eq "success" or origin eq "api")"#, "e03 e05 e07 e08 e18"),
    (r#"NOT not actor.id eq "u_1""#, "e01 e04 e11 e16"),
    (r#"not (not (actor.id eq "u_1") and not (context.region eq "eu"))"#, "e01 e04 e11 e14 e16 e17"),
    (r#"(((action co "export")))"#, "e08 e09 e12 e19"),
];

/// `(from, to, filter, expected)`: filters combined with `Query.range` (`[from, to)`).
const RANGED: &[(Option<&str>, Option<&str>, &str, &str)] = &[
    (Some("2024-03-02T00:00:00Z"), Some("2024-03-03T00:00:00Z"), "", "e04 e05 e06 e07 e20"),
    (Some("2024-03-03T00:00:00Z"), None, r#"status eq "pending""#, "e08 e12"),
    (None, Some("2024-03-01T09:00:00Z"), r#"not (action eq "stele.tenant.created")"#, "e18"),
    (
        Some("2024-03-01T00:00:00Z"),
        Some("2024-03-05T00:00:00Z"),
        r#"context.env eq "prod" and not (target.type eq "User")"#,
        "e04 e05 e10 e11 e13 e14 e15",
    ),
    (Some("2024-03-04T10:00:00+02:00"), Some("2024-03-04T12:00:00Z"), r#"time pr"#, "e13"),
];

struct Case {
    filter: String,
    range: TimeRange,
    expect: Vec<String>,
}

/// `(q, expected labels)`: words are split wherever a character is not a letter or a digit
/// (as SQLite's FTS5 `unicode61` tokenizer splits them), in the events and in the query, on
/// every backend — PostgreSQL's own parser would keep `user.login`, `dave@acme.io` and
/// `s3_bucket` whole, so `q=login` would miss them there.
const TEXT: &[(&str, &str)] = &[
    ("deleted", "e03"),
    ("invoice", "e14 e15"),
    ("dave", "e05"),
    ("s3", "e09"),
    ("bucket", "e09"),
    ("user.login", "e04 e05"),
    ("impersonation", "e18"),
    ("42", "e18"),
    ("declined", "e15"),
    ("grace@acme.io", "e17"),
    ("revok*", "e13"),
    ("dave login", "e05"),
    // Words without a letter or digit hold no token: every event of the tenant, none of
    // another's.
    ("!!! ...", "all"),
];

fn expected(spec: &str, all: &[String]) -> Vec<String> {
    let mut out: Vec<String> = match spec.strip_prefix("all") {
        Some(rest) => {
            let but: HashSet<&str> = rest.trim().strip_prefix("but").unwrap_or("").split_whitespace().collect();
            all.iter().filter(|l| !but.contains(l.as_str())).cloned().collect()
        }
        None => spec.split_whitespace().map(str::to_owned).collect(),
    };
    out.sort();
    out
}

/// Sorted labels of the events of a page.
fn labels_of(events: &[stele_core::StoredEvent]) -> Vec<(Timestamp, u64, String)> {
    events
        .iter()
        .map(|e| {
            let ev = e.event().expect("stored event parses");
            (ev.time, e.seq.get(), ev.correlation_id.unwrap_or_else(|| "-".to_owned()))
        })
        .collect()
}

/// Runs one case; returns a description of what went wrong, if anything.
async fn run_case(store: &dyn Store, tenant: &TenantId, case: &Case) -> Option<String> {
    let filter = if case.filter.is_empty() || case.filter.starts_with("q=") {
        None
    } else {
        match Filter::parse(&case.filter) {
            Ok(f) => Some(f),
            Err(e) => return Some(format!("does not parse: {e}")),
        }
    };
    let text = match case.filter.strip_prefix("q=") {
        Some(words) => stele_core::TextQuery::parse(words).expect("words"),
        None => None,
    };
    let filter = if text.is_some() { None } else { filter };
    let query = Query { filter, text, range: case.range, limit: Limit::new(1000).expect("limit"), ..Query::default() };
    let page = match store.query(tenant, &query).await {
        Ok(p) => p,
        Err(e) => return Some(format!("query failed: {e}")),
    };
    let mut got: Vec<String> = labels_of(&page.events).into_iter().map(|l| l.2).collect();
    got.sort();
    if got != case.expect {
        return Some(format!("expected {:?}, got {:?}", case.expect, got));
    }
    if page.next.is_some() {
        return Some("a page of 1000 returned a next cursor".into());
    }
    match store.count(tenant, &query).await {
        Ok(n) if n == got.len() as u64 => {}
        Ok(n) => return Some(format!("count is {n}, query returned {}", got.len())),
        Err(e) => return Some(format!("count failed: {e}")),
    }

    // The same case two rows at a time through keyset cursors.
    let mut paged = Query { limit: Limit::new(2).expect("limit"), ..query };
    let mut walked = Vec::new();
    for _ in 0..=got.len() {
        let page = match store.query(tenant, &paged).await {
            Ok(p) => p,
            Err(e) => return Some(format!("paged query failed: {e}")),
        };
        if page.events.len() > 2 {
            return Some(format!("a page of 2 held {} events", page.events.len()));
        }
        walked.extend(labels_of(&page.events));
        match page.next {
            Some(c) => paged.page = PageRequest::After(c),
            None => break,
        }
    }
    if let Some(w) = walked.windows(2).find(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1)) {
        return Some(format!("cursor walk out of -time,-seq order (or repeated): {:?} then {:?}", w[0], w[1]));
    }
    let mut walked: Vec<String> = walked.into_iter().map(|l| l.2).collect();
    walked.sort();
    if walked != got {
        return Some(format!("cursor walk returned {walked:?}, one page returned {got:?}"));
    }
    None
}

async fn make_tenant(store: &dyn Store, id: &str, label: Option<&str>) -> TenantId {
    let tenant = TenantId::parse(id).expect("valid tenant id");
    let new = NewTenant {
        id: tenant.clone(),
        name: format!("Tenant {id}"),
        aliases: vec![],
        created_at: ts("2024-02-28T00:00:00Z"),
    };
    store.create_tenant(new, creation_event(id, label)).await.expect("tenant created");
    tenant
}

pub async fn filter_table(store: Arc<dyn Store>) {
    let acme = make_tenant(&*store, "acme", None).await;
    let other = make_tenant(&*store, "other", Some("x00")).await;

    let fixture = fixture();
    let events: Vec<NewEvent> = fixture.iter().map(|(l, r, b)| labelled(Some(l), *r, b.clone())).collect();
    let receipts = store.append(&acme, events, None).await.expect("append acme").receipts().to_vec();
    let id_of = |label: &str| {
        let i = fixture.iter().position(|f| f.0 == label).expect("fixture label");
        receipts[i].id.to_string()
    };

    // The other tenant: two extra events, then the fixture backwards, so its seqs differ
    // from acme's and a query that forgot the tenant would pick up foreign rows.
    let foreign: Vec<NewEvent> = ["x90", "x91"]
        .iter()
        .map(|l| labelled(Some(l), None, fixture[0].2.clone()))
        .chain(fixture.iter().rev().map(|(l, r, b)| labelled(Some(&l.replace('e', "x")), *r, b.clone())))
        .collect();
    let foreign_id = foreign[5].event.id.to_string();
    store.append(&other, foreign, None).await.expect("append other");

    let all: Vec<String> = std::iter::once("-".to_owned()).chain(fixture.iter().map(|f| f.0.to_owned())).collect();
    let mut cases: Vec<Case> = TABLE
        .iter()
        .map(|(f, e)| Case { filter: (*f).to_owned(), range: TimeRange::default(), expect: expected(e, &all) })
        .collect();
    for (from, to, f, e) in RANGED {
        let range = TimeRange::new(from.map(ts), to.map(ts)).expect("range");
        cases.push(Case { filter: (*f).to_owned(), range, expect: expected(e, &all) });
    }
    // `id`, from the receipts: exact, upper-cased, negated, and another tenant's id.
    let e05 = id_of("e05");
    for (filter, expect) in [
        (format!("id eq \"{e05}\""), "e05"),
        (format!("id eq \"{}\"", e05.to_uppercase()), "e05"),
        (format!("id ne \"{e05}\""), "all but e05"),
        (format!("id eq \"{e05}\" or id eq \"{}\"", id_of("e20")), "e05 e20"),
        (format!("id eq \"{foreign_id}\""), ""),
    ] {
        cases.push(Case { filter, range: TimeRange::default(), expect: expected(expect, &all) });
    }

    // Words (`q`), written `q=<words>` in the table's filter column.
    let texts: Vec<Case> = TEXT
        .iter()
        .map(|(q, e)| Case { filter: format!("q={q}"), range: TimeRange::default(), expect: expected(e, &all) })
        .collect();
    let mut failures = Vec::new();
    for case in cases.iter().chain(&texts) {
        if let Some(problem) = run_case(&*store, &acme, case).await {
            failures.push(format!("  {} [range {:?}]: {problem}", case.filter, case.range));
        }
    }
    assert!(failures.is_empty(), "{} of {} filter cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    views_agree_with_the_write_check(&*store, &acme, &cases).await;
}

/// Every case's filter that is a valid view, used as a key's view (`Query::view`): the store
/// must select exactly the events that [`ViewFilter::matches`] (the write check, exact
/// comparisons) accepts. Both must differ from the case-insensitive answer somewhere, or the
/// table would not be testing exactness.
async fn views_agree_with_the_write_check(store: &dyn Store, tenant: &TenantId, cases: &[Case]) {
    let all = store.query(tenant, &Query { limit: Limit::new(1000).expect("limit"), ..Query::default() }).await;
    let all = all.expect("read all").events;
    let (mut failures, mut ran, mut folded_differs) = (Vec::new(), 0, 0);
    for case in cases.iter().filter(|c| c.range == TimeRange::default() && !c.filter.is_empty()) {
        let Ok(view) = ViewFilter::parse(&case.filter) else { continue };
        ran += 1;
        let mut want: Vec<String> = all
            .iter()
            .filter(|e| view.matches(&e.event().expect("stored event parses")))
            .map(|e| e.event().expect("parses").correlation_id.unwrap_or_else(|| "-".to_owned()))
            .collect();
        want.sort();
        let query = Query { view: Some(view), limit: Limit::new(1000).expect("limit"), ..Query::default() };
        let got = match store.query(tenant, &query).await {
            Ok(page) => {
                let mut got: Vec<String> = labels_of(&page.events).into_iter().map(|l| l.2).collect();
                got.sort();
                got
            }
            Err(e) => {
                failures.push(format!("  view {}: query failed: {e}", case.filter));
                continue;
            }
        };
        let count = store.count(tenant, &query).await.map(|n| n as usize);
        if got != want || count.as_ref().ok() != Some(&want.len()) {
            failures.push(format!("  view {}: expected {want:?}, got {got:?} (count {count:?})", case.filter));
        }
        if want != case.expect {
            folded_differs += 1;
        }
    }
    assert!(failures.is_empty(), "{} of {ran} view cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(ran >= 50 && folded_differs >= 5, "{ran} view cases ran, {folded_differs} differ from the folded answer");
}
