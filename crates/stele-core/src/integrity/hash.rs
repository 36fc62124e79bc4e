//! RFC 6962 / RFC 9162 hashing: SHA-256 with domain separation between leaves (0x00) and
//! interior nodes (0x01).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A SHA-256 tree hash (leaf, node or root). Serialised as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The root of the empty tree: SHA-256 of nothing.
    pub fn empty() -> Self {
        Hash(Sha256::digest([]).into())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, HashError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| HashError(text.chars().take(80).collect()))?;
        Ok(Hash(out))
    }

    /// Takes exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashError> {
        <[u8; 32]>::try_from(bytes).map(Hash).map_err(|_| HashError(format!("{} bytes", bytes.len())))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Appends the 64 lowercase hex digits to `out` (ingest writes each event's leaf into its
    /// stored JSON so, without a `String` of its own).
    pub fn write_hex(&self, out: &mut Vec<u8>) {
        let mut digits = [0u8; 64];
        // 32 bytes always take exactly 64 digits, so this does not fail.
        if hex::encode_to_slice(self.0, &mut digits).is_ok() {
            out.extend_from_slice(&digits);
        }
    }
}

/// Text that is not a 32-byte hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash (64 hex digits): {0:?}")]
pub struct HashError(String);

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hash::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Leaf hash: SHA-256(0x00 ‖ input).
pub fn leaf_hash(input: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(input);
    Hash(h.finalize().into())
}

/// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}
