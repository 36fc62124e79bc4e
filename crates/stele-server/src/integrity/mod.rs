//! Tamper evidence on the server: the head-signing key and the task that signs tree heads.

mod signer;

pub use signer::{head_covering_now, spawn_signer, SignerHandle};

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use stele_core::integrity::HeadSigner;

/// Why the signing key is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("STELE_SIGNING_KEY is not base64 of a 32-byte Ed25519 seed")]
    Configured,
    #[error("signing key file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

fn parse_seed(text: &str) -> Option<HeadSigner> {
    let bytes = B64.decode(text.trim()).ok()?;
    let seed: [u8; 32] = bytes.try_into().ok()?;
    Some(HeadSigner::from_seed(seed))
}

/// The configured key, else the one in `<data_dir>/signing.key`, else a new one written
/// there (mode 0600).
pub fn settle_signing_key(configured: Option<&str>, data_dir: &Path) -> Result<HeadSigner, SigningKeyError> {
    if let Some(text) = configured.filter(|t| !t.trim().is_empty()) {
        return parse_seed(text).ok_or(SigningKeyError::Configured);
    }
    let path = data_dir.join("signing.key");
    let err = |reason: String| SigningKeyError::File { path: path.clone(), reason };
    match std::fs::read_to_string(&path) {
        Ok(text) => return parse_seed(&text).ok_or_else(|| err("not base64 of a 32-byte Ed25519 seed".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    let signer = HeadSigner::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| err(e.to_string()))?;
    file.write_all(format!("{}\n", B64.encode(signer.seed())).as_bytes()).map_err(|e| err(e.to_string()))?;
    file.sync_all().map_err(|e| err(e.to_string()))?;
    tracing::info!(path = %path.display(), key_id = %signer.public().id(), "generated a tree-head signing key");
    Ok(signer)
}
