//! Tamper evidence over HTTP: signed heads, inclusion and consistency proofs checked with
//! the core verifier against the served public key, redaction, and verifiable export.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use crate::common;

use common::{spawn_app, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};
use stele_core::integrity::{
    served_leaf, verify_consistency, verify_inclusion, Frontier, Hash, HeadKey, SignedTreeHead,
};

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().expect("hash array").iter().map(|h| Hash::from_hex(h.as_str().expect("hex")).expect("hash")).collect()
}

async fn head_of_at_least(app: &common::TestApp, secret: &str, size: u64) -> SignedTreeHead {
    let resp = app.get(&format!("/v1/integrity/head?min_size={size}"), secret).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    resp.json().await.unwrap()
}

async fn public_key(app: &common::TestApp, secret: &str) -> HeadKey {
    let key: Value = app.get("/v1/integrity/key", secret).send().await.unwrap().json().await.unwrap();
    assert_eq!(key["alg"], "Ed25519");
    HeadKey::from_base64(key["public_key"].as_str().unwrap()).unwrap()
}

fn batch(n: usize, tag: &str) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"action": format!("doc.{tag}"), "actor": {"id": format!("u{i}"), "email": format!("u{i}@acme.io")}, "message": format!("event {i}")}))
        .collect();
    json!({ "events": events })
}

#[tokio::test]
async fn heads_and_proofs_verify_against_the_public_key() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let public = public_key(&app, &key.secret).await;
    app.ingest_ok(&key.secret, &batch(20, "a")).await;
    // Creation event + key event + 20.
    let first = head_of_at_least(&app, &key.secret, 22).await;
    public.verify(&first).expect("first head signature");
    assert_eq!(first.head.tenant.as_str(), "acme");

    // Every event's inclusion proof leads from its rehashed JSON to the signed root.
    let events = app.all_events("acme").await;
    assert_eq!(events.len() as u64, first.head.size);
    for e in &events {
        let id = e["id"].as_str().unwrap();
        let proof: Value =
            app.get(&format!("/v1/events/{id}/proof"), &key.secret).send().await.unwrap().json().await.unwrap();
        let leaf = served_leaf(e).expect("rehash");
        assert_eq!(leaf.to_hex(), e["hash"], "the served hash is the leaf");
        assert_eq!(proof["tree_size"], first.head.size);
        let index = proof["leaf_index"].as_u64().unwrap();
        assert_eq!(index + 1, e["seq"].as_u64().unwrap());
        verify_inclusion(index, first.head.size, &leaf, &hashes(&proof["proof"]), &first.head.root).expect("inclusion");
        // A changed event no longer proves.
        let mut changed = e.clone();
        changed["message"] = json!("something else");
        let bad = served_leaf(&changed).unwrap();
        assert!(verify_inclusion(index, first.head.size, &bad, &hashes(&proof["proof"]), &first.head.root).is_err());
    }

    // The log grows; the new head is consistent with the old one.
    app.ingest_ok(&key.secret, &batch(13, "b")).await;
    let second = head_of_at_least(&app, &key.secret, first.head.size + 13).await;
    public.verify(&second).unwrap();
    let path = format!("/v1/integrity/consistency?from={}&to={}", first.head.size, second.head.size);
    let proof: Value = app.get(&path, &key.secret).send().await.unwrap().json().await.unwrap();
    verify_consistency(
        first.head.size,
        second.head.size,
        &first.head.root,
        &second.head.root,
        &hashes(&proof["proof"]),
    )
    .expect("consistency");
    assert!(verify_consistency(
        first.head.size,
        second.head.size,
        &second.head.root,
        &first.head.root,
        &hashes(&proof["proof"])
    )
    .is_err());

    // Old heads are kept.
    let listed: Value = app.get("/v1/integrity/heads?from=0", &key.secret).send().await.unwrap().json().await.unwrap();
    let sizes: Vec<u64> = listed["heads"].as_array().unwrap().iter().map(|h| h["size"].as_u64().unwrap()).collect();
    assert!(sizes.contains(&first.head.size) && sizes.contains(&second.head.size), "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]));

    // Bad parameters are named.
    let resp = app.get("/v1/integrity/consistency?from=9&to=3", &key.secret).send().await.unwrap();
    common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    let resp = app.get("/v1/integrity/consistency?from=1&to=100000", &key.secret).send().await.unwrap();
    common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    let resp = app.get("/v1/integrity/heads?limit=0", &key.secret).send().await.unwrap();
    common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    app.shutdown().await;
}

