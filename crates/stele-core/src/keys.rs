//! API key secrets and scopes. A secret is shown once; only its SHA-256 is kept, and
//! comparisons are constant-time. (Secrets are 256-bit random values, so a fast hash is the
//! right tool: there is nothing to brute-force, unlike a human-chosen password.)

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::KeyId;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    #[serde(rename = "events:write")]
    EventsWrite,
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "events:export")]
    EventsExport,
    /// Manage the tenant's keys (and, for the operator key, every tenant).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::EventsWrite, Scope::EventsRead, Scope::EventsExport, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::EventsRead => "events:read",
            Scope::EventsExport => "events:export",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}; scopes are events:write, events:read, events:export, admin"))
    }
}

/// SHA-256 of a secret: what is stored instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Constant-time comparison with the hash of a presented secret.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.ct_eq(&SecretHash::of(presented).0))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A key's secret as handed to its holder: `stl_<key id>.<43 random base64url characters>`.
/// The key id inside lets the server find the record without a scan.
pub struct KeySecret(String);

impl KeySecret {
    /// A new random secret for the given key.
    pub fn generate(id: &KeyId) -> Self {
        let random: [u8; 32] = rand::random();
        Self(format!("stl_{id}.{}", URL_SAFE_NO_PAD.encode(random)))
    }

    /// A new random operator secret (not tied to a key record).
    pub fn generate_operator() -> Self {
        let random: [u8; 32] = rand::random();
        Self(format!("stl_operator.{}", URL_SAFE_NO_PAD.encode(random)))
    }

    /// The key id a presented secret names, if it is shaped like a key secret.
    pub fn key_id_of(presented: &str) -> Option<KeyId> {
        let rest = presented.strip_prefix("stl_")?;
        let (id, _) = rest.split_once('.')?;
        KeyId::parse(id).ok()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_its_key_and_hash_matches() {
        let id = KeyId::generate();
        let secret = KeySecret::generate(&id);
        assert_eq!(KeySecret::key_id_of(secret.expose()), Some(id));
        let hash = secret.hash();
        assert!(hash.matches(secret.expose()));
        assert!(!hash.matches(&format!("{}x", secret.expose())));
        assert_eq!(KeySecret::key_id_of("stl_operator.abc"), None);
        assert_eq!(KeySecret::key_id_of("Bearer nonsense"), None);
    }

    #[test]
    fn scopes_parse() {
        assert_eq!("events:read".parse::<Scope>(), Ok(Scope::EventsRead));
        assert!("events:delete".parse::<Scope>().is_err());
        // Display is the wire name, and it parses back (found by `cargo mutants`: an empty
        // Display went unnoticed).
        for scope in Scope::ALL {
            assert_eq!(scope.to_string(), scope.as_str());
            assert_eq!(scope.to_string().parse::<Scope>(), Ok(scope));
        }
    }

    #[test]
    fn debug_names_the_type_and_never_shows_the_secret() {
        let secret = KeySecret::generate(&KeyId::generate());
        let debug = format!("{secret:?}");
        assert_eq!(debug, "KeySecret(..)");
        assert!(!debug.contains(secret.expose()));
        let hash = secret.hash();
        let debug = format!("{hash:?}");
        assert_eq!(debug, "SecretHash(..)");
        // Nor the stored hash's bytes.
        let hex: String = hash.0.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.contains(&hex[..8]));
    }
}
