//! The deployment secret key and the sealing of secrets Stele must keep usable (a tenant's
//! HS256 JWT secret): XChaCha20-Poly1305 under a 32-byte key from `STELE_SECRET_KEY`
//! (base64; the same on every node sharing a database) or generated into
//! `<data_dir>/secret.key` (mode 0600) on first start. The key is never logged or printed.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Format byte in front of a sealed secret (room for another scheme later).
const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 24;

/// Secret text from the environment; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(***)")
    }
}

/// Why a secret key text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
pub struct BadSecretKey;

/// A sealed secret could not be opened: another key sealed it, or it was altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed secret cannot be opened with this deployment's secret key")]
pub struct OpenError;

/// The deployment's 32-byte secret key.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// Parses base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, BadSecretKey> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| BadSecretKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| BadSecretKey)?;
        Ok(Self(key))
    }

    /// The key as standard base64 (what `secret.key` holds).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Encrypts and authenticates `plaintext`, bound to `context` (e.g. the tenant id, so a
    /// sealed value copied to another tenant does not open).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            // Encryption fails only for messages beyond ~256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`SecretKey::seal`] produced with the same key and context.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let rest = sealed.strip_prefix(&[SEALED_V1]).ok_or(OpenError)?;
        if rest.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher().decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: context }).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"acme", b"s3cret-s3cret-s3cret-s3cret-s3cret");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "not in clear");
        assert_eq!(key.open(b"acme", &sealed).as_deref(), Ok(&b"s3cret-s3cret-s3cret-s3cret-s3cret"[..]));
        assert_eq!(key.open(b"globex", &sealed), Err(OpenError), "bound to its context");
        assert_eq!(SecretKey::generate().open(b"acme", &sealed), Err(OpenError), "another key");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(key.open(b"acme", &altered), Err(OpenError));
        assert_eq!(key.open(b"acme", &[]), Err(OpenError));
        assert_ne!(key.seal(b"acme", b"x"), key.seal(b"acme", b"x"), "fresh nonce each time");
    }

    #[test]
    fn base64_forms() {
        let key = SecretKey::generate();
        let text = key.to_base64();
        let back = SecretKey::from_base64(&text).expect("round trip");
        assert_eq!(back.0, key.0);
        assert!(SecretKey::from_base64(&URL_SAFE_NO_PAD.encode(key.0)).is_ok());
        assert_eq!(SecretKey::from_base64("c2hvcnQ=").map(|_| ()), Err(BadSecretKey));
        assert_eq!(SecretKey::from_base64("not base64!").map(|_| ()), Err(BadSecretKey));
        assert!(!format!("{key:?} {:?}", SecretText::new("x")).contains(&text));
    }
}
