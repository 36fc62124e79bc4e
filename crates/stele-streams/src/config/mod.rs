//! A stream's settings: the body of `POST /v1/streams` (minus `name`, `kind` and `filter`,
//! which the server keeps) parsed into a [`Destination`] and its [`Secrets`].
//!
//! The split is what the server stores: the destination as plain JSON (returned by GET,
//! shown in the viewer), the secrets sealed under the deployment secret key. `Secrets`
//! derives `Debug` through [`Secret`], which prints `<redacted>`, so neither a log line nor
//! a panic message carries a token.
//!
//! Bounds: URLs are absolute, http(s) only, plain http only with
//! [`ParseOptions::allow_http`] (the server's setting, off by default: a token must not
//! travel in clear), without user info (credentials belong in the sealed secrets) and at
//! most 2048 characters; names, tags and tokens at most 256 characters. Unknown fields are
//! refused (a misspelt `sourcetype` should not silently become the default). Every error
//! names its field.

mod fields;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use fields::{check_host, Fields, MAX_NAME, MAX_PEM};
pub(crate) use fields::{check_url, endpoint};

/// The destination kinds, named as in the API (`"kind": "splunk_hec"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Webhook,
    SplunkHec,
    Datadog,
    Syslog,
    S3,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Webhook, Kind::SplunkHec, Kind::Datadog, Kind::Syslog, Kind::S3];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::SplunkHec => "splunk_hec",
            Kind::Datadog => "datadog",
            Kind::Syslog => "syslog",
            Kind::S3 => "s3",
        }
    }

    /// The settings of this kind that are secrets: parsed into [`Secrets`], sealed by the
    /// server, never answered or shown back.
    pub fn secret_names(self) -> &'static [&'static str] {
        match self {
            Kind::Webhook => &["secret"],
            Kind::SplunkHec => &["token"],
            Kind::Datadog => &["api_key"],
            Kind::Syslog => &[],
            Kind::S3 => &["access_key_id", "secret_access_key"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ConfigError::new("kind", "must be one of: webhook, splunk_hec, datadog, syslog, s3"))
    }
}

/// A refused setting: `field` is the member of the request body at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { field: field.into(), message: message.into() }
    }
}

/// What the caller allows beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept `http://` URLs (tests, destinations on a trusted network).
    pub allow_http: bool,
}

/// A secret value: serialises as the plain string (for sealing), debugs as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The non-secret settings of a stream, stored as JSON (`{"kind": "...", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    Webhook(Webhook),
    SplunkHec(SplunkHec),
    Datadog(Datadog),
    Syslog(Syslog),
    S3(S3),
}

impl Destination {
    pub fn kind(&self) -> Kind {
        match self {
            Destination::Webhook(_) => Kind::Webhook,
            Destination::SplunkHec(_) => Kind::SplunkHec,
            Destination::Datadog(_) => Kind::Datadog,
            Destination::Syslog(_) => Kind::Syslog,
            Destination::S3(_) => Kind::S3,
        }
    }
}