#[tokio::test]
async fn redaction_keeps_the_tree_verifiable() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let public = public_key(&app, &key.secret).await;
    let receipt = app
        .ingest_ok(
            &key.secret,
            &json!({"action": "user.login", "actor": {"email": "ana@acme.io"}, "message": "secret stuff"}),
        )
        .await;
    let id = receipt["id"].as_str().unwrap().to_owned();
    let seq = receipt["seq"].as_u64().unwrap();
    let before: Value = app.get(&format!("/v1/events/{id}"), &key.secret).send().await.unwrap().json().await.unwrap();

    // Only the operator may redact; a reason is required.
    let resp = app
        .post_json(&format!("/v1/events/{id}/redact"), &key.secret, &json!({"reason": "gdpr"}))
        .send()
        .await
        .unwrap();
    common::assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let op = |body: Value| {
        app.post_json(&format!("/v1/events/{id}/redact"), OPERATOR, &body).header(stele_server::TENANT_HEADER, "acme")
    };
    let resp = op(json!({"reason": ""})).send().await.unwrap();
    common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    let resp = op(json!({"reason": "gdpr", "extra": 1})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = op(json!({"reason": "GDPR erasure request 42"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stone: Value = resp.json().await.unwrap();
    assert_eq!(stone["hash"], before["hash"], "the leaf hash stays");
    assert_eq!(stone["seq"], seq);
    assert_eq!(stone["redacted"]["reason"], "GDPR erasure request 42");
    assert!(stone.get("actor").is_none() && stone.get("message").is_none(), "{stone}");
    let resp = op(json!({"reason": "again"})).send().await.unwrap();
    common::assert_problem(resp, StatusCode::CONFLICT, "conflict").await;

    // Gone from every index.
    let found: Value = app
        .get("/v1/events?filter=actor.email%20eq%20%22ana@acme.io%22", &key.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["events"].as_array().unwrap().len(), 0);
    let found: Value = app.get("/v1/events?q=secret", &key.secret).send().await.unwrap().json().await.unwrap();
    assert_eq!(found["events"].as_array().unwrap().len(), 0);

    // The redaction is an event, and the tree still proves the tombstone's leaf.
    let events = app.all_events("acme").await;
    let redaction = events.iter().find(|e| e["action"] == "stele.event.redacted").expect("redaction event");
    assert_eq!(redaction["targets"][0]["id"], id.as_str());
    assert_eq!(redaction["reason"], "GDPR erasure request 42");
    let head = head_of_at_least(&app, &key.secret, redaction["seq"].as_u64().unwrap()).await;
    public.verify(&head).unwrap();
    let proof: Value =
        app.get(&format!("/v1/events/{id}/proof"), &key.secret).send().await.unwrap().json().await.unwrap();
    let leaf = Hash::from_hex(stone["hash"].as_str().unwrap()).unwrap();
    verify_inclusion(seq - 1, head.head.size, &leaf, &hashes(&proof["proof"]), &head.head.root)
        .expect("tombstone proves");
    app.shutdown().await;
}

#[tokio::test]
async fn export_streams_everything_needed_to_verify() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let exporter = app.create_key("acme", &["events:export"]).await;
    let public = public_key(&app, &key.secret).await;
    for tag in ["a", "b", "c"] {
        app.ingest_ok(&key.secret, &batch(700, tag)).await;
    }
    head_of_at_least(&app, &key.secret, 2102).await;

    let resp = app.get("/v1/events/export", &exporter.secret).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let mut lines = text.lines();
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(first["complete"], true);
    let head: SignedTreeHead = serde_json::from_value(first["head"].clone()).unwrap();
    public.verify(&head).unwrap();
    let mut frontier = Frontier::new();
    for (i, line) in lines.enumerate() {
        let e: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["seq"].as_u64().unwrap(), i as u64 + 1, "seq order, no gaps");
        frontier.push(served_leaf(&e).unwrap(), |_, _| {});
    }
    assert_eq!(frontier.size(), head.head.size);
    assert_eq!(frontier.root(), head.head.root, "the leaves rebuild the signed root");

    // Filtered: each event carries its inclusion proof.
    let resp = app.get("/v1/events/export?filter=action%20eq%20%22doc.b%22", &exporter.secret).send().await.unwrap();
    let text = resp.text().await.unwrap();
    let mut lines = text.lines();
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(first["complete"], false);
    let head: SignedTreeHead = serde_json::from_value(first["head"].clone()).unwrap();
    let mut n = 0;
    for line in lines {
        let e: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["action"], "doc.b");
        let index = e["seq"].as_u64().unwrap() - 1;
        verify_inclusion(index, head.head.size, &served_leaf(&e).unwrap(), &hashes(&e["proof"]), &head.head.root)
            .unwrap();
        n += 1;
    }
    assert_eq!(n, 700);

    // CSV: a header and one row per event.
    let resp = app
        .get("/v1/events/export?format=csv&filter=action%20eq%20%22doc.c%22", &exporter.secret)
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "seq");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 700);
    assert_eq!(&rows[0][4], "doc.c");

    let resp = app.get("/v1/events/export?format=xml", &exporter.secret).send().await.unwrap();
    common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    app.shutdown().await;
}

