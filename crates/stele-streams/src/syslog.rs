//! Syslog: RFC 5424 messages over TCP, optionally TLS (RFC 5425), framed by octet counting
//! (RFC 6587 §3.4.1: `<length> <message>`, so a message may hold any byte, newlines too).
//!
//! One message per event:
//! ```text
//! <PRI>1 <event time> <tenant> <app_name> - <action> [stele@32473 seq="7" id="…" tenant="acme"] <stored event JSON>
//! ```
//! PRI = facility·8 + severity: 4 (warning) for an event with `"status":"failure"`, else 5
//! (notice). HOSTNAME is the tenant (a syslog receiver's usual split key); MSGID is the
//! action cut to RFC 5424's 32 printable ASCII characters; PROCID is nil. The SD-ID uses
//! enterprise number 32473, which RFC 5612 reserves for documentation; its SD-PARAM values
//! are escaped per RFC 5424 §6.3.3 (`"`, `\` and `]` get a backslash). The MSG is the stored
//! event JSON, without a BOM.
//!
//! The connection is kept across batches and reopened after any error. Syslog over TCP has
//! no acknowledgement: a batch counts as delivered when every frame was written and flushed
//! (to the kernel, or through TLS) within the timeout. Before reusing a connection the sink
//! checks that the peer has not closed it (a receiver never sends on it, so anything
//! readable means closed), which catches a restarted receiver before a batch is written into
//! a dead socket; a receiver that dies mid-batch can still lose what the kernel had
//! accepted, a limit of the protocol (RFC 6587 §4).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::config::{self, ConfigError};
use crate::sink::{event_json, Batch, DeliveryError, FailureKind, Item, Policy, Sink, SinkContext, Summary};

/// RFC 5612's documentation enterprise number.
pub(crate) const SD_ID: &str = "stele@32473";

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(crate) struct SyslogSink {
    settings: config::Syslog,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    connection: Mutex<Option<Box<dyn Stream>>>,
}

/// The trust roots of a PEM CA bundle (at least one certificate).
pub(crate) fn ca_roots(pem: &str) -> Result<rustls::RootCertStore, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        let cert = cert.map_err(|_| ConfigError::new("ca_pem", "is not a PEM certificate"))?;
        roots.add(cert).map_err(|_| ConfigError::new("ca_pem", "is not a usable CA certificate"))?;
    }
    if roots.is_empty() {
        return Err(ConfigError::new("ca_pem", "holds no PEM certificate"));
    }
    Ok(roots)
}

