//! `GET /v1/events` and `GET /v1/events/{id}`: order, time range, limits, parameters,
//! cursors.

use crate::common;

use std::collections::HashSet;

use common::{assert_problem, detail, id, seq, spawn_app, Key, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn at(second: u32) -> String {
    format!("2020-01-01T00:00:{second:02}Z")
}

/// Lists with `params` as `key`; panics unless 200.
async fn list(app: &TestApp, key: &Key, params: &[(&str, &str)]) -> Value {
    let resp = app.get("/v1/events", &key.secret).query(params).send().await.expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).expect("page JSON")
}

fn events(page: &Value) -> Vec<Value> {
    page["events"].as_array().expect("events").clone()
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| id(e).to_owned()).collect()
}

/// Follows `next_cursor` from the first page to the last.
async fn walk(app: &TestApp, key: &Key, base: &[(&str, &str)]) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params: Vec<(&str, &str)> = base.to_vec();
        if let Some(c) = cursor.as_deref() {
            params.push(("cursor", c));
        }
        let page = list(app, key, &params).await;
        pages += 1;
        assert!(pages < 1000, "cursor walk does not end");
        let got = events(&page);
        let next = page["next_cursor"].as_str().map(str::to_owned);
        assert!(!got.is_empty() || next.is_none(), "an empty page with a next cursor");
        out.extend(got);
        match next {
            Some(c) => cursor = Some(c),
            None => return (out, pages),
        }
    }
}

/// Checks (time, seq) order: descending or ascending.
fn assert_ordered(events: &[Value], descending: bool) {
    for w in events.windows(2) {
        let a = (w[0]["time"].as_str().expect("time"), seq(&w[0]));
        let b = (w[1]["time"].as_str().expect("time"), seq(&w[1]));
        if descending {
            assert!(a > b, "not newest first: {a:?} then {b:?}");
        } else {
            assert!(a < b, "not oldest first: {a:?} then {b:?}");
        }
    }
}

