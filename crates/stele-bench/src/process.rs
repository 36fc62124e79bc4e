//! A `stele serve` process for the benchmarks, measured from outside: the load generator
//! and the server no longer share an allocator, a runtime or a CPU account, so the server's
//! CPU time, disk writes and memory can be read from `/proc/<pid>` (Linux).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A running `stele serve` child (killed when dropped).
pub struct ServerProcess {
    child: Child,
    pub base: String,
    pub admin: String,
}

impl ServerProcess {
    /// Starts the current executable (`stele`) as `stele serve` on a free port with its data
    /// in `data_dir`, `database` (None: SQLite there) and the TOML `config` text, and waits
    /// until `/healthz` answers.
    pub async fn start(data_dir: &Path, database: Option<&str>, config: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the stele binary")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let admin = format!("bench-operator-{}", rand::random::<u64>());
        let config_path = data_dir.join("bench.toml");
        std::fs::write(&config_path, config)?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .env("STELE_CONFIG", &config_path)
            .env("STELE_LISTEN", format!("127.0.0.1:{port}"))
            .env("STELE_DATA_DIR", data_dir)
            .env("STELE_ADMIN_KEY", &admin)
            .env("STELE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match database {
            Some(url) => command.env("STELE_DATABASE_URL", url),
            None => command.env_remove("STELE_DATABASE_URL"),
        };
        let child = command.spawn().context("starting stele serve")?;
        let server = ServerProcess { child, base: format!("http://127.0.0.1:{port}"), admin };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Polls `/healthz` (a process that is starting has nothing to be notified by).
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("stele serve did not become ready within 60 s")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resource use so far.
    pub fn usage(&self) -> Option<Usage> {
        Usage::of(self.pid())
    }

    /// The server's resource use so far, with its peak resident memory (`VmHWM`) reset to
    /// its current size first, so that the next [`Cost::between`] reports the peak of the
    /// phase that starts now rather than of the whole run (a single-event phase after the
    /// batches would otherwise inherit the batches' peak). If the kernel refuses the reset,
    /// says so and reports the peak since the server started.
    pub fn phase_start(&self) -> Option<Usage> {
        if let Err(e) = reset_peak_rss(self.pid()) {
            eprintln!("cannot reset the server's peak RSS ({e}): the peak column is since the server started");
        }
        self.usage()
    }

    /// Kills and reaps the server (the benchmark needs no graceful shutdown).
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().ok();
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's CPU time, bytes it caused to be written to storage, and resident memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: f64,
    /// `write_bytes` of `/proc/<pid>/io`, if the kernel shows it.
    pub write_bytes: Option<u64>,
    pub rss_bytes: u64,
    /// Peak resident memory (`VmHWM`).
    pub peak_rss_bytes: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Option<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok();
        let write_bytes = io.as_deref().and_then(|t| field(t, "write_bytes:"));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |name: &str| field(&status, name).map(|k| k * 1024);
        Some(Usage {
            cpu_seconds: ticks / clock_ticks(),
            write_bytes,
            rss_bytes: kib("VmRSS:").unwrap_or(0),
            peak_rss_bytes: kib("VmHWM:").unwrap_or(0),
        })
    }
}

/// Resets a process's peak resident memory (`VmHWM`) to its current size: `5` written to
/// `clear_refs` (Linux ≥ 4.0, proc(5)).
pub fn reset_peak_rss(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// The number after `name` on its line of a `/proc` file.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What a scenario cost the server: per event CPU and bytes written, and memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub cpu_us_per_event: f64,
    pub bytes_per_event: Option<f64>,
    pub rss_mib: f64,
    /// Peak resident memory: of the phase when it began with [`ServerProcess::phase_start`].
    pub peak_rss_mib: f64,
}

impl Cost {
    pub fn between(before: Usage, after: Usage, events: usize) -> Cost {
        let n = events.max(1) as f64;
        Cost {
            cpu_us_per_event: (after.cpu_seconds - before.cpu_seconds) * 1e6 / n,
            bytes_per_event: match (before.write_bytes, after.write_bytes) {
                (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / n),
                _ => None,
            },
            rss_mib: after.rss_bytes as f64 / (1024.0 * 1024.0),
            peak_rss_mib: after.peak_rss_bytes as f64 / (1024.0 * 1024.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After 256 MiB were touched and freed, the peak shows them; after the reset it is back
    /// near the current size.
    #[test]
    fn the_peak_rss_resets_to_the_current_size() {
        let me = std::process::id();
        let big = vec![1u8; 256 << 20];
        assert!(big.iter().step_by(4096).all(|b| *b == 1));
        drop(big);
        let before = Usage::of(me).expect("reading /proc/self");
        assert!(
            before.peak_rss_bytes >= before.rss_bytes + (200 << 20),
            "the peak shows the freed 256 MiB (peak {} B, now {} B)",
            before.peak_rss_bytes,
            before.rss_bytes
        );
        reset_peak_rss(me).expect("writing clear_refs");
        let after = Usage::of(me).expect("reading /proc/self");
        assert!(
            after.peak_rss_bytes < before.rss_bytes + (64 << 20),
            "the peak is back near the current size (peak {} B, was {} B, now {} B)",
            after.peak_rss_bytes,
            before.peak_rss_bytes,
            after.rss_bytes
        );
    }
}
