//! Test-only JWT keys and token minting for the tests that configure tenant JWT keys.
//! The RSA pair below was generated for these tests and protects nothing.

#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair as _;
use serde_json::Value;

/// An RS256 test key pair (PKCS#8 private key, SPKI public key).
pub const RSA_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDPRHot3QIfIef8\nnB8JUmT2R6TdRK2kIgBD53WUhXRE5HE8dFAwif2eRB+gnTTHxJm+a4efuPRgUdoY\nsFEPlMSOVxaWkgaOidXafOiGP0WnoVEHIUuEx8oEAMa8lOtscx/qyQyJVrGCxszB\nQn8lkAzCVcuDjl3lN/k0WCkXxo6rA3eVEwwwdfapF3VQxGWE6+IipnHaEyzGyl2Y\nEfGgzCaJThuLk5G8wauMQSBMEHr03aMfxgRqXzVB2yVGGbLXkrWhJHMRB7k5JEzk\nJS78+SuU0eRvulucdTiEpF3mduwRKKwM9WI8Y5oASvqrABTpMn22n/9fq9iw0qav\nOhsZ99QrAgMBAAECggEABYlANDJniJpYvnQTFiYnwTZHrotTkgNAe4/Woalw4hgx\n+BnpPGqrJguOxrT8QGu9aYsou7juehYlm6w19hMUrvKfjVUILM18s1HLyi4td51E\n80pN4JWPjUzSAh5+LU7j5tsI5TA2HJafyHe0urWeyaAOCA0I8ALvOpkyO8rXa7Tn\nMeBiOcdAUXZTDOMZrVa/EMP4inE+xFH27R0C30VQgWAeKccBJH88n0T4Z2X4To/+\n5llao5OlPNsMZE1e37FSjzimxGeFvtvqTwqqYLf//tuCTiHisBGkynLFgoM+zN/K\nXw2MIbjiM/7dMw1QFqulQzcMD9UwLq6BfYTwbMsCcQKBgQDpDOXLVhKT/ADsSD5N\ndDQm2dfbY5uGeh4fStsK4+occKyj8KsEwGj3O6Pqpuzf8Mrq9mTTGSX42DH1AhUn\nJglx2bBo1rtoEeMFvRY30/VzO+X1Bgtc7tIWi6CCcQp4TKxXdSZzZ2W1SOS135dr\niIHqU0ix0GJ6TOgyG8xBvhp08QKBgQDjrZqOQ/rOkquOVxueeO19fp6TL1nbvfpf\n7SQvKROArBmHH07JdRaoZSXZYmWtgtKGGIZEaYgWrn/8FBWhZsbepSDULrPV9c0Q\nBmBvY7/U4sGALHPdj4kfLj0eLW8vYYnSdXPxNKIQKyRIwWOrNUtPxUd3136ZazNV\nM/EvK4pq2wKBgCASWVFpT/czmADsVD6efkrWceFMTOvtxFV0HL7b7KzrSKbrCO4H\neKqFd6JkRHbxEUvSir+OV25uejmIhtazYltbpO5YlsPUqlRw2Czoq3+nP5c/tLKe\nXyUhI/6vhcxWaOVERv1cvl97X5Yz5gezaoWP3pIx5kuEZ/P1ZV+qxMNRAoGAFpsH\nDHcNcPM5G2HkuSBSnDI1NnHuHxZGxL176T7P0+fChRsDrJb2j/OzBVlytP6XPn8y\n3ZoIzA+5X2LzHtpghnyovMiCTI0iNiQb8RNbWZzGD57aRjZZLAJgSR3Du1WY5I+K\n2nkaWjaeXKbu6XHaL2psBScdR8hQCXalzMQq8x8CgYBiDsvfyEejsJWeyswUDxfx\nJ6JlYB2z5oNJCbpK4IuuOjPPqfVZ7sKPKmaw+ns1hLl0VP+lfCu7dvUmXlY+ZmDN\nq7GQLNR5KTXKCKmjW5cd46aos370DC05u8Ujz/lVJXU37oMWr7VwKpGzZV6doRAw\nZKDoW/HSNvMo3jaqF0fU7w==\n-----END PRIVATE KEY-----\n";
pub const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAz0R6Ld0CHyHn/JwfCVJk\n9kek3UStpCIAQ+d1lIV0RORxPHRQMIn9nkQfoJ00x8SZvmuHn7j0YFHaGLBRD5TE\njlcWlpIGjonV2nzohj9Fp6FRByFLhMfKBADGvJTrbHMf6skMiVaxgsbMwUJ/JZAM\nwlXLg45d5Tf5NFgpF8aOqwN3lRMMMHX2qRd1UMRlhOviIqZx2hMsxspdmBHxoMwm\niU4bi5ORvMGrjEEgTBB69N2jH8YEal81QdslRhmy15K1oSRzEQe5OSRM5CUu/Pkr\nlNHkb7pbnHU4hKRd5nbsESisDPViPGOaAEr6qwAU6TJ9tp//X6vYsNKmrzobGffU\nKwIDAQAB\n-----END PUBLIC KEY-----\n";

/// A 40-byte HS256 secret.
pub const HS_SECRET: &str = "hs256-test-secret-0123456789-abcdefghijk";

/// A fresh Ed25519 key pair: (PKCS#8 DER private key, SPKI PEM public key).
pub fn ed25519() -> (Vec<u8>, String) {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("key generated");
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key parsed");
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(pair.public_key().as_ref());
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(spki));
    (pkcs8.as_ref().to_vec(), pem)
}

/// Seconds since the epoch, offset by `delta`.
pub fn epoch(delta: i64) -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0) + delta
}

pub fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("token minted")
}

pub fn eddsa(claims: &Value, pkcs8: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &EncodingKey::from_ed_der(pkcs8))
        .expect("token minted")
}

pub fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("RSA key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("token minted")
}
