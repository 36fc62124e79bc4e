//! Bounds on event times (issue #10, findings 7 and 12), through the real server on both
//! backends: a time more than `max_future_skew_seconds` ahead or before 1970 is refused with
//! the event's index and nothing of its batch is stored (a far-future time would land in
//! PostgreSQL's DEFAULT partition), and an instant outside the representable range (Retraced
//! `created` = i64::MAX, which was stored as 1970 while the returned hash covered the
//! original) is refused in the profile's own error shape.

use crate::common;

use common::{assert_problem, spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn in_(offset: Duration) -> String {
    let at = (OffsetDateTime::now_utc() + offset).replace_nanosecond(0).expect("whole second");
    at.format(&Rfc3339).expect("format")
}

#[tokio::test]
async fn a_time_more_than_a_day_ahead_is_refused_by_index_and_nothing_of_its_batch_is_stored() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;
    let event = |time: String| json!({"action": "clock.test", "time": time});
    let batch = json!({"events": [
        event(in_(Duration::hours(-1))), event(in_(Duration::hours(1))), event(in_(Duration::hours(23))),
        event(in_(Duration::days(400))),
    ]});
    let problem = assert_problem(app.ingest(&key.secret, &batch).await, StatusCode::BAD_REQUEST, "invalid-event").await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.starts_with("events[3].time: "), "{detail}");
    assert!(detail.contains("86400 seconds ahead"), "{detail}");
    assert_eq!(problem["errors"][0]["field"], "events[3].time");
    assert_eq!(app.count("acme").await, before, "nothing of the refused batch is stored");

    for (time, what) in [("1969-12-31T23:59:59Z", "before 1970"), ("9999-12-31T23:59:59-01:00", "past year 9999")] {
        let resp = app.ingest(&key.secret, &event(time.into())).await;
        let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-event").await;
        assert_eq!(problem["errors"][0]["field"], "time", "{what}: {problem}");
    }
    assert_eq!(app.count("acme").await, before);

    // Positive control: the same batch without the far-future event is stored, times as sent.
    let near = in_(Duration::hours(23));
    let batch =
        json!({"events": [event(in_(Duration::hours(-1))), event(near.clone()), event("1970-01-01T00:00:00Z".into())]});
    let resp = app.ingest(&key.secret, &batch).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    let stored = app.user_events("acme").await;
    assert_eq!(stored.len(), 3);
    let near = OffsetDateTime::parse(&near, &Rfc3339).expect("parse");
    assert!(stored
        .iter()
        .any(|e| e["time"].as_str().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()) == Some(near)));
    app.shutdown().await;
}

async fn retraced(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value) {
    let resp = app.retraced_publish(key, "acme-project", body).await;
    let status = resp.status();
    (status, resp.json().await.expect("JSON body"))
}

#[tokio::test]
async fn retraced_created_outside_the_representable_range_is_refused_in_retraced_shape() {
    let app = spawn_app().await;
    app.create_tenant_with_aliases("acme", &["acme-project"]).await;
    let key = app.create_key("acme", &["events:write", "events:read"]).await.secret;
    let event = |created: Value| json!({"action": "doc.read", "crud": "r", "actor": {"id": "u1"}, "created": created});
    for created in [json!(i64::MAX), json!(i64::MIN), json!(253_402_300_800_000_i64)] {
        let (status, body) = retraced(&app, &key, &event(created.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{created}: {body}");
        let error = body["error"].as_str().expect("Retraced error shape");
        assert!(error.contains("Unable to parse 'created' field as valid time"), "{error}");
    }
    // Inside the range but days ahead: refused by the time window, still in Retraced's shape.
    let ahead = (OffsetDateTime::now_utc() + Duration::days(3)).unix_timestamp() * 1000;
    let (status, body) = retraced(&app, &key, &event(json!(ahead))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("time")), "{body}");
    assert!(app.user_events("acme").await.is_empty(), "nothing stored");

    // Positive control: epoch milliseconds in range are stored as that instant.
    let (status, body) = retraced(&app, &key, &event(json!(1_465_790_400_000_i64))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stored = app.user_events("acme").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["time"], "2016-06-13T04:00:00.000000Z");
    app.shutdown().await;
}

/// Canonical JSON (RFC 8785) holds I-JSON numbers only: an integer beyond ±(2^53 − 1) would
/// hash like its neighbour, so it is refused naming the field, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_canonical_json_cannot_hold_are_refused() {
    let app = common::spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;
    for (event, field) in [
        (json!({"action": "pay", "metadata": {"amount": 9_007_199_254_740_993_u64}}), "metadata.amount"),
        (
            json!({"action": "pay", "request": {"body": {"ids": [1, -9_007_199_254_740_993_i64]}}}),
            "request.body.ids[1]",
        ),
        (json!({"action": "pay", "changes": {"after": {"n": u64::MAX}}}), "changes.after.n"),
    ] {
        let resp = app.ingest(&key.secret, &event).await;
        let problem = common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-event").await;
        assert!(problem.to_string().contains(field), "{event}: {problem}");
    }
    assert_eq!(app.count("acme").await, before, "nothing of a refused event is stored");
    // Positive control: the largest exact integers are accepted and come back unchanged.
    let receipt = app.ingest_ok(&key.secret, &json!({"action": "pay", "metadata": {"max": 9_007_199_254_740_991_u64, "min": -9_007_199_254_740_991_i64}})).await;
    let id = receipt["id"].as_str().expect("id");
    let stored: Value =
        app.get(&format!("/v1/events/{id}"), &key.secret).send().await.expect("sent").json().await.expect("json");
    assert_eq!(stored["metadata"]["max"], 9_007_199_254_740_991_u64);
    assert_eq!(stored["metadata"]["min"], -9_007_199_254_740_991_i64);
}
