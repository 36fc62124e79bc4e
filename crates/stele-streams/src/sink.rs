//! The one `Sink` trait every destination implements, the batch it is handed, and the one
//! error shape of a failed delivery.
//!
//! A sink formats a batch for its destination and classifies the destination's answer;
//! retrying, pacing and the cursor belong to the caller ([`crate::retry`]). A delivery either
//! acknowledges the whole batch (`Ok`) or none of it: the caller resends the same events,
//! which every destination format here tolerates (receivers dedupe by event `id`/`seq`).
//!
//! [`DeliveryError::detail`] is shown to tenant admins on the stream's status, so it names
//! the kind of failure only ("answered HTTP 503", "connection refused"): never a response
//! body, never an OS or TLS error text (a stream must not become a way to probe the
//! server's network), never a secret. The full error goes to `tracing::debug!`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::{ConfigError, Destination, Secrets};

/// One event of a batch, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub seq: u64,
    /// The event's `time` (RFC 3339), as stored.
    pub time: String,
    /// The stored event JSON (an object, with `seq` and `hash`), spliced verbatim into
    /// every format.
    pub json: String,
    /// The event's inclusion proof under [`Batch::head`], only when
    /// [`Policy::needs_proofs`].
    pub proof: Option<serde_json::Value>,
}

/// Events of one tenant in `seq` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub tenant: String,
    pub items: Vec<Item>,
    /// A signed tree head covering every item, only when [`Policy::needs_proofs`].
    pub head: Option<serde_json::Value>,
}

/// How the caller should cut batches for a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// At most this many items per batch.
    pub max_events: usize,
    /// Deliver a non-empty batch at the latest this long after its first event was read.
    /// Zero (the push destinations): deliver whatever is there at once — under load a
    /// batch fills by itself, since each read takes every event waiting up to `max_events`.
    pub max_wait: Duration,
    /// Fill [`Item::proof`] and [`Batch::head`].
    pub needs_proofs: bool,
}

/// A destination for a stream's batches.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    fn policy(&self) -> Policy;
    /// Delivers the whole batch; `Ok` means the destination acknowledged every item.
    async fn deliver(&self, batch: &Batch) -> Result<(), DeliveryError>;
}

/// What every sink is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkContext {
    /// Bounds each request (HTTP) or each batch's connect and write (syslog).
    pub timeout: Duration,
    pub user_agent: String,
}

impl Default for SinkContext {
    fn default() -> Self {
        SinkContext {
            timeout: Duration::from_secs(10),
            user_agent: concat!("stele/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// Builds the sink of a stored destination. Fails only when the stored settings no longer
/// make a sink (e.g. destination and secrets of different kinds, an unreadable CA).
pub fn sink(destination: &Destination, secrets: &Secrets, ctx: &SinkContext) -> Result<Box<dyn Sink>, ConfigError> {
    match (destination, secrets) {
        (Destination::Webhook(d), Secrets::Webhook { secret }) => {
            Ok(Box::new(crate::webhook::WebhookSink::new(d, secret, ctx)?))
        }
        (Destination::SplunkHec(d), Secrets::SplunkHec { token }) => {
            Ok(Box::new(crate::splunk_hec::HecSink::new(d, token, ctx)?))
        }
        (Destination::Datadog(d), Secrets::Datadog { api_key }) => {
            Ok(Box::new(crate::datadog::DatadogSink::new(d, api_key, ctx)?))
        }
        (Destination::Syslog(d), Secrets::Syslog) => Ok(Box::new(crate::syslog::SyslogSink::new(d, ctx)?)),
        (Destination::S3(d), Secrets::S3 { access_key_id, secret_access_key }) => {
            Ok(Box::new(crate::s3::S3Sink::new(d, access_key_id, secret_access_key, ctx)?))
        }
        _ => Err(ConfigError::new(
            "kind",
            format!("the secrets are for another kind than the destination ({})", destination.kind()),
        )),
    }
}

/// The kind of a failed delivery; each maps to one fixed [`DeliveryError::detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No answer (or the write did not finish) within the context's timeout.
    Timeout,
    Dns,
    ConnectionRefused,
    /// Any other failure to open a connection (unreachable network, reset during connect).
    Connect,
    Tls,
    /// The destination answered with a status that does not acknowledge.
    Status(u16),
    /// The connection broke while the batch was sent.
    Connection,
    /// An item could not be put into the destination's format (not a JSON object): a fault
    /// on Stele's side, which a retry does not mend.
    Encode,
}

impl FailureKind {
    /// Whether sending the same batch again may succeed: `false` for an item Stele cannot
    /// encode, for redirects (not followed) and for 4xx answers other than 408 (timeout),
    /// 425 and 429 (too many requests), i.e. a wrong token or URL that needs the admin. The
    /// caller may keep retrying anyway, more slowly; this only says what to show.
    pub fn retryable(self) -> bool {
        match self {
            FailureKind::Encode => false,
            FailureKind::Status(s) => s >= 500 || matches!(s, 408 | 425 | 429),
            _ => true,
        }
    }

    /// A stable name (for metrics labels and stored status).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Dns => "dns",
            FailureKind::ConnectionRefused => "connection_refused",
            FailureKind::Connect => "connect",
            FailureKind::Tls => "tls",
            FailureKind::Status(_) => "status",
            FailureKind::Connection => "connection",
            FailureKind::Encode => "encode",
        }
    }
}

/// A failed delivery. `detail` is safe to show to a tenant admin (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct DeliveryError {
    pub kind: FailureKind,
    pub detail: String,
}