/// The secret settings of a stream, sealed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Secrets {
    Webhook { secret: Secret },
    SplunkHec { token: Secret },
    Datadog { api_key: Secret },
    Syslog,
    S3 { access_key_id: Secret, secret_access_key: Secret },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplunkHec {
    /// The HEC's base URL (or the full `/services/collector/event` URL).
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub source: String,
    pub sourcetype: String,
    /// `None`: the tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datadog {
    /// The logs intake's base URL (or the full `/api/v2/logs` URL).
    pub url: String,
    pub service: String,
    pub ddsource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddtags: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Syslog {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// PEM of the only CA trusted for the server's certificate; `None`: the web PKI roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    pub app_name: String,
    pub facility: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub path_style: bool,
    pub max_events: u32,
    pub max_seconds: u32,
}

pub const DATADOG_DEFAULT_URL: &str = "https://http-intake.logs.datadoghq.com";

/// Parses a stream body of `kind` (without `name`, `kind`, `filter`).
pub fn parse(
    kind: Kind,
    fields: &Map<String, Value>,
    options: ParseOptions,
) -> Result<(Destination, Secrets), ConfigError> {
    match kind {
        Kind::Webhook => {
            let f = Fields::new(fields, &["url", "secret"])?;
            let url = required_url(&f, "url", options, false)?;
            let secret = f.token("secret", 16)?;
            Ok((Destination::Webhook(Webhook { url: url.into() }), Secrets::Webhook { secret: Secret(secret) }))
        }
        Kind::SplunkHec => {
            let f = Fields::new(fields, &["url", "token", "index", "source", "sourcetype", "host"])?;
            let url = required_url(&f, "url", options, true)?;
            let token = f.token("token", 1)?;
            let d = SplunkHec {
                url: url.into(),
                index: f.text("index", MAX_NAME)?,
                source: f.text("source", MAX_NAME)?.unwrap_or_else(|| "stele".into()),
                sourcetype: f.text("sourcetype", MAX_NAME)?.unwrap_or_else(|| "stele:audit".into()),
                host: f.text("host", MAX_NAME)?,
            };
            Ok((Destination::SplunkHec(d), Secrets::SplunkHec { token: Secret(token) }))
        }
        Kind::Datadog => {
            let f = Fields::new(fields, &["url", "api_key", "service", "ddsource", "ddtags"])?;
            let url = match f.url("url", options, true)? {
                Some(url) => url,
                None => Url::parse(DATADOG_DEFAULT_URL).map_err(|_| ConfigError::new("url", "bad default"))?,
            };
            let api_key = f.token("api_key", 1)?;
            let d = Datadog {
                url: url.into(),
                service: f.text("service", MAX_NAME)?.unwrap_or_else(|| "stele".into()),
                ddsource: f.text("ddsource", MAX_NAME)?.unwrap_or_else(|| "stele".into()),
                ddtags: f.text("ddtags", MAX_NAME)?,
            };
            Ok((Destination::Datadog(d), Secrets::Datadog { api_key: Secret(api_key) }))
        }
        Kind::Syslog => Ok((Destination::Syslog(parse_syslog(fields)?), Secrets::Syslog)),
        Kind::S3 => parse_s3(fields, options),
    }
}

fn required_url(f: &Fields<'_>, name: &str, options: ParseOptions, base: bool) -> Result<Url, ConfigError> {
    f.url(name, options, base)?.ok_or_else(|| ConfigError::new(name, "is required"))
}

fn parse_syslog(fields: &Map<String, Value>) -> Result<Syslog, ConfigError> {
    let f = Fields::new(fields, &["host", "port", "tls", "ca_pem", "app_name", "facility"])?;
    let host = f.required_text("host", 253)?;
    check_host("host", &host)?;
    let tls = f.boolean("tls")?.unwrap_or(false);
    let port = f.integer("port", 1..=65535)?.unwrap_or(if tls { 6514 } else { 514 });
    let ca_pem = match fields.get("ca_pem").filter(|v| !v.is_null()) {
        None => None,
        Some(Value::String(pem)) => {
            if !tls {
                return Err(ConfigError::new("ca_pem", "is only used with \"tls\": true"));
            }
            if pem.len() > MAX_PEM {
                return Err(ConfigError::new("ca_pem", format!("must be at most {MAX_PEM} bytes")));
            }
            crate::syslog::ca_roots(pem)?;
            Some(pem.clone())
        }
        Some(_) => return Err(ConfigError::new("ca_pem", "must be a string")),
    };
    // RFC 5424 §6.2.5: APP-NAME = 1*48PRINTUSASCII.
    let app_name = f.text("app_name", 48)?.unwrap_or_else(|| "stele".into());
    if !app_name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new("app_name", "must be printable ASCII without spaces"));
    }
    let facility = f.integer("facility", 0..=23)?.unwrap_or(13);
    Ok(Syslog { host, port: port as u16, tls, ca_pem, app_name, facility: facility as u8 })
}

fn parse_s3(fields: &Map<String, Value>, options: ParseOptions) -> Result<(Destination, Secrets), ConfigError> {
    let f = Fields::new(
        fields,
        &[
            "endpoint",
            "bucket",
            "prefix",
            "region",
            "path_style",
            "access_key_id",
            "secret_access_key",
            "max_events",
            "max_seconds",
        ],
    )?;
    let endpoint = required_url(&f, "endpoint", options, true)?;
    // The S3 bucket naming rules' common subset (3–63 of a-z 0-9 . -, alphanumeric ends).
    let bucket = f.required_text("bucket", 63)?;
    let bucket_ok = bucket.len() >= 3
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(ConfigError::new(
            "bucket",
            "must be 3 to 63 of a-z, 0-9, '.', '-', starting and ending alphanumeric",
        ));
    }
    let prefix = match fields.get("prefix").filter(|v| !v.is_null()) {
        Some(Value::String(s)) if s.is_empty() => String::new(),
        _ => f.text("prefix", MAX_NAME)?.unwrap_or_default(),
    };
    if prefix.starts_with('/') {
        return Err(ConfigError::new("prefix", "must not start with '/'"));
    }
    let region = f.text("region", 64)?.unwrap_or_else(|| "us-east-1".into());
    if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(ConfigError::new("region", "must be of a-z, 0-9 and '-'"));
    }
    let d = S3 {
        endpoint: endpoint.into(),
        bucket,
        prefix,
        region,
        path_style: f.boolean("path_style")?.unwrap_or(false),
        max_events: f.integer("max_events", 1..=100_000)?.unwrap_or(10_000) as u32,
        max_seconds: f.integer("max_seconds", 1..=86_400)?.unwrap_or(60) as u32,
    };
    let secrets = Secrets::S3 {
        access_key_id: Secret(f.token("access_key_id", 1)?),
        secret_access_key: Secret(f.token("secret_access_key", 1)?),
    };
    Ok((Destination::S3(d), secrets))
}

#[cfg(test)]
mod tests;
