//! The browser tests' tools: Debian's Chromium and the pinned npm packages
//! (`tests/browser/package-lock.json`: playwright-core, axe-core, oidc-provider) that
//! `scripts/test` installs under `target/clients/browser/` and names in
//! `STELE_TEST_BROWSER_NODE_PATH` and `STELE_TEST_CHROMIUM`.

use std::path::PathBuf;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium and the node modules, or why not.
pub fn tools() -> Result<(PathBuf, PathBuf), String> {
    let from_env = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty()).map(PathBuf::from);
    let modules = from_env("STELE_TEST_BROWSER_NODE_PATH")
        .unwrap_or_else(|| workspace().join("target/clients/browser/node_modules"));
    let chromium = from_env("STELE_TEST_CHROMIUM").unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    for package in ["playwright-core", "axe-core", "oidc-provider"] {
        if !modules.join(package).is_dir() {
            return Err(format!("{} has no {package}", modules.display()));
        }
    }
    if !chromium.is_file() {
        return Err(format!("no Chromium at {}", chromium.display()));
    }
    Ok((chromium, modules))
}

/// The tools, or `None` after saying why the test is skipped — which fails the test under
/// `STELE_TEST_REQUIRE_CLIENTS` (set by `scripts/test`).
pub fn tools_or_skip() -> Option<(PathBuf, PathBuf)> {
    match tools() {
        Ok(t) => Some(t),
        Err(why) => {
            assert!(
                std::env::var("STELE_TEST_REQUIRE_CLIENTS").is_err(),
                "{why}, but STELE_TEST_REQUIRE_CLIENTS is set: scripts/test must install Chromium and the browser packages"
            );
            eprintln!("skipped: {why} (scripts/test installs them)");
            None
        }
    }
}
