//! Rate limits: failed authentications per client address (API keys and SCIM tokens alike)
//! and requests per key, answered 429 with `Retry-After` and counted in `/metrics`; and ingest
//! turned away with 503 before its body is parsed (the in-flight budget, the index's lag bound).

use crate::common;

use common::{assert_problem, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_failing_to_authenticate_is_turned_away() {
    let app = spawn_app_with(|c| c.rate_limits.failed_auth_per_minute = 5).await;
    let key = app.tenant_with_key("acme").await;
    let (connection, _) = app.scim_connection("acme").await;
    // Positive control: the right key works, and does not spend anything.
    for _ in 0..10 {
        assert_eq!(app.get("/v1/events", &key.secret).send().await.expect("sent").status(), StatusCode::OK);
    }
    // Five failures: three wrong API keys and two wrong SCIM tokens.
    for _ in 0..3 {
        let resp = app.get("/v1/events", "stl_nokey.guess").send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let scim = app.url(&format!("/scim/v2/{connection}/Users"));
    for _ in 0..2 {
        let resp = app.http.get(&scim).bearer_auth("scim_guess").send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Now everything from this address is refused, the right key included, with a wait.
    let resp = app.get("/v1/events", &key.secret).send().await.expect("sent");
    let retry: u64 =
        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).expect("Retry-After");
    assert!((11..=12).contains(&retry), "one failure refills in 12 s: {retry}");
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "too-many-failed-authentications").await;
    let resp = app.http.get(&scim).bearer_auth("scim_guess").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // A refused SCIM guess is not written to the tenant's log (the flood stops at the door).
    let resp = app.op_get("/v1/events?limit=1000", "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "the operator shares the address");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("stele_rate_limited_total{reason=\"failed_auth_limit\"}"), "{metrics}");
    // A refused SCIM guess is not written to the tenant's log (the flood stops at the door):
    // after a restart (fresh limits) the log holds the two answered guesses only.
    let app = app.restart_with(|_| {}).await;
    let unauthorized = app.all_events("acme").await.iter().filter(|e| e["action"] == "scim.Unauthorized").count();
    assert_eq!(unauthorized, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_rate_is_refused_and_others_are_not() {
    let app = spawn_app_with(|c| c.rate_limits.key_requests_per_second = 2).await;
    let busy = app.tenant_with_key("acme").await;
    let other = app.create_key("acme", &["events:read"]).await;
    // A burst of twice the rate is allowed, then the key waits.
    for i in 0..4 {
        let status = app.get("/v1/events", &busy.secret).send().await.expect("sent").status();
        assert_eq!(status, StatusCode::OK, "request {i}");
    }
    let resp = app.get("/v1/events", &busy.secret).send().await.expect("sent");
    assert!(resp.headers().get("retry-after").is_some());
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    // Another key and the operator are not slowed by it.
    assert_eq!(app.get("/v1/events", &other.secret).send().await.expect("sent").status(), StatusCode::OK);
    assert_eq!(app.op_get("/v1/events", "acme").send().await.expect("sent").status(), StatusCode::OK);
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("stele_rate_limited_total{reason=\"key_rate_limit\"}"), "{metrics}");
}

/// Ingest bodies in flight are bounded: while one client holds the whole budget (a body it
/// is slow to send), another ingest is answered 503 `ingest-busy` instead of queueing, and
/// is accepted again once the budget is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_beyond_the_in_flight_budget_is_turned_away_until_it_frees() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| {
        c.limits.max_batch_bytes = 4096;
        c.server.max_inflight_ingest_bytes = 4096;
    })
    .await;
    let key = app.tenant_with_key("acme").await;
    let addr = app.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{{\"action\":",
        key.secret
    );
    slow.write_all(head.as_bytes()).await.expect("head sent");
    // Wait (on the observable condition, not a clock) until the slow request holds the budget.
    let mut held = false;
    for _ in 0..2000 {
        let metrics = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
        if metrics.lines().any(|l| l.starts_with("stele_ingest_in_flight_bytes") && l.ends_with(" 4096")) {
            held = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(held, "the slow request took the whole budget");
    let refused = app.ingest(&key.secret, &json!({"action": "small"})).await;
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE, "ingest-busy").await;
    // Reads are not affected.
    assert_eq!(app.get("/v1/events", &key.secret).send().await.expect("sent").status(), StatusCode::OK);
    // The slow client goes away: its share is returned and ingest is accepted again.
    drop(slow);
    let accepted = ingest_until_taken(&app, &key.secret, &json!({"action": "after"}), 500).await;
    assert!(accepted, "ingest is accepted again once the budget is free");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains("stele_rate_limited_total{reason=\"ingest_busy\"}"), "{metrics}");
}

