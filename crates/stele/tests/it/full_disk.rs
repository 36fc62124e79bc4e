//! A full disk for real (issue #15): `stele serve` on a small `tmpfs` that a filler file
//! fills up under ingest. Ingest must answer 503 `storage-full` with a clear problem while
//! reads keep working; nothing acknowledged is lost and nothing of a refused request becomes
//! visible; when the filler is removed the server recovers by itself (no restart), and the
//! log still verifies offline against the signed head.
//!
//! Two variants: SQLite with its data directory on the tmpfs, and PostgreSQL with a cluster of
//! its own whose data directory is on the tmpfs and whose WAL is not (`initdb --waldir`). A
//! full WAL volume is not something a client can survive: PostgreSQL itself stops (PANIC) and
//! comes back only with space; Stele then answers 503 until it does. The README says so.
//!
//! Mounting needs root. Without it the tests say so and name the variant that runs instead:
//! `hardening.rs::a_full_store_answers_503_storage_full_and_readyz_follows` (SQLite's
//! `max_page_count` cap, the same code path from the writer up).

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{all_events, export_verifies_offline, tenant_with_key, Server, OPERATOR};
use serde_json::{json, Value};

/// Longest wait for a condition; a failure bound, not a measurement.
const WAIT: Duration = Duration::from_secs(60);

/// A tmpfs mounted for the test, unmounted when dropped (also on a failed assertion).
struct Mount(PathBuf);

