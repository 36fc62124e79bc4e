//! The `stele` client commands against a real server process.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::{stele, Server, OPERATOR};
use serde_json::Value;

fn run(url: &str, key: &str, args: &[&str]) -> Output {
    let out = stele().args(args).env("STELE_SERVER", url).env("STELE_KEY", key).output().expect("stele runs");
    out
}

fn ok_json(out: Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn tenants_keys_send_get_list() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    let url = server.url.clone();

    let tenant =
        ok_json(run(&url, OPERATOR, &["tenants", "create", "acme", "--name", "Acme", "--alias", "acme.example.com"]));
    assert_eq!(tenant["aliases"][0], "acme.example.com");
    let tenants = ok_json(run(&url, OPERATOR, &["tenants", "list"]));
    assert_eq!(tenants.as_array().map(Vec::len), Some(1));

    let key = ok_json(run(
        &url,
        OPERATOR,
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--name",
            "pipeline",
            "--scope",
            "events:write",
            "--scope",
            "events:read",
        ],
    ));
    let secret = key["secret"].as_str().expect("secret").to_owned();
    let listed = ok_json(run(&url, OPERATOR, &["keys", "list", "--tenant", "acme"]));
    assert_eq!(listed[0]["id"], key["id"]);
    assert!(listed[0].get("secret").is_none());

    let file = dir.path().join("events.ndjson");
    let lines: Vec<String> =
        (0..25).map(|i| format!("{{\"action\":\"cli.test\",\"message\":\"event {i}\"}}")).collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let sent = run(&url, &secret, &["send", file.to_str().expect("path"), "--batch-size", "10"]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));

    let listed = run(&url, &secret, &["list", "--since", "1h"]);
    assert!(listed.status.success());
    let events: Vec<Value> =
        String::from_utf8_lossy(&listed.stdout).lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect();
    let cli_events: Vec<&Value> = events.iter().filter(|e| e["action"] == "cli.test").collect();
    assert_eq!(cli_events.len(), 25);
    assert_eq!(cli_events[0]["message"], "event 24", "newest first");
    assert_eq!(events.iter().filter(|e| e["action"] == "stele.key.created").count(), 1);

    let limited = run(&url, &secret, &["list", "--limit", "3"]);
    assert_eq!(String::from_utf8_lossy(&limited.stdout).lines().count(), 3);

    let id = cli_events[0]["id"].as_str().expect("id");
    let got = ok_json(run(&url, &secret, &["get", id]));
    assert_eq!(got["message"], "event 24");

    let missing = run(&url, &secret, &["get", "0193a0c4-0000-7000-8000-000000000000"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));

    let revoked = ok_json(run(&url, OPERATOR, &["keys", "revoke", key["id"].as_str().expect("id")]));
    assert!(revoked["revoked_at"].is_string());
    let refused = run(&url, &secret, &["list"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
}

#[test]
fn bad_send_input_is_refused_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    ok_json(run(&server.url, OPERATOR, &["tenants", "create", "acme"]));
    let key = ok_json(run(
        &server.url,
        OPERATOR,
        &["keys", "create", "--tenant", "acme", "--name", "k", "--scope", "events:write", "--scope", "events:read"],
    ));
    let secret = key["secret"].as_str().expect("secret");
    let file = dir.path().join("bad.ndjson");
    std::fs::write(&file, "{\"action\":\"ok\"}\n{\"action\": 5}\n").expect("write");
    let out = run(&server.url, secret, &["send", file.to_str().expect("path")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("events[1].action"), "{stderr}");
    let listed = run(&server.url, secret, &["list"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("\"action\":\"ok\""), "nothing of the batch was stored");
}

#[test]
fn generated_operator_key_is_private_and_used_by_default() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), None);
    let path = dir.path().join("admin.key");
    let mode = std::fs::metadata(&path).expect("admin.key written").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = stele()
        .args(["tenants", "create", "acme"])
        .env("STELE_SERVER", &server.url)
        .env_remove("STELE_KEY")
        .env("STELE_DATA_DIR", dir.path())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same key is read again on the next start.
    let first = std::fs::read_to_string(&path).expect("read");
    server.kill();
    let _again = Server::start(dir.path(), None);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), first);
}

