//! What the suites share: realistic batches, external programs found through the
//! environment, and waiting on a condition with a deadline.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stele_streams::{Batch, Item};

/// A stored Stele event as the server hands it over: `seq` first, `hash` last.
pub fn event_json(seq: u64, action: &str, status: &str) -> String {
    format!(
        concat!(
            r#"{{"seq":{seq},"id":"0190f2a1-7c3e-7000-8000-{seq:012}","time":"2024-05-01T12:00:{s:02}.250Z","#,
            r#""received_at":"2024-05-01T12:00:{s:02}.300Z","action":"{action}","status":"{status}","#,
            r#""actor":{{"type":"user","id":"u-{seq}","email":"user{seq}@example.com"}},"#,
            r#""targets":[{{"type":"doc","id":"d\"1]"}}],"truncated":false,"hash":"{hash}"}}"#
        ),
        seq = seq,
        s = seq % 60,
        action = action,
        status = status,
        hash = format!("{seq:064x}"),
    )
}

pub fn item(seq: u64) -> Item {
    let status = if seq % 2 == 1 { "success" } else { "failure" };
    Item {
        seq,
        time: format!("2024-05-01T12:00:{:02}.250Z", seq % 60),
        json: event_json(seq, "user.login", status),
        proof: None,
    }
}

pub fn batch(tenant: &str, seqs: std::ops::RangeInclusive<u64>) -> Batch {
    Batch { tenant: tenant.into(), items: seqs.map(item).collect(), head: None }
}

/// The external program named by `var`, or `None` (after saying why) when it is not set —
/// unless `STELE_TEST_REQUIRE_CLIENTS=1` (set by scripts/test), where its absence fails.
pub fn external(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::env::var("STELE_TEST_REQUIRE_CLIENTS").as_deref() == Ok("1") => {
            panic!("{var} is not set but STELE_TEST_REQUIRE_CLIENTS=1: scripts/test installs {what}")
        }
        _ => {
            eprintln!("skipped: {var} is not set (the path of {what}; scripts/test exports it)");
            None
        }
    }
}

/// A port that was free a moment ago (for programs that take a port number).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Polls `check` until it yields a value, failing after `limit` with `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills and reaps a child process when dropped (also when a test panics).
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
