//! The independent SCIM conformance checker `scim2-cli` (PyPI; `scim2 … test`, which runs
//! `scim2-tester`) against the real server: every check it makes must succeed. Afterwards
//! the SCIM log read through the OneUptime profile holds one row per request the checker
//! made (the server counts them too), each with the method, path and status it was answered
//! with.
//!
//! `scripts/test` installs the pinned checker (`tests/clients/requirements.txt`) and exports
//! `STELE_TEST_SCIM2` (the `scim2` program). Without it the test says why it is skipped;
//! with `STELE_TEST_REQUIRE_CLIENTS=1` (set by `scripts/test`) a missing checker fails it.

use crate::common;

use common::spawn_app;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_cli_finds_every_check_successful() {
    let Some(scim2) = std::env::var("STELE_TEST_SCIM2").ok().filter(|v| !v.trim().is_empty()) else {
        assert!(
            std::env::var("STELE_TEST_REQUIRE_CLIENTS").is_err(),
            "STELE_TEST_SCIM2 is not set but STELE_TEST_REQUIRE_CLIENTS is: scripts/test must install scim2-cli"
        );
        eprintln!("skipped: STELE_TEST_SCIM2 is not set, so scim2-cli is not installed (scripts/test installs it)");
        return;
    };
    let app = spawn_app().await;
    app.create_tenant_with_aliases("acme", &["8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"]).await;
    let (connection, token) = app.scim_connection("acme").await;
    let url = app.url(&format!("/scim/v2/{connection}"));
    let out = tokio::process::Command::new(&scim2)
        .args(["--url", &url, "test"])
        .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {token}"))
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .output()
        .await
        .expect("scim2 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    let results: Vec<&str> = stdout.lines().filter(|l| l.contains("SUCCESS") || l.contains("ERROR")).collect();
    assert!(!results.is_empty(), "scim2 printed no check results:\n{stdout}\n{stderr}");
    let failed: Vec<&&str> = results.iter().filter(|l| !l.contains("SUCCESS")).collect();
    assert!(
        failed.is_empty(),
        "scim2-cli checks failed:\n{}",
        failed.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
    );
    assert!(out.status.success(), "scim2 exited with {}:\n{stdout}\n{stderr}", out.status);

    // Every request the checker made is a row of the SCIM log, as the OneUptime profile reads it.
    let key = app.create_key("acme", &["events:read"]).await;
    let resp = app
        .http
        .post(app.url("/api/status-page-scim-log/count"))
        .header("ApiKey", &key.secret)
        .header("projectid", "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10")
        .json(&json!({"query": {}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let count: Value = resp.json().await.expect("json");
    let logged = count["count"].as_u64().expect("count");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("stele_scim_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(logged > 10, "the checker made many requests: {logged}");
    assert_eq!(logged as f64, counted, "one SCIM log row per request the server answered");
}