#[test]
fn query_filters_sorts_and_formats() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    let url = server.url.clone();
    ok_json(run(&url, OPERATOR, &["tenants", "create", "acme"]));
    let key = ok_json(run(
        &url,
        OPERATOR,
        &["keys", "create", "--tenant", "acme", "--name", "k", "--scope", "events:write", "--scope", "events:read"],
    ));
    let secret = key["secret"].as_str().expect("secret").to_owned();
    let file = dir.path().join("events.ndjson");
    let lines: Vec<String> = (0..30)
        .map(|i| {
            let status = if i % 3 == 0 { "failure" } else { "success" };
            format!(r#"{{"action":"user.login","status":"{status}","message":"login number {i}","actor":{{"email":"u{}@acme.io"}}}}"#, i % 5)
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    assert!(run(&url, &secret, &["send", file.to_str().expect("path")]).status.success());

    let q = |args: &[&str]| {
        let mut all = vec!["query"];
        all.extend_from_slice(args);
        let out = run(&url, &secret, &all);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    let ndjson = q(&[
        "--filter",
        r#"status eq "failure" and actor.email eq "u0@acme.io""#,
        "--format",
        "ndjson",
        "--limit",
        "1000",
    ]);
    let found: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    // i % 3 == 0 and i % 5 == 0: i = 0, 15
    assert_eq!(found.len(), 2);
    assert_eq!(found[0]["message"], "login number 15", "newest first");

    let sorted = q(&["--filter", r#"action eq "user.login""#, "--sort", "seq", "--format", "json", "--limit", "1000"]);
    let sorted: Vec<Value> = serde_json::from_str(&sorted).expect("json array");
    assert_eq!(sorted.len(), 30);
    assert!(sorted.windows(2).all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));

    let csv = q(&["--q", "number 7", "--format", "csv"]);
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("time,seq,action,status,actor,target,message,id"));
    let row = rows.next().expect("one row");
    assert!(row.contains("login number 7") && row.contains("u2@acme.io"), "{row}");
    assert_eq!(rows.next(), None);

    // CSV formula injection: a cell that would start a formula is written with a leading '.
    let formula = dir.path().join("formula.ndjson");
    std::fs::write(&formula, r#"{"action":"=HYPERLINK(\"https://evil.example\")","message":"formula cell"}"#)
        .expect("write");
    assert!(run(&url, &secret, &["send", formula.to_str().expect("path")]).status.success());
    let csv = q(&["--q", "formula", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let row = reader.records().next().expect("one row").expect("row");
    assert_eq!(&row[2], "'=HYPERLINK(\"https://evil.example\")", "{csv}");
    assert_eq!(&row[6], "formula cell", "plain cells unchanged");

    let table = q(&["--limit", "3"]);
    assert_eq!(table.lines().count(), 4, "header and three rows: {table}");
    assert!(table.lines().next().expect("header").starts_with("time"));

    let bad = run(&url, &secret, &["query", "--filter", "actr.email eq \"x\""]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown attribute"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn tenants_update_sets_aliases_and_jwt_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    let url = server.url.clone();
    ok_json(run(&url, OPERATOR, &["tenants", "create", "acme", "--alias", "old.example.com"]));

    let updated =
        ok_json(run(&url, OPERATOR, &["tenants", "update", "acme", "--alias", "portal.acme.io", "--alias", "acme-2"]));
    assert_eq!(updated["aliases"], serde_json::json!(["acme-2", "portal.acme.io"]));
    assert_eq!(updated["jwt"], Value::Null);

    let secret_file = dir.path().join("hs256.secret");
    std::fs::write(&secret_file, "a-shared-secret-of-at-least-32-bytes!!\n").expect("write");
    let updated = ok_json(run(
        &url,
        OPERATOR,
        &[
            "tenants",
            "update",
            "acme",
            "--jwt-hs256-secret-file",
            secret_file.to_str().expect("path"),
            "--jwt-issuer",
            "https://idp.acme.io",
            "--jwt-audience",
            "stele",
        ],
    ));
    assert_eq!(
        updated["jwt"],
        serde_json::json!({"alg": "HS256", "configured": true, "issuer": "https://idp.acme.io", "audience": "stele"})
    );
    assert_eq!(updated["aliases"], serde_json::json!(["acme-2", "portal.acme.io"]), "aliases kept");
    assert!(!updated.to_string().contains("a-shared-secret"), "the secret is never printed");

    let pem_file = dir.path().join("ed25519.pem");
    std::fs::write(
        &pem_file,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAERERERERERERERERERERERERERERERERERERERERERE=\n-----END PUBLIC KEY-----\n",
    )
    .expect("write");
    let pem = pem_file.to_str().expect("path");
    let updated = ok_json(run(
        &url,
        OPERATOR,
        &["tenants", "update", "acme", "--jwt-public-key-file", pem, "--jwt-alg", "EdDSA"],
    ));
    assert_eq!(updated["jwt"], serde_json::json!({"alg": "EdDSA", "configured": true}));

    let updated = ok_json(run(&url, OPERATOR, &["tenants", "update", "acme", "--clear-jwt", "--clear-aliases"]));
    assert_eq!(updated["jwt"], Value::Null);
    assert_eq!(updated["aliases"], serde_json::json!([]));

    // Refusals: nothing to change, a key without its algorithm, two JWT choices, a bad key.
    for args in [
        vec!["tenants", "update", "acme"],
        vec!["tenants", "update", "acme", "--jwt-public-key-file", pem],
        vec!["tenants", "update", "acme", "--clear-jwt", "--jwt-hs256-secret-file", pem],
        vec!["tenants", "update", "acme", "--jwt-public-key-file", pem, "--jwt-alg", "RS256"],
        vec!["tenants", "update", "acme", "--jwt-issuer", "https://idp.acme.io"],
    ] {
        let out = run(&url, OPERATOR, &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "{args:?}: no message");
    }
    let bad = run(&url, OPERATOR, &["tenants", "update", "acme", "--jwt-public-key-file", pem, "--jwt-alg", "RS256"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("public_key_pem"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let listed = ok_json(run(&url, OPERATOR, &["tenants", "list"]));
    assert_eq!(listed[0]["aliases"], serde_json::json!([]), "refusals changed nothing");
}

#[test]
fn members_groups_and_scim_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(OPERATOR));
    let url = server.url.clone();
    ok_json(run(&url, OPERATOR, &["tenants", "create", "acme"]));
    let ana = ok_json(run(
        &url,
        OPERATOR,
        &["members", "add", "--tenant", "acme", "--email", "ana@acme.io", "--name", "Ana"],
    ));
    let id = ana["id"].as_str().expect("id").to_owned();
    let group = ok_json(run(
        &url,
        OPERATOR,
        &["groups", "create", "--tenant", "acme", "--name", "Auditors", "--role", "auditor", "--member", &id],
    ));
    assert_eq!(group["members"][0]["id"], id.as_str());
    let got = ok_json(run(&url, OPERATOR, &["members", "get", "--tenant", "acme", &id]));
    assert_eq!(got["effective_role"], "auditor");
    let invited = ok_json(run(&url, OPERATOR, &["members", "invite", "--tenant", "acme", &id]));
    assert!(invited["invite_url"].as_str().is_some_and(|u| u.contains("/invite/acme/")), "{invited}");
    let updated = ok_json(run(&url, OPERATOR, &["members", "update", "--tenant", "acme", &id, "--active", "false"]));
    assert_eq!(updated["active"], false);
    let listed = ok_json(run(&url, OPERATOR, &["members", "list", "--tenant", "acme"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let reader = ok_json(run(
        &url,
        OPERATOR,
        &["keys", "create", "--tenant", "acme", "--name", "embed", "--scope", "events:read"],
    ));
    let reader = reader["secret"].as_str().expect("secret").to_owned();
    let link = ok_json(run(&url, &reader, &["viewer-link", "--filter", "action sw \"user.\"", "--ttl-seconds", "60"]));
    assert!(link["url"].as_str().is_some_and(|u| u.contains("/viewer-link/acme/")), "{link}");
    let refused = run(&url, &reader, &["viewer-link", "--ttl-seconds", "5"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("ttl_seconds"));
    let conn = ok_json(run(&url, OPERATOR, &["scim-connections", "create", "--tenant", "acme", "--name", "Okta"]));
    assert!(conn["token"].as_str().is_some_and(|t| t.starts_with("scim_")));
    let conn_id = conn["id"].as_str().expect("id");
    let revoked = run(&url, OPERATOR, &["scim-connections", "revoke", "--tenant", "acme", conn_id]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let removed = run(&url, OPERATOR, &["members", "remove", "--tenant", "acme", &id]);
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let missing = run(&url, OPERATOR, &["members", "get", "--tenant", "acme", &id]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
}

/// The server runs without transparent huge pages (`main.rs::without_huge_pages`): its
/// `/proc/<pid>/status` says `THP_enabled: 0`, where this test process's says 1.
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let thp = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/<pid>/status");
        status.lines().find_map(|l| l.strip_prefix("THP_enabled:")).map(|v| v.trim().to_owned())
    };
    let Some(mine) = thp(std::process::id()) else {
        println!("skipped: this kernel's /proc/<pid>/status has no THP_enabled line (Linux < 5.0)");
        return;
    };
    if mine != "1" {
        // The control needs a parent with them on: children inherit the setting.
        println!("skipped: this test process runs with transparent huge pages off already (THP_enabled {mine})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(OPERATOR));
    assert_eq!(thp(server.child.id()).as_deref(), Some("0"), "stele serve turned transparent huge pages off");
}