/// A key past its rate on a profile's route is answered 429 with `Retry-After` in that
/// profile's own error shape; it had been a 500 (found by schemathesis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_rate_gets_429_in_each_profiles_shape() {
    const UUID: &str = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10";
    const HEX: &str = "5f1a2b3c4d5e6f7a8b9c0d1e";
    let app = spawn_app_with(|c| c.rate_limits.key_requests_per_second = 1).await;
    app.create_tenant_with_aliases("acme", &[UUID, HEX, "acme.example.com"]).await;
    let key = app.create_key("acme", &["events:read", "events:write"]).await;
    // Spends the key's tokens (a burst of 2 at 1 per second): the next request finds none,
    // as refilling one takes a second.
    let exhaust = || async {
        for _ in 0..10 {
            if app.get("/v1/events", &key.secret).send().await.expect("sent").status() == StatusCode::TOO_MANY_REQUESTS
            {
                return;
            }
        }
        panic!("the key was never limited");
    };
    let requests = [
        ("Losant", app.get(&format!("/instance/{HEX}/audit-logs"), &key.secret)),
        (
            "OneUptime",
            app.http.post(app.url("/api/status-page-scim-log/count")).header("ApiKey", &key.secret).json(&json!({})),
        ),
        (
            "ConfigCat",
            app.http.get(app.url(&format!("/v2/products/{UUID}/auditlogs"))).basic_auth(&key.id, Some(&key.secret)),
        ),
        (
            "Retraced",
            app.http
                .post(app.url(&format!("/auditlog/publisher/v1/project/{UUID}/event")))
                .header("Authorization", format!("token={}", key.secret))
                .json(&json!({"action": "a", "crud": "c", "created": "2024-01-01T00:00:00Z"})),
        ),
        ("CloudCockpit", app.get("/v1/AuditLogs", &key.secret).header("X-Tenant", "acme.example.com")),
    ];
    for (profile, request) in requests {
        exhaust().await;
        let resp = request.send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{profile}");
        assert!(resp.headers().get("retry-after").is_some(), "{profile}: Retry-After");
        let content_type = resp.headers()["content-type"].to_str().expect("text").to_owned();
        let body: serde_json::Value = resp.json().await.expect("JSON");
        match profile {
            "Losant" => assert_eq!(body["type"], "TooManyRequests", "{body}"),
            "OneUptime" | "Retraced" => {
                assert!(body["error"].as_str().is_some_and(|e| e.contains("Too many")), "{body}")
            }
            "ConfigCat" => {
                assert_eq!(content_type, "application/problem+json");
                assert_eq!(body["type"], "urn:stele:problem:rate-limited", "{body}");
            }
            _ => assert_eq!(
                (body["statusCode"].as_u64(), body["type"].as_str()),
                (Some(429), Some("TooManyRequests")),
                "{body}"
            ),
        }
    }
}

/// Past the index's lag bound, ingest is refused before its body is parsed: a body that could
/// not even be parsed is answered 503 `index-behind`, not 400, so a refused batch costs no
/// parse (what is left of it is read off the connection and dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_lag_bound_ingest_is_refused_before_its_body_is_parsed() {
    let Some(app) = app_with_lag_bound_zero(0).await else { return };
    let key = app.tenant_with_key("acme").await;
    let unparsable = || {
        app.http
            .post(app.url("/v1/events"))
            .bearer_auth(&key.secret)
            .header("content-type", "application/json")
            .body("{\"action\":")
            .send()
    };
    // Positive control: with nothing behind, the same body is read and refused as malformed.
    let mut control = false;
    for _ in 0..20_000 {
        let status = unparsable().await.expect("sent").status();
        if status == StatusCode::BAD_REQUEST {
            control = true;
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "only index-behind may come first");
        tokio::task::yield_now().await;
    }
    assert!(control, "a malformed body is a 400 while the index is caught up");
    refused_right_after_an_accepted_event(&app, &key.secret, || async { unparsable().await.expect("sent") }).await;
}