/// Under a steady ingest load, every acknowledged append is covered by a signed head within
/// one second (the server holds the request until then, or answers 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_covered_by_a_signed_head_within_a_second_under_load() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (http, url, secret, stop) = (app.http.clone(), app.url("/v1/events"), key.secret.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp =
                    http.post(&url).bearer_auth(&secret).json(&batch(50, &format!("load{w}"))).send().await.unwrap();
                assert_eq!(resp.status(), StatusCode::CREATED);
                sent += 50;
            }
            sent
        }));
    }
    for probe in 0..5 {
        let receipt =
            app.ingest_ok(&key.secret, &json!({"action": "probe", "message": format!("probe {probe}")})).await;
        let seq = receipt["seq"].as_u64().unwrap();
        let resp =
            app.get(&format!("/v1/integrity/head?min_size={seq}&wait_ms=1000"), &key.secret).send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "probe {probe} (seq {seq}) not covered within 1 s: {}",
            resp.text().await.unwrap()
        );
        let head: SignedTreeHead = resp.json().await.unwrap();
        assert!(head.head.size >= seq);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for w in writers {
        sent += w.await.unwrap();
    }
    assert!(sent >= 100, "the load ran ({sent} events)");
    app.shutdown().await;
}

/// A wait longer than the server waits is refused, naming `wait_ms`, rather than silently
/// cut to 10 s (found by schemathesis: the document said 10000 at most, the server took any).
#[tokio::test]
async fn a_head_wait_beyond_ten_seconds_is_refused() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let head = head_of_at_least(&app, &key.secret, 2).await;
    for query in ["min_size=1&wait_ms=10001", "wait_ms=10001"] {
        let resp = app.get(&format!("/v1/integrity/head?{query}"), &key.secret).send().await.unwrap();
        let problem = common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
        assert_eq!(problem["parameter"], "wait_ms", "{query}");
    }
    // The longest wait allowed is accepted (and answers at once: the head covers 1).
    let resp = app.get("/v1/integrity/head?min_size=1&wait_ms=10000", &key.secret).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let again: SignedTreeHead = resp.json().await.unwrap();
    assert!(again.head.size >= head.head.size);
    app.shutdown().await;
}

/// A redaction reason is 1-1000 characters of prose, as its detail says: it had counted bytes
/// (refusing 600 two-byte letters) and let control characters through (found checking the
/// document's bounds against the server).
#[tokio::test]
async fn a_redaction_reason_is_counted_in_characters_and_must_be_prose() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let redact = |id: String, reason: String| {
        app.post_json(&format!("/v1/events/{id}/redact"), OPERATOR, &json!({ "reason": reason }))
            .header(stele_server::TENANT_HEADER, "acme")
    };
    let first = app.ingest_ok(&key.secret, &json!({"action": "a"})).await["id"].as_str().unwrap().to_owned();
    for reason in ["bad\u{1}reason".to_owned(), "é".repeat(1001), "  ".to_owned()] {
        let resp = redact(first.clone(), reason).send().await.unwrap();
        let problem = common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-parameter").await;
        assert_eq!(problem["parameter"], "reason");
    }
    let resp = redact(first, "é".repeat(1000)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    app.shutdown().await;
}
