//! Changing a tenant after creation: its alias set and the JWT key a profile verifies tokens
//! with (CloudCockpit). The store keeps the key material it is given as opaque bytes: an
//! HS256 secret arrives already sealed (encrypted) by the server, a public key as its PEM.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The signature algorithm of a tenant's JWT key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JwtAlg {
    /// HMAC-SHA256 with a shared secret.
    #[serde(rename = "HS256")]
    Hs256,
    /// Ed25519 signatures, verified with a public key.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, verified with a public key.
    #[serde(rename = "RS256")]
    Rs256,
}

impl JwtAlg {
    pub const ALL: [JwtAlg; 3] = [JwtAlg::Hs256, JwtAlg::EdDsa, JwtAlg::Rs256];

    /// The JOSE name: `HS256`, `EdDSA`, `RS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlg::Hs256 => "HS256",
            JwtAlg::EdDsa => "EdDSA",
            JwtAlg::Rs256 => "RS256",
        }
    }

    /// The algorithm with this JOSE name (exact spelling).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for JwtAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's JWT verification key as stored, with the claims a token must carry.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantJwt {
    pub alg: JwtAlg,
    /// HS256: the sealed secret (never the secret in clear); EdDSA/RS256: the public key PEM.
    pub key: Vec<u8>,
    /// When set, a token's `iss` must equal it.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must hold it.
    pub audience: Option<String>,
}

impl fmt::Debug for TenantJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantJwt")
            .field("alg", &self.alg)
            .field("key", &"..")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// What to change on a tenant; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// The new alias set (replaces the old one).
    pub aliases: Option<Vec<String>>,
    /// `Some(Some(k))` sets the JWT key, `Some(None)` removes it.
    pub jwt: Option<Option<TenantJwt>>,
}

impl TenantUpdate {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.aliases.is_none() && self.jwt.is_none()
    }
}
