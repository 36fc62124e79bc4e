//! The S3 sink against a real S3 API: moto's server (PyPI `moto[server]`, pinned in
//! crates/stele-server/tests/clients/requirements.txt), found through STELE_TEST_MOTO.

use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::{json, Value};
use stele_streams::{parse, sink, Batch, Kind, ParseOptions, SinkContext};

use crate::common::{batch, eventually, external, free_port, Reaped};

const BUCKET: &str = "stele-audit";

fn with_proofs(mut b: Batch) -> Batch {
    let size = b.items.last().map_or(0, |i| i.seq);
    b.head = Some(json!({"size": size, "root": "ab".repeat(32), "signature": "sig"}));
    for item in &mut b.items {
        item.proof = Some(json!({"leaf_index": item.seq - 1, "tree_size": size, "path": ["cd".repeat(32)]}));
    }
    b
}

#[tokio::test]
async fn batches_become_sorted_gzipped_export_objects_in_a_real_s3() {
    let Some(moto) = external("STELE_TEST_MOTO", "moto_server (PyPI moto[server])") else { return };
    let port = free_port();
    let child = std::process::Command::new(&moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    let _moto = Reaped(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "moto_server to answer", || {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        async move { http.get(&endpoint).send().await.ok().map(|_| ()) }
    })
    .await;

    let credentials = Credentials::new("AKIDSTELETEST", "stele-test-secret");
    let bucket = Bucket::new(endpoint.parse().expect("url"), UrlStyle::Path, BUCKET, "us-east-1").expect("bucket");
    let url = bucket.create_bucket(&credentials).sign(Duration::from_secs(60));
    let created = http.put(url).header("content-length", "0").send().await.expect("create bucket");
    assert!(created.status().is_success(), "create bucket: {}", created.status());

    let Value::Object(fields) = json!({
        "endpoint": endpoint, "bucket": BUCKET, "prefix": "audit/", "path_style": true,
        "access_key_id": "AKIDSTELETEST", "secret_access_key": "stele-test-secret",
        "max_events": 500, "max_seconds": 30,
    }) else {
        panic!("object")
    };
    let (destination, secrets) = parse(Kind::S3, &fields, ParseOptions { allow_http: true }).expect("parse");
    let s = sink(&destination, &secrets, &SinkContext::default()).expect("sink");
    let policy = s.policy();
    assert_eq!((policy.max_events, policy.max_wait, policy.needs_proofs), (500, Duration::from_secs(30), true));

    // Delivered out of order, and the first one twice (a retry): two objects, sorted by seq.
    let b1 = with_proofs(batch("acme", 1..=9));
    let b2 = with_proofs(batch("acme", 10..=12));
    s.deliver(&b2).await.expect("second batch");
    s.deliver(&b1).await.expect("first batch");
    s.deliver(&b1).await.expect("first batch again");

    let mut list = ListObjectsV2::new(&bucket, Some(&credentials));
    list.with_prefix("audit/");
    let listed = http.get(list.sign(Duration::from_secs(60))).send().await.expect("list").text().await.expect("body");
    let listed = ListObjectsV2::parse_response(&listed).expect("list response");
    let keys: Vec<&str> = listed.contents.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "audit/acme/00000000000000000001-00000000000000000009.ndjson.gz",
            "audit/acme/00000000000000000010-00000000000000000012.ndjson.gz",
        ]
    );

    for (key, b) in keys.iter().zip([&b1, &b2]) {
        let url = bucket.get_object(Some(&credentials), key).sign(Duration::from_secs(60));
        let response = http.get(url).send().await.expect("get");
        assert!(response.status().is_success());
        assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/x-ndjson"));
        let gz = response.bytes().await.expect("object");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).expect("gunzip");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + b.items.len());
        let header: Value = serde_json::from_str(lines[0]).expect("header");
        assert_eq!(header, json!({"stele_export": 1, "tenant": "acme", "complete": false, "head": b.head}));
        assert!(lines[0].starts_with(r#"{"stele_export":1,"tenant":"acme","complete":false,"head":"#));
        for (line, item) in lines[1..].iter().zip(&b.items) {
            // The stored bytes, then the proof.
            let stored = item.json.strip_suffix('}').expect("object");
            assert!(line.starts_with(stored), "{line}");
            let event: Value = serde_json::from_str(line).expect("event line");
            assert_eq!(event["seq"], item.seq);
            assert_eq!(Some(&event["proof"]), item.proof.as_ref());
        }
        eprintln!("s3 object {key}: {} events, first line {}", b.items.len(), lines[0]);
    }
}