/// Sends events at the given seconds past 2020-01-01T00:00:00Z, one request each, in order.
async fn send_at(app: &TestApp, key: &Key, seconds: &[u32]) -> Vec<Value> {
    let mut receipts = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        let r = app
            .ingest_ok(&key.secret, &json!({"action": "read.test", "time": at(*s), "message": format!("n{i}")}))
            .await;
        receipts.push(r);
    }
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_first_with_ties_by_seq_and_time_range() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    // Out of time order, with three events at second 5.
    let seconds = [9, 2, 5, 0, 7, 5, 3, 8, 1, 5, 6, 4];
    let receipts = send_at(&app, &key, &seconds).await;

    let page = list(&app, &key, &[("limit", "1000")]).await;
    let all = events(&page);
    assert!(page["next_cursor"].is_null());
    assert_ordered(&all, true);
    // The audit events of setup happened now, after 2020: they come first.
    let first_user = all.iter().position(|e| e["action"] == "read.test").expect("user events");
    assert!(all[..first_user].iter().all(|e| e["action"].as_str().is_some_and(|a| a.starts_with("stele."))));
    let user = &all[first_user..];
    assert_eq!(user.len(), seconds.len());
    // The exact expected order: time descending, then seq descending.
    let mut expected: Vec<(u32, u64, String)> =
        receipts.iter().zip(seconds).map(|(r, s)| (s, seq(r), id(r).to_owned())).collect();
    expected.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    assert_eq!(ids(user), expected.iter().map(|e| e.2.clone()).collect::<Vec<_>>());
    // Ties at second 5: the later seq first.
    let ties: Vec<u64> = user.iter().filter(|e| e["time"] == "2020-01-01T00:00:05.000000Z").map(seq).collect();
    assert_eq!(ties.len(), 3);
    assert!(ties.windows(2).all(|w| w[0] > w[1]), "{ties:?}");

    // [from, to): from inclusive, to exclusive; an offset is understood.
    let page = list(&app, &key, &[("from", &at(3)), ("to", "2020-01-01T01:00:07+01:00"), ("limit", "100")]).await;
    let got = events(&page);
    let secs: Vec<u32> =
        got.iter().map(|e| e["time"].as_str().expect("time")[17..19].parse::<u32>().expect("second")).collect();
    assert_eq!(secs, vec![6, 5, 5, 5, 4, 3]);
    // Only `from`; only `to`.
    let page = list(&app, &key, &[("from", &at(8))]).await;
    let got = events(&page);
    assert_eq!(got.iter().filter(|e| e["action"] == "read.test").count(), 2, "seconds 8 and 9");
    let page = list(&app, &key, &[("to", &at(1))]).await;
    let got = events(&page);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["time"], "2020-01-01T00:00:00.000000Z");

    // sort=time: oldest first, exactly the reverse.
    let page = list(&app, &key, &[("sort", "time"), ("limit", "1000")]).await;
    let asc = events(&page);
    assert_ordered(&asc, false);
    let mut rev = ids(&all);
    rev.reverse();
    assert_eq!(ids(&asc), rev);
    let page = list(&app, &key, &[("sort", "-time"), ("limit", "1000")]).await;
    assert_eq!(ids(&events(&page)), ids(&all));

    // Default limit is 50 and limit=1 gives one event.
    let page = list(&app, &key, &[("limit", "1")]).await;
    assert_eq!(events(&page).len(), 1);
    assert!(page["next_cursor"].is_string());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_walk_returns_every_event_once() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    // Twenty events, several sharing a time, so the keyset must break ties by seq.
    let seconds: Vec<u32> = (0..20).map(|i| (i * 7) % 6).collect();
    send_at(&app, &key, &seconds).await;
    let full = events(&list(&app, &key, &[("limit", "1000")]).await);
    assert_eq!(full.len(), 20 + 2, "20 events, plus tenant and key creation");

    for sort in ["-time", "time"] {
        let (walked, pages) = walk(&app, &key, &[("limit", "3"), ("sort", sort)]).await;
        let walked_ids = ids(&walked);
        let unique: HashSet<&String> = walked_ids.iter().collect();
        assert_eq!(unique.len(), walked_ids.len(), "an event came twice ({sort})");
        let mut expected = ids(&full);
        if sort == "time" {
            expected.reverse();
        }
        assert_eq!(walked_ids, expected, "cursor walk order ({sort})");
        assert!(pages <= 22usize.div_ceil(3) + 1, "{pages} pages");
    }
    // A page is never larger than the limit.
    let page = list(&app, &key, &[("limit", "3")]).await;
    assert_eq!(events(&page).len(), 3);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_named() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    send_at(&app, &key, &[1, 2, 3, 4]).await;

    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("limit", "0")], "limit"),
        (&[("limit", "1001")], "limit"),
        (&[("limit", "-1")], "limit"),
        (&[("limit", "ten")], "limit"),
        (&[("colour", "red")], "colour"),
        (&[("cursor", "not-a-cursor!")], "cursor"),
        (&[("cursor", "eyJmb28iOjF9")], "cursor"),
        (&[("from", "yesterday")], "from"),
        (&[("to", "2020-13-01T00:00:00Z")], "to"),
        (&[("from", "2020-01-02T00:00:00Z"), ("to", "2020-01-01T00:00:00Z")], "from"),
        (&[("from", "2020-01-01T00:00:00Z"), ("to", "2020-01-01T00:00:00Z")], "from"),
        (&[("sort", "name")], "sort"),
    ];
    for (params, name) in cases {
        let resp = app.get("/v1/events", &key.secret).query(params).send().await.expect("sent");
        let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
        assert!(detail(&p).contains(name), "{params:?}: detail should name {name}: {p}");
    }
    // limit=1000 is the largest allowed.
    list(&app, &key, &[("limit", "1000")]).await;
    // A cursor issued for one sort order is refused for the other.
    let page = list(&app, &key, &[("limit", "1")]).await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let resp = app
        .get("/v1/events", &key.secret)
        .query(&[("cursor", cursor.as_str()), ("sort", "time")])
        .send()
        .await
        .expect("sent");
    let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    assert!(detail(&p).contains("cursor"), "{p}");
    assert_eq!(p["parameter"], "cursor");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_by_id() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let r = send_at(&app, &key, &[1]).await.remove(0);
    let resp = app.get(&format!("/v1/events/{}", id(&r)), &key.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let e: Value = resp.json().await.expect("json");
    assert_eq!(e["id"], r["id"]);
    assert_eq!(e["seq"], r["seq"]);
    // Unknown and malformed ids: 404 problem.
    for bad in ["0193a0c4-0000-7000-8000-000000000000", "not-a-uuid"] {
        let resp = app.get(&format!("/v1/events/{bad}"), &key.secret).send().await.expect("sent");
        assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    }
    app.shutdown().await;
}

/// A cursor is opaque but travels through clients: a forged one (valid base64url JSON of the
/// right shape, wrong values) must be a 400 naming `cursor`, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cursor_is_a_400() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    send_at(&app, &key, &[1, 2, 3]).await;
    for forged in
        [r#"{"s":"-time","v":["x"],"q":1}"#, r#"{"s":"-time","v":[],"q":1}"#, r#"{"s":"-time","v":[1.5],"q":2}"#]
    {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged);
        let resp = app.get("/v1/events", &key.secret).query(&[("cursor", cursor.as_str())]).send().await.expect("sent");
        let p = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
        assert!(detail(&p).contains("cursor"), "{forged}: {p}");
    }
    app.shutdown().await;
}