impl SyslogSink {
    pub(crate) fn new(d: &config::Syslog, ctx: &SinkContext) -> Result<Self, ConfigError> {
        let tls = if d.tls {
            let roots = match &d.ca_pem {
                Some(pem) => ca_roots(pem)?,
                None => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|_| ConfigError::new("tls", "no TLS configuration could be built"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = ServerName::try_from(d.host.clone())
                .map_err(|_| ConfigError::new("host", "is not a valid TLS server name"))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(SyslogSink { settings: d.clone(), tls, timeout: ctx.timeout, connection: Mutex::new(None) })
    }

    fn fail(&self, kind: FailureKind, what: &str, e: &dyn std::fmt::Display) -> DeliveryError {
        tracing::debug!(host = %self.settings.host, port = self.settings.port, error = %e, what, "syslog delivery failed");
        DeliveryError::new(kind, self.timeout)
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, DeliveryError> {
        let target = (self.settings.host.as_str(), self.settings.port);
        let addrs: Vec<_> = match tokio::net::lookup_host(target).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => return Err(self.fail(FailureKind::Dns, "lookup", &e)),
        };
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match (tcp, last) {
            (Some(tcp), _) => tcp,
            (None, Some(e)) => return Err(self.fail(crate::http::io_kind(&e), "connect", &e)),
            (None, None) => return Err(self.fail(FailureKind::Dns, "lookup", &"no address")),
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => match connector.connect(name.clone(), tcp).await {
                Ok(tls) => Ok(Box::new(tls)),
                Err(e) => Err(self.fail(FailureKind::Tls, "handshake", &e)),
            },
        }
    }

    async fn send(&self, slot: &mut Option<Box<dyn Stream>>, frames: &[u8]) -> Result<(), DeliveryError> {
        if let Some(stream) = slot.as_mut() {
            if closed(stream).await {
                *slot = None;
            }
        }
        let stream = match slot {
            Some(stream) => stream,
            None => slot.insert(self.connect().await?),
        };
        if let Err(e) = stream.write_all(frames).await {
            return Err(self.fail(crate::http::io_kind(&e), "write", &e));
        }
        if let Err(e) = stream.flush().await {
            return Err(self.fail(crate::http::io_kind(&e), "flush", &e));
        }
        Ok(())
    }
}

/// Whether the peer closed (or wrote to) the connection: a read that completes at once.
async fn closed(stream: &mut Box<dyn Stream>) -> bool {
    let mut byte = [0u8; 1];
    // `timeout` polls the read once before looking at the (zero) deadline.
    !matches!(tokio::time::timeout(Duration::ZERO, stream.read(&mut byte)).await, Err(_elapsed))
}

#[async_trait::async_trait]
impl Sink for SyslogSink {
    fn policy(&self) -> Policy {
        Policy { max_events: 500, max_wait: Duration::ZERO, needs_proofs: false }
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), DeliveryError> {
        if batch.items.is_empty() {
            return Ok(());
        }
        let mut frames = Vec::new();
        for item in &batch.items {
            let message = message(&self.settings, &batch.tenant, item)?;
            frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
            frames.extend_from_slice(message.as_bytes());
        }
        let mut slot = self.connection.lock().await;
        let result = match tokio::time::timeout(self.timeout, self.send(&mut slot, &frames)).await {
            Ok(result) => result,
            Err(elapsed) => Err(self.fail(FailureKind::Timeout, "send", &elapsed)),
        };
        if result.is_err() {
            // A partly written frame would corrupt the stream's framing: start afresh.
            *slot = None;
        }
        result
    }
}

/// One RFC 5424 message (without its octet count).
pub(crate) fn message(s: &config::Syslog, tenant: &str, item: &Item) -> Result<String, DeliveryError> {
    let json = event_json(item)?;
    let summary = Summary::of(item);
    let severity = if summary.status.as_deref() == Some("failure") { 4 } else { 5 };
    let pri = u16::from(s.facility) * 8 + severity;
    let timestamp = timestamp(&item.time);
    let hostname = header_field(tenant, 255);
    let msgid = header_field(summary.action.as_deref().unwrap_or(""), 32);
    let id = summary.id.as_deref().unwrap_or("");
    Ok(format!(
        "<{pri}>1 {timestamp} {hostname} {app} - {msgid} [{SD_ID} seq=\"{seq}\" id=\"{id}\" tenant=\"{tenant}\"] {json}",
        app = s.app_name,
        seq = item.seq,
        id = sd_escape(id),
        tenant = sd_escape(tenant),
        json = json.get(),
    ))
}

/// RFC 5424 §6.2.3 TIMESTAMP: RFC 3339 with at most 6 fraction digits, or `-`.
fn timestamp(time: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(time, &Rfc3339) else { return "-".into() };
    let micros = t.microsecond();
    let t = match t.replace_nanosecond(micros * 1000) {
        Ok(t) => t,
        Err(_) => return "-".into(),
    };
    t.format(&Rfc3339).unwrap_or_else(|_| "-".into())
}

/// A header field: printable US-ASCII only (others dropped), at most `max`, `-` if empty.
fn header_field(s: &str, max: usize) -> String {
    let cleaned: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned
    }
}

/// RFC 5424 §6.3.3: `"`, `\` and `]` in a PARAM-VALUE are escaped with `\`.
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> config::Syslog {
        config::Syslog {
            host: "logs".into(),
            port: 514,
            tls: false,
            ca_pem: None,
            app_name: "stele".into(),
            facility: 13,
        }
    }

    fn item(json: &str) -> Item {
        Item { seq: 7, time: "2024-05-01T12:00:00.123456789Z".into(), json: json.into(), proof: None }
    }

    #[test]
    fn a_message_in_rfc_5424_shape() {
        let json = r#"{"seq":7,"id":"01J","action":"user.login","status":"success"}"#;
        assert_eq!(
            message(&settings(), "acme", &item(json)).expect("message"),
            format!(
                "<109>1 2024-05-01T12:00:00.123456Z acme stele - user.login \
                 [stele@32473 seq=\"7\" id=\"01J\" tenant=\"acme\"] {json}"
            )
        );
    }

    #[test]
    fn failures_are_warnings_and_fields_are_sanitised() {
        let action = format!("bad action with spaces{}", "x".repeat(40));
        let json = format!(r#"{{"id":"a\"b]c\\d","action":"{action}","status":"failure"}}"#);
        let m = message(&config::Syslog { facility: 4, ..settings() }, "ten ant", &item(&json)).expect("message");
        // 4·8 + 4; MSGID: spaces dropped, 32 characters; HOSTNAME without the space.
        let expected_msgid: String = action.replace(' ', "").chars().take(32).collect();
        assert!(m.starts_with(&format!("<36>1 2024-05-01T12:00:00.123456Z tenant stele - {expected_msgid} ")), "{m}");
        assert!(m.contains(r#"id="a\"b\]c\\d" tenant="ten ant"]"#), "{m}");
    }

    #[test]
    fn unparsable_times_and_missing_actions_are_nil() {
        let m = message(&settings(), "acme", &Item { time: "yesterday".into(), ..item(r#"{"x":1}"#) }).expect("m");
        assert!(
            m.starts_with("<109>1 - acme stele - - [stele@32473 seq=\"7\" id=\"\" tenant=\"acme\"] {\"x\":1}"),
            "{m}"
        );
    }
}