impl Mount {
    /// `options` are added to the size (e.g. the owner of the file system's root).
    fn new(dir: &Path, size: &str, options: &str) -> Option<Mount> {
        if !is_root() {
            return None;
        }
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}{options}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_owned()))
    }

    fn available(&self) -> u64 {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(&self.0).output().expect("df runs");
        String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("df avail")
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().ok().is_some_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A PostgreSQL cluster of the test's own, run as the `postgres` user; stopped when dropped.
struct Cluster {
    bindir: PathBuf,
    data: PathBuf,
    url: String,
}

impl Cluster {
    /// `initdb` into `data` with the WAL in `wal`, then `pg_ctl start` on a free port.
    fn start(bindir: &Path, data: &Path, wal: &Path) -> Cluster {
        let status = Command::new("chown").arg("postgres").arg(wal).status().expect("chown runs");
        assert!(status.success(), "chown the WAL directory to postgres");
        let initdb = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bindir.join("initdb"))
            .arg("-D")
            .arg(data)
            .arg("--waldir")
            .arg(wal)
            .args(["-U", "stele", "--auth=trust", "-E", "UTF8"])
            .output()
            .expect("initdb runs");
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let cluster = Cluster {
            bindir: bindir.to_owned(),
            data: data.to_owned(),
            url: format!("postgres://stele@127.0.0.1:{port}/postgres"),
        };
        let log = wal.join("postgres.log");
        let started = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bindir.join("pg_ctl"))
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=on"))
            .args(["-w", "-t", "120", "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(started.status.success(), "pg_ctl start: {}", std::fs::read_to_string(&log).unwrap_or_default());
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// PostgreSQL's programs (`pg_config --bindir`), if installed.
fn postgres_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && dir.join("initdb").exists() && dir.join("pg_ctl").exists()).then_some(dir)
}

/// Fills the file system but `leave` bytes (the filler is written, not sparse).
fn fill(mount: &Mount, path: &Path, leave: u64) {
    let mut file = std::fs::File::create(path).expect("filler");
    let chunk = vec![0x5au8; 1 << 16];
    while mount.available() > leave + chunk.len() as u64 {
        for _ in 0..16 {
            if file.write_all(&chunk).is_err() {
                return;
            }
        }
    }
}

fn batch(round: usize) -> Vec<Value> {
    (0..20).map(|i| json!({"action": "disk.fill", "message": format!("r{round} i{i} {}", "x".repeat(1500))})).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_file_system_answers_503_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().expect("dir");
    let Some(mount) = Mount::new(dir.path(), "48m", "") else {
        println!(
            "a_full_file_system_answers_503_and_recovers_when_space_returns: skipped: not root, cannot mount a \
             tmpfs; the full-disk variant that runs is hardening.rs::a_full_store_answers_503_storage_full_and_readyz_follows \
             (SQLite's max_page_count)"
        );
        return;
    };
    println!("full disk: running the SQLite tmpfs variant (48 MiB tmpfs mounted at {})", dir.path().display());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let server = Server::start(&data, Some(OPERATOR));
    fill_refuse_recover(&server.url, &mount, &dir.path().join("filler"), dir.path()).await;
    drop(server);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_postgresql_volume_answers_503_and_recovers_when_space_returns() {
    let test = "a_full_postgresql_volume_answers_503_and_recovers_when_space_returns";
    if !is_root() {
        println!("{test}: skipped: not root, cannot mount a tmpfs or run PostgreSQL as the postgres user");
        return;
    }
    let Some(bindir) = postgres_bindir() else {
        // scripts/test installs PostgreSQL and says so by setting this variable.
        assert!(
            std::env::var("STELE_TEST_POSTGRES_URL").map_or(true, |u| u.trim().is_empty()),
            "{test}: STELE_TEST_POSTGRES_URL is set but PostgreSQL's initdb/pg_ctl were not found (pg_config --bindir)"
        );
        println!("{test}: skipped: PostgreSQL is not installed (no pg_config --bindir with initdb and pg_ctl)");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    // The postgres user reaches the WAL directory inside it.
    let status = Command::new("chmod").arg("0711").arg(dir.path()).status().expect("chmod runs");
    assert!(status.success());
    let volume = tempfile::tempdir().expect("volume mount point");
    let uid = Command::new("id").args(["-u", "postgres"]).output().expect("id runs");
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    let mount = Mount::new(volume.path(), "96m", &format!(",mode=0700,uid={uid}")).expect("tmpfs mounted as root");
    println!(
        "full disk: running the PostgreSQL variant (cluster data on a 96 MiB tmpfs at {}, WAL off it)",
        volume.path().display()
    );
    let wal = dir.path().join("wal");
    std::fs::create_dir(&wal).expect("wal dir");
    let cluster = Cluster::start(&bindir, &volume.path().join("pg"), &wal);
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let server = Server::start_with(&data, Some(OPERATOR), Some(&cluster.url));
    fill_refuse_recover(&server.url, &mount, &volume.path().join("filler"), dir.path()).await;
    drop(server);
    drop(cluster);
    drop(mount);
}

/// Fills `mount` with `filler` under ingest until a batch is refused, checks the refusal and
/// that reads work while full, removes the filler and checks the recovery, then that nothing
/// acknowledged is lost and the log verifies offline (`scratch` holds the export).
async fn fill_refuse_recover(url: &str, mount: &Mount, filler: &Path, scratch: &Path) {
    let url = url.to_owned();
    let key = tenant_with_key(&url, "acme").await;
    let http = reqwest::Client::new();
    let post = |events: Vec<Value>| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        async move {
            http.post(format!("{url}/v1/events")).bearer_auth(&key).json(&json!({ "events": events })).send().await
        }
    };

    // Room for a few hundred events, then the disk is full.
    fill(mount, filler, 2 << 20);
    let mut acked: Vec<(String, String)> = Vec::new();
    let mut refused = None;
    for round in 0..2000 {
        let events = batch(round);
        let resp = post(events.clone()).await.expect("sent");
        match resp.status().as_u16() {
            201 => {
                let body: Value = resp.json().await.expect("receipts");
                for (r, e) in body["events"].as_array().expect("receipts").iter().zip(&events) {
                    acked
                        .push((r["id"].as_str().expect("id").to_owned(), e["message"].as_str().expect("m").to_owned()));
                }
            }
            503 => {
                let retry = resp.headers().get("retry-after").is_some();
                let problem: Value = resp.json().await.expect("problem");
                refused = Some((problem, retry));
                break;
            }
            other => panic!("unexpected status {other}: {}", resp.text().await.unwrap_or_default()),
        }
    }
    let (problem, retry_after) = refused.expect("the disk filled up within 2000 batches");
    assert_eq!(problem["type"], "urn:stele:problem:storage-full", "{problem}");
    assert!(retry_after, "a 503 says when to retry");
    for internal in ["os error", "No space left", "could not", "disk is full", "db error"] {
        assert!(!problem.to_string().contains(internal), "no internal detail ({internal}): {problem}");
    }
    assert!(!acked.is_empty(), "some batches were acknowledged before the disk filled");
    println!("full disk: {} events acknowledged, then 503 storage-full", acked.len());

    // Full: reads work, and a refused batch leaves nothing behind.
    let count = |http: reqwest::Client, url: String, key: String| async move {
        let page: Value = http
            .get(format!("{url}/v1/events?limit=1"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("read while full")
            .json()
            .await
            .expect("page");
        page
    };
    let before = count(http.clone(), url.clone(), key.clone()).await;
    assert!(before["events"].as_array().is_some_and(|e| !e.is_empty()), "reads work while full: {before}");
    let again = post(batch(9999)).await.expect("sent");
    assert_eq!(again.status().as_u16(), 503, "still full");
    let stored = all_events(&url, &key).await;
    assert!(
        !stored.iter().any(|e| e["message"].as_str().is_some_and(|m| m.starts_with("r9999 "))),
        "nothing refused is stored"
    );

    // Space returns: the server recovers by itself.
    std::fs::remove_file(filler).expect("filler removed");
    let deadline = tokio::time::Instant::now() + WAIT;
    let recovered = loop {
        let resp = post(vec![json!({"action": "disk.back", "message": "space returned"})]).await.expect("sent");
        if resp.status().as_u16() == 201 {
            break resp.json::<Value>().await.expect("receipt");
        }
        assert_eq!(resp.status().as_u16(), 503, "only storage-full while recovering");
        assert!(tokio::time::Instant::now() < deadline, "did not recover within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(recovered["events"][0]["seq"].as_u64().is_some());
    // Filtered reads (the index, which also hit the full disk) see the new event too.
    let found: Value = http
        .get(format!("{url}/v1/events"))
        .query(&[("filter", "action eq \"disk.back\"")])
        .bearer_auth(&key)
        .send()
        .await
        .expect("filtered read")
        .json()
        .await
        .expect("page");
    assert_eq!(found["events"].as_array().map(Vec::len), Some(1), "{found}");

    // Nothing acknowledged is lost, seqs are gapless, the log verifies offline.
    let stored = all_events(&url, &key).await;
    let seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gapless seq");
    for (id, message) in &acked {
        let got = stored.iter().find(|e| e["id"] == *id).unwrap_or_else(|| panic!("acknowledged {id} lost"));
        assert_eq!(got["message"], *message);
    }
    export_verifies_offline(&url, &key, scratch).await;
}