/// A refused ingest body is still read off the connection (and dropped, unparsed), so a
/// client still sending a large batch receives the answer and its `Retry-After` instead of a
/// reset connection: the server had answered and closed with the body unread, and a client
/// writing 4 MiB failed with a broken pipe (this test, before `serve.rs`'s `Unread`). The
/// same holds for a refusal that comes before any handler: a wrong key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_refused_unread_still_gets_its_answer() {
    let Some(app) = app_with_lag_bound_zero(0).await else { return };
    let key = app.tenant_with_key("acme").await;
    // Unparsable: an answer other than 400 was given without parsing it.
    let large = format!("{{\"action\":{}", " ".repeat(4 << 20));
    let post = |secret: &str| {
        app.http
            .post(app.url("/v1/events"))
            .bearer_auth(secret)
            .header("content-type", "application/json")
            .body(large.clone())
            .send()
    };
    let wrong = post("stl_nokey.guess").await.expect("the answer arrives");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    refused_right_after_an_accepted_event(&app, &key.secret, || async {
        post(&key.secret).await.expect("the answer arrives, whether refused or read")
    })
    .await;
    // The connection stays usable: the key's next request is served.
    assert_eq!(app.get("/v1/events", &key.secret).send().await.expect("sent").status(), StatusCode::OK);
}

/// Past the lag bound, ingest waits for the index (`index_lag_wait_ms`) instead of refusing
/// at once: the same sequence — each event posted right after the previous was taken, with
/// the bound at 0 so each finds the index behind until its group commits — is refused at
/// least once without a wait (the control) and never with one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_lag_bound_ingest_waits_for_the_index() {
    for (wait_ms, refusals_expected) in [(0, true), (30_000, false)] {
        let Some(app) = app_with_lag_bound_zero(wait_ms).await else { return };
        let key = app.tenant_with_key("acme").await;
        assert!(ingest_until_taken(&app, &key.secret, &json!({"action": "first"}), 20_000).await);
        let mut refused = 0;
        for i in 0..5 {
            let resp = app.ingest(&key.secret, &json!({"action": format!("next.{i}")})).await;
            match resp.status() {
                StatusCode::CREATED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    refused += 1;
                    assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "index-behind").await;
                    assert!(ingest_until_taken(&app, &key.secret, &json!({"action": "again"}), 20_000).await);
                }
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(refused > 0, refusals_expected, "wait {wait_ms} ms: {refused} of 5 refused");
        app.shutdown().await;
    }
}

/// A server whose index may lag by no event, waiting `wait_ms` for it; `None` (and why,
/// printed) on PostgreSQL, which measures its lag every 200 ms, so a request cannot be sent
/// at a known lag (the store-level test `ingest_is_refused_while_the_index_lags…` covers it).
async fn app_with_lag_bound_zero(wait_ms: u64) -> Option<common::TestApp> {
    if common::backend() == common::Backend::Postgres {
        eprintln!("skipped on PostgreSQL: its lag is sampled, not known at the request");
        return None;
    }
    Some(spawn_app_with(|c| (c.store.sqlite_max_index_lag, c.store.index_lag_wait_ms) = (0, wait_ms)).await)
}

/// Sends an unparsable ingest body with `send` right after an event was taken, until it is
/// refused with 503 `index-behind` and `Retry-After: 1`. With the bound at 0, each accepted
/// event leaves the index one behind until its indexer group commits (a gathering window of
/// 400 ms), so the first try is refused; the five tries only guard against a slower machine.
/// A try that is not refused was read and parsed: 400.
async fn refused_right_after_an_accepted_event<F, Fut>(app: &common::TestApp, secret: &str, send: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    for _ in 0..5 {
        // Taken once the index has caught up (each try until then is refused and stores nothing).
        let taken = ingest_until_taken(app, secret, &json!({"action": "first"}), 20_000).await;
        assert!(taken, "ingest is taken again once the index has caught up");
        let resp = send().await;
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
            assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "index-behind").await;
            return;
        }
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "read and parsed while the index was caught up");
    }
    panic!("a request right after an accepted one never found the index behind");
}

/// Posts `event` until it is answered 201 (at most `tries` times); whether it was.
async fn ingest_until_taken(app: &common::TestApp, secret: &str, event: &serde_json::Value, tries: usize) -> bool {
    for _ in 0..tries {
        if app.ingest(secret, event).await.status() == StatusCode::CREATED {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}
