//! A tenant's JWT key: checking one an operator configures, storing it (an HS256 secret only
//! sealed under the deployment secret key, a public key as its PEM), and turning the stored
//! form back into a verification key for a profile (CloudCockpit).

use jsonwebtoken::{Algorithm, DecodingKey};
use stele_core::TenantId;
use stele_store::{JwtAlg, TenantJwt};

use crate::secret_key::SecretKey;

/// Shortest HS256 secret accepted: the hash output size (RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;
/// Longest secret or PEM accepted.
pub const MAX_KEY_TEXT: usize = 16 * 1024;

/// Why a configured key was refused (the message names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct KeyInputError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> KeyInputError {
    KeyInputError { field, message: message.into() }
}

/// A stored key that cannot be used (sealed under another secret key, or unreadable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant's stored JWT key cannot be used: {0}")]
pub struct StoredKeyError(String);

/// Checks a configured key and returns its stored form. `secret` is for HS256,
/// `public_key_pem` for EdDSA and RS256.
pub fn configure(
    secrets: &SecretKey,
    tenant: &TenantId,
    alg: &str,
    secret: Option<&str>,
    public_key_pem: Option<&str>,
) -> Result<TenantJwt, KeyInputError> {
    let alg =
        JwtAlg::parse(alg).ok_or_else(|| refuse("jwt.alg", format!("{alg:?} is not one of HS256, EdDSA, RS256")))?;
    match alg {
        JwtAlg::Hs256 => {
            if public_key_pem.is_some() {
                return Err(refuse("jwt.public_key_pem", "HS256 takes a secret, not a public key"));
            }
            let secret = secret.ok_or_else(|| refuse("jwt.secret", "HS256 needs the shared secret"))?;
            if secret.len() < MIN_HS256_SECRET || secret.len() > MAX_KEY_TEXT {
                return Err(refuse(
                    "jwt.secret",
                    format!("must be {MIN_HS256_SECRET} to {MAX_KEY_TEXT} bytes (RFC 7518: at least the hash size)"),
                ));
            }
            Ok(TenantJwt {
                alg,
                key: secrets.seal(tenant.as_str().as_bytes(), secret.as_bytes()),
                issuer: None,
                audience: None,
            })
        }
        JwtAlg::EdDsa | JwtAlg::Rs256 => {
            if secret.is_some() {
                return Err(refuse("jwt.secret", format!("{alg} takes public_key_pem, not a secret")));
            }
            let pem =
                public_key_pem.ok_or_else(|| refuse("jwt.public_key_pem", format!("{alg} needs a public key")))?;
            let pem = pem.trim();
            if pem.len() > MAX_KEY_TEXT {
                return Err(refuse("jwt.public_key_pem", format!("at most {MAX_KEY_TEXT} bytes")));
            }
            if pem.contains("PRIVATE KEY") {
                return Err(refuse("jwt.public_key_pem", "this is a private key; send only the public key"));
            }
            public_key(alg, pem.as_bytes())
                .map_err(|_| refuse("jwt.public_key_pem", format!("not a PEM-encoded {} public key", kind(alg))))?;
            Ok(TenantJwt { alg, key: pem.as_bytes().to_vec(), issuer: None, audience: None })
        }
    }
}

/// Longest required issuer or audience accepted.
pub const MAX_CLAIM_TEXT: usize = 1024;

/// Checks a required `iss` or `aud` value (`field` names it): 1-1024 characters, no control
/// or bidi-override characters.
pub fn required_claim(field: &'static str, value: Option<&str>) -> Result<Option<String>, KeyInputError> {
    let Some(value) = value else { return Ok(None) };
    if value.is_empty() || value.chars().count() > MAX_CLAIM_TEXT {
        return Err(refuse(field, format!("must be 1 to {MAX_CLAIM_TEXT} characters")));
    }
    stele_core::text::check_label(value).map_err(|e| refuse(field, e.to_string()))?;
    Ok(Some(value.to_owned()))
}

fn kind(alg: JwtAlg) -> &'static str {
    match alg {
        JwtAlg::Hs256 => "HMAC",
        JwtAlg::EdDsa => "Ed25519",
        JwtAlg::Rs256 => "RSA",
    }
}

fn public_key(alg: JwtAlg, pem: &[u8]) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
    match alg {
        JwtAlg::EdDsa => DecodingKey::from_ed_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    }
}

/// The JOSE algorithm of a stored key.
pub fn algorithm(alg: JwtAlg) -> Algorithm {
    match alg {
        JwtAlg::Hs256 => Algorithm::HS256,
        JwtAlg::EdDsa => Algorithm::EdDSA,
        JwtAlg::Rs256 => Algorithm::RS256,
    }
}

/// The verification key of a stored tenant key (opening a sealed HS256 secret).
pub fn verification_key(
    secrets: &SecretKey,
    tenant: &TenantId,
    jwt: &TenantJwt,
) -> Result<DecodingKey, StoredKeyError> {
    match jwt.alg {
        JwtAlg::Hs256 => {
            let secret =
                secrets.open(tenant.as_str().as_bytes(), &jwt.key).map_err(|e| StoredKeyError(e.to_string()))?;
            Ok(DecodingKey::from_secret(&secret))
        }
        alg => public_key(alg, &jwt.key).map_err(|e| StoredKeyError(e.to_string())),
    }
}
