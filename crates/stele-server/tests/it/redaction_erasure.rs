//! Redaction (issue #10, finding 10), through the real server: secrets hidden in a form-encoded
//! string body, in the query string of `request.path`, in `metadata`, in `context` and in
//! Retraced `fields`/`metadata` are stored as "[REDACTED]" (both backends); and after
//! `POST /v1/events/{id}/redact` the erased words are gone from the SQLite database file, the
//! index file and their WALs, not only from query results.

use crate::common;

use common::{backend, spawn_app, Backend, TestApp, OPERATOR};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn get_event(app: &TestApp, secret: &str, id: &str) -> Value {
    let resp = app.get(&format!("/v1/events/{id}"), secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("event JSON")
}

#[tokio::test]
async fn secrets_in_form_bodies_paths_metadata_context_and_retraced_fields_are_stored_redacted() {
    let app = spawn_app().await;
    app.create_tenant_with_aliases("acme", &["acme-project"]).await;
    let key = app.create_key("acme", &["events:write", "events:read"]).await;
    let receipt = app
        .ingest_ok(
            &key.secret,
            &json!({
                "action": "user.login",
                "context": {"session_token": "ctx-hunter2", "env": "prod"},
                "request": {"method": "POST", "path": "/login?token=path-hunter2&x=1",
                            "body": "user=ana&password=form-hunter2", "response_body": "{\"access_token\":\"json-hunter2\"}"},
                "metadata": {"apiKey": "meta-hunter2", "note": "callback?client_secret=note-hunter2", "kept": "visible"}
            }),
        )
        .await;
    let event = get_event(&app, &key.secret, receipt["id"].as_str().expect("id")).await;
    let text = event.to_string();
    assert!(!text.contains("hunter2"), "a secret was stored: {text}");
    assert_eq!(event["request"]["path"], "/login?token=[REDACTED]&x=1");
    assert_eq!(event["request"]["body"], "user=ana&password=[REDACTED]");
    assert_eq!(event["request"]["response_body"], "{\"access_token\":\"[REDACTED]\"}");
    assert_eq!(event["metadata"]["apiKey"], "[REDACTED]");
    assert_eq!(event["metadata"]["note"], "callback?client_secret=[REDACTED]");
    assert_eq!(event["context"]["session_token"], "[REDACTED]");
    // Positive control: what is not a secret is kept as sent.
    assert_eq!(event["metadata"]["kept"], "visible");
    assert_eq!(event["context"]["env"], "prod");
    assert!(text.contains("user=ana"));

    let body = json!({"action": "sso.login", "crud": "c", "actor": {"id": "u1", "fields": {"password": "actor-hunter2"}},
        "fields": {"client_secret": "fields-hunter2", "plan": "pro"}, "metadata": {"auth_token": "retraced-hunter2"}});
    let resp = app.retraced_publish(&key.secret, "acme-project", &body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
    let events = app.user_events("acme").await;
    let stored = events.iter().find(|e| e["action"] == "sso.login").expect("Retraced event stored");
    assert!(!stored.to_string().contains("hunter2"), "a Retraced secret was stored: {stored} ({id})");
    assert_eq!(stored["metadata"]["fields"], json!({"client_secret": "[REDACTED]", "plan": "pro"}));
    assert_eq!(stored["metadata"]["metadata"]["auth_token"], "[REDACTED]");
    assert_eq!(stored["metadata"]["actor"]["fields"]["password"], "[REDACTED]");
    app.shutdown().await;
}

/// Whether `word` occurs in the bytes of the file at `path` (absent file: no).
fn file_holds(path: &std::path::Path, word: &str) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.windows(word.len()).any(|w| w == word.as_bytes()))
}

/// Whether `word` occurs in any of `files`.
fn any_holds(files: &[std::path::PathBuf], word: &str) -> bool {
    files.iter().any(|f| file_holds(f, word))
}

#[tokio::test]
async fn redacted_words_are_gone_from_the_sqlite_database_file_and_wal() {
    if backend() != Backend::Sqlite {
        eprintln!("SQLite files only; the PostgreSQL guarantee is documented in the README");
        return;
    }
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let db = app.data_dir().join("stele.db");
    let wal = app.data_dir().join("stele.db-wal");
    let index = [app.data_dir().join("stele.db-index"), app.data_dir().join("stele.db-index-wal")];
    // Unique words in every column family the event reaches: JSON, columns, terms, full text.
    let (word, email) = ("zanzibarquokka", "quokka.mailbox@example.org");
    let receipt = app
        .ingest_ok(
            &key.secret,
            &json!({"action": "user.login", "message": format!("login by {word} from the lab"),
                    "actor": {"email": email, "name": word}, "targets": [{"id": "zanzibartarget"}],
                    "context": {"lab": "zanzibarcontext"}}),
        )
        .await;
    // Other events before and after, so the index holds more than one document.
    for i in 0..20 {
        app.ingest_ok(&key.secret, &json!({"action": "user.login", "message": format!("ordinary login {i}")})).await;
    }
    let id = receipt["id"].as_str().expect("id").to_owned();
    let found: Value =
        app.get(&format!("/v1/events?q={word}"), &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(found["events"].as_array().map(Vec::len), Some(1), "searchable before");
    // Positive control: the words are in the files before the redaction — in the log, and
    // in the index once the background indexer has reached the event (waited for, so that
    // the redaction has index entries to purge).
    let words = [word, email, "zanzibartarget", "zanzibarcontext"];
    for w in words {
        assert!(file_holds(&db, w) || file_holds(&wal, w), "{w} is stored before the redaction");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !words.iter().all(|w| any_holds(&index, w)) {
        assert!(std::time::Instant::now() < deadline, "the indexer never indexed the event");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let resp = app
        .post_json(&format!("/v1/events/{id}/redact"), OPERATOR, &json!({"reason": "erasure request 7"}))
        .header(stele_server::TENANT_HEADER, "acme")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    for w in [word, email, "zanzibartarget", "zanzibarcontext"] {
        assert!(!file_holds(&db, w), "{w} is still in the database file");
        assert!(!file_holds(&wal, w), "{w} is still in the WAL");
        assert!(!any_holds(&index, w), "{w} is still in the index file or its WAL");
    }
    // The rest of the log is intact and searchable.
    let found: Value =
        app.get("/v1/events?q=ordinary", &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(found["events"].as_array().map(Vec::len), Some(20));
    let found: Value =
        app.get(&format!("/v1/events?q={word}"), &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(found["events"].as_array().map(Vec::len), Some(0));
    app.shutdown().await;
}