impl DeliveryError {
    /// The error of `kind`, its detail derived from the kind alone (`timeout` is the
    /// context's, named by [`FailureKind::Timeout`]).
    pub fn new(kind: FailureKind, timeout: Duration) -> Self {
        let detail = match kind {
            FailureKind::Timeout => format!("timed out after {}", Seconds(timeout)),
            FailureKind::Dns => "DNS lookup failed".into(),
            FailureKind::ConnectionRefused => "connection refused".into(),
            FailureKind::Connect => "connection failed".into(),
            FailureKind::Tls => "TLS handshake failed".into(),
            FailureKind::Status(s) => format!("answered HTTP {s}"),
            FailureKind::Connection => "connection lost while sending".into(),
            FailureKind::Encode => "an event could not be encoded for this destination".into(),
        };
        DeliveryError { kind, detail }
    }

    pub(crate) fn encode(seq: u64) -> Self {
        tracing::debug!(seq, "stream item is not a JSON object");
        DeliveryError::new(FailureKind::Encode, Duration::ZERO)
    }
}

/// "10 s", or "250 ms" below a second.
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_millis() == 0 || self.0 >= Duration::from_secs(10) {
            write!(f, "{} s", self.0.as_secs())
        } else if self.0 < Duration::from_secs(1) {
            write!(f, "{} ms", self.0.as_millis())
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

/// The item's stored JSON as a raw value, checked to be a JSON object (what every format
/// splices in).
pub(crate) fn event_json(item: &Item) -> Result<&RawValue, DeliveryError> {
    match serde_json::from_str::<&RawValue>(&item.json) {
        Ok(raw) if raw.get().starts_with('{') => Ok(raw),
        _ => Err(DeliveryError::encode(item.seq)),
    }
}

/// The few members of an event the formats summarise (Datadog's `message`, syslog's MSGID,
/// severity and structured data). Unknown members are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Summary {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub actor: Option<ActorSummary>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActorSummary {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl Summary {
    pub(crate) fn of(item: &Item) -> Summary {
        serde_json::from_str(&item.json).unwrap_or_default()
    }

    /// "<action> by <actor id or email> (<status>)".
    pub(crate) fn line(&self) -> String {
        let action = self.action.as_deref().unwrap_or("event");
        let status = self.status.as_deref().unwrap_or("unknown");
        match self.actor.as_ref().and_then(|a| a.id.as_deref().or(a.email.as_deref())) {
            Some(who) => format!("{action} by {who} ({status})"),
            None => format!("{action} ({status})"),
        }
    }
}

