//! Signed tree heads: `{tenant, size, root, time}` signed with the deployment's Ed25519 key.
//! The signed bytes are the RFC 8785 (JCS) canonical JSON of those four members, so anyone
//! can rebuild them from the JSON a head is served as.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::hash::Hash;
use crate::{TenantId, Timestamp};

/// What a head states: the tenant's log had `size` events with this `root` at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeHead {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: TenantId,
    pub size: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"))]
    pub root: Hash,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub time: Timestamp,
}

impl TreeHead {
    /// The bytes that are signed: JCS of the head.
    pub fn signed_bytes(&self) -> Vec<u8> {
        // A struct of strings and an integer always canonicalises.
        serde_jcs::to_vec(self).unwrap_or_default()
    }
}

/// A tree head with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedTreeHead {
    #[serde(flatten)]
    pub head: TreeHead,
    /// Which signing key: the first 16 hex digits of SHA-256 of its public key.
    pub key_id: String,
    /// Ed25519 signature of the head's JCS bytes, base64.
    pub signature: String,
}

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not 32 bytes of base64 Ed25519 key")]
    BadKey,
    #[error("the signature is not a base64 Ed25519 signature")]
    BadSignature,
    #[error("the head was signed by key {signed_by}, not by {expected}")]
    WrongKey { signed_by: String, expected: String },
    #[error("the signature does not match the head")]
    Invalid,
}

/// The deployment's head-signing key.
pub struct HeadSigner {
    key: SigningKey,
}

impl HeadSigner {
    /// A new random key.
    pub fn generate() -> Self {
        HeadSigner { key: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// From its 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        HeadSigner { key: SigningKey::from_bytes(&seed) }
    }

    /// The 32-byte seed (to be kept secret).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn public(&self) -> HeadKey {
        HeadKey { key: self.key.verifying_key() }
    }

    pub fn sign(&self, head: TreeHead) -> SignedTreeHead {
        let signature = self.key.sign(&head.signed_bytes());
        SignedTreeHead { head, key_id: self.public().id(), signature: B64.encode(signature.to_bytes()) }
    }
}

/// A public key that verifies heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadKey {
    key: VerifyingKey,
}

impl HeadKey {
    /// From base64 of the 32 raw key bytes.
    pub fn from_base64(text: &str) -> Result<Self, SignatureError> {
        let bytes = B64.decode(text.trim()).map_err(|_| SignatureError::BadKey)?;
        let raw: [u8; 32] = bytes.try_into().map_err(|_| SignatureError::BadKey)?;
        VerifyingKey::from_bytes(&raw).map(|key| HeadKey { key }).map_err(|_| SignatureError::BadKey)
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.key.as_bytes())
    }

    /// First 16 hex digits of SHA-256 of the raw key.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.key.as_bytes())[..8])
    }

    pub fn verify(&self, signed: &SignedTreeHead) -> Result<(), SignatureError> {
        if signed.key_id != self.id() {
            return Err(SignatureError::WrongKey { signed_by: signed.key_id.clone(), expected: self.id() });
        }
        let bytes = B64.decode(&signed.signature).map_err(|_| SignatureError::BadSignature)?;
        let raw: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&raw);
        self.key.verify(&signed.head.signed_bytes(), &signature).map_err(|_| SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> TreeHead {
        TreeHead {
            tenant: TenantId::parse("acme").expect("id"),
            size: 3,
            root: crate::integrity::leaf_hash(b"x"),
            time: Timestamp::from_micros(1_700_000_000_000_000),
        }
    }

    /// The seed is what a deployment keeps: the key made from it again signs heads that the
    /// original public key verifies (found by `cargo mutants`: a constant seed went unnoticed).
    #[test]
    fn a_signer_restored_from_its_seed_is_the_same_key() {
        let signer = HeadSigner::generate();
        let restored = HeadSigner::from_seed(signer.seed());
        assert_eq!(restored.public(), signer.public());
        assert!(signer.public().verify(&restored.sign(head())).is_ok());
        let other = HeadSigner::generate();
        assert_ne!(other.seed(), signer.seed());
        assert!(matches!(other.public().verify(&signer.sign(head())), Err(SignatureError::WrongKey { .. })));
    }
}
