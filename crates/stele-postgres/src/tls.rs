//! TLS to PostgreSQL, chosen with libpq's URL parameters `sslmode` and `sslrootcert` (which
//! tokio-postgres does not parse in full), over rustls (`tokio-postgres-rustls`):
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default, as in libpq) | when the server offers it | not checked |
//! | `require` | always, else no connection | not checked (as libpq without a root certificate) |
//! | `verify-full` | always | chain checked against `sslrootcert` (a PEM file), name against the host |
//!
//! `verify-ca` (chain without name) is refused with a message: use `verify-full`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector every connection of a store uses.
pub type Tls = MakeRustlsConnect;

/// Why a database URL's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslmode={0} is not supported; use disable, prefer, require or verify-full")]
    Mode(String),
    #[error("sslmode=verify-full needs sslrootcert=<PEM file of the CA that signed the server's certificate>")]
    NoRootCert,
    #[error("sslrootcert {path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error(transparent)]
    Url(#[from] tokio_postgres::Error),
}

/// Parses `url` into tokio-postgres' config and the TLS connector its `sslmode` asks for.
pub fn parse(url: &str) -> Result<(tokio_postgres::Config, Tls), TlsError> {
    let (rest, mode, root) = split_tls_params(url);
    let mut config: tokio_postgres::Config = rest.parse()?;
    let mode = mode.unwrap_or_else(|| "prefer".into());
    let (ssl_mode, verify) = match mode.as_str() {
        "disable" => (SslMode::Disable, false),
        "prefer" | "allow" => (SslMode::Prefer, false),
        "require" => (SslMode::Require, false),
        "verify-full" => (SslMode::Require, true),
        other => return Err(TlsError::Mode(other.to_owned())),
    };
    config.ssl_mode(ssl_mode);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::RootCert { path: String::new(), reason: e.to_string() })?;
    let client = if verify {
        let path = root.ok_or(TlsError::NoRootCert)?;
        let failed = |reason: String| TlsError::RootCert { path: path.clone(), reason };
        let pem = std::fs::read(&path).map_err(|e| failed(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.map_err(|e| failed(e.to_string()))?).map_err(|e| failed(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(failed("holds no PEM certificate".into()));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(Unchecked(provider))).with_no_client_auth()
    };
    Ok((config, MakeRustlsConnect::new(client)))
}

/// `url` without `sslmode` and `sslrootcert`, and their values. Both forms: a
/// `postgres://…?…` URL and a `key=value …` string (values without spaces or quotes).
fn split_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |key: &str, value: &str| match key {
        "sslmode" => mode = Some(value.to_owned()),
        "sslrootcert" => root = Some(value.to_owned()),
        _ => {}
    };
    let is_tls = |key: &str| key == "sslmode" || key == "sslrootcert";
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = form_urlencoded::Serializer::new(String::new());
                let mut any = false;
                for (k, v) in form_urlencoded::parse(query.as_bytes()) {
                    if is_tls(&k) {
                        take(&k, &v);
                    } else {
                        kept.append_pair(&k, &v);
                        any = true;
                    }
                }
                if any {
                    format!("{base}?{}", kept.finish())
                } else {
                    base.to_owned()
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for part in url.split_whitespace() {
            match part.split_once('=') {
                Some((k, v)) if is_tls(k.trim()) => take(k.trim(), v.trim()),
                _ => kept.push(part),
            }
        }
        kept.join(" ")
    };
    (rest, mode, root)
}

/// `prefer` and `require`: the connection is encrypted but the server's certificate is not
/// checked — libpq's meaning of these modes. The handshake's signatures are still verified
/// (the server holds the key of the certificate it sent). Written here because rustls only
/// offers verifying verifiers; this is the one place Stele accepts an unchecked certificate.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_url_forms() {
        let (rest, mode, root) =
            split_tls_params("postgres://u:p@db:5432/stele?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=5");
        assert_eq!(rest, "postgres://u:p@db:5432/stele?connect_timeout=5");
        assert_eq!((mode.as_deref(), root.as_deref()), (Some("verify-full"), Some("/ca.pem")));
        let (rest, mode, root) = split_tls_params("host=db user=u sslmode=require dbname=stele");
        assert_eq!(rest, "host=db user=u dbname=stele");
        assert_eq!((mode.as_deref(), root), (Some("require"), None));
        assert_eq!(split_tls_params("postgres://db/stele").0, "postgres://db/stele");
    }

    #[test]
    fn unsupported_modes_and_missing_roots_are_named() {
        assert!(matches!(parse("postgres://db/x?sslmode=verify-ca"), Err(TlsError::Mode(m)) if m == "verify-ca"));
        assert!(matches!(parse("postgres://db/x?sslmode=verify-full"), Err(TlsError::NoRootCert)));
        let missing = parse("postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent.pem");
        assert!(matches!(missing, Err(TlsError::RootCert { .. })));
        assert!(parse("postgres://db/x?sslmode=require").is_ok());
        assert!(parse("postgres://db/x").is_ok());
    }
}