/// `<first seq>-<last seq>` of a non-empty batch.
pub(crate) fn seq_range(batch: &Batch) -> Option<(u64, u64)> {
    Some((batch.items.first()?.seq, batch.items.last()?.seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_the_kind_only() {
        let t = Duration::from_secs(10);
        assert_eq!(DeliveryError::new(FailureKind::Timeout, t).detail, "timed out after 10 s");
        assert_eq!(
            DeliveryError::new(FailureKind::Timeout, Duration::from_millis(300)).detail,
            "timed out after 300 ms"
        );
        assert_eq!(DeliveryError::new(FailureKind::Status(503), t).detail, "answered HTTP 503");
        assert_eq!(DeliveryError::new(FailureKind::ConnectionRefused, t).detail, "connection refused");
        assert_eq!(DeliveryError::new(FailureKind::Tls, t).detail, "TLS handshake failed");
        assert_eq!(DeliveryError::new(FailureKind::Dns, t).detail, "DNS lookup failed");
    }

    #[test]
    fn every_kind_builds_a_sink_and_mismatched_secrets_are_refused() {
        use crate::config::{parse, Kind, ParseOptions};
        use serde_json::json;
        let bodies = [
            (Kind::Webhook, json!({"url": "https://h/x", "secret": "whsec-0123456789abcdef"})),
            (Kind::SplunkHec, json!({"url": "https://splunk:8088", "token": "t"})),
            (Kind::Datadog, json!({"api_key": "k"})),
            (Kind::Syslog, json!({"host": "logs.example.com", "tls": true})),
            (
                Kind::S3,
                json!({"endpoint": "https://s3.example.com", "bucket": "bkt", "access_key_id": "a",
                              "secret_access_key": "s", "max_events": 42, "max_seconds": 7}),
            ),
        ];
        let ctx = SinkContext::default();
        let mut policies = Vec::new();
        for (kind, body) in bodies {
            let serde_json::Value::Object(fields) = body else { panic!("object") };
            let (d, s) = parse(kind, &fields, ParseOptions::default()).expect("parse");
            let p = sink(&d, &s, &ctx).map_err(|e| e.to_string()).expect("sink").policy();
            policies.push((p.max_events, p.max_wait.as_secs(), p.needs_proofs));
            if kind != Kind::Syslog {
                let err = sink(&d, &Secrets::Syslog, &ctx).err().expect("secrets of another kind");
                assert_eq!(err.field, "kind");
            }
        }
        assert_eq!(policies, [(500, 0, false), (500, 0, false), (1000, 0, false), (500, 0, false), (42, 7, true)]);
    }

    #[test]
    fn client_errors_other_than_throttling_are_not_retryable() {
        assert!(!FailureKind::Status(401).retryable());
        assert!(!FailureKind::Status(404).retryable());
        assert!(FailureKind::Status(429).retryable());
        assert!(FailureKind::Status(503).retryable());
        assert!(!FailureKind::Status(302).retryable());
        assert!(FailureKind::Timeout.retryable());
        assert!(!FailureKind::Encode.retryable());
    }

    #[test]
    fn summary_line_prefers_actor_id_then_email() {
        let item = |json: &str| Item { seq: 1, time: String::new(), json: json.into(), proof: None };
        let s = Summary::of(&item(r#"{"action":"user.login","status":"failure","actor":{"id":"u1","email":"a@b"}}"#));
        assert_eq!(s.line(), "user.login by u1 (failure)");
        let s = Summary::of(&item(r#"{"action":"user.login","status":"success","actor":{"email":"a@b"}}"#));
        assert_eq!(s.line(), "user.login by a@b (success)");
        assert_eq!(Summary::of(&item(r#"{"action":"x","status":"success"}"#)).line(), "x (success)");
    }

    #[test]
    fn only_objects_are_events() {
        let item = |json: &str| Item { seq: 7, time: String::new(), json: json.into(), proof: None };
        assert!(event_json(&item(r#"{"a":1}"#)).is_ok());
        assert_eq!(event_json(&item("[1]")).err().map(|e| e.kind), Some(FailureKind::Encode));
        assert_eq!(event_json(&item("{")).err().map(|e| e.kind), Some(FailureKind::Encode));
    }
}
