//! Webhook: a signed JSON POST per batch to the tenant's URL.
//!
//! Request:
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Stele-Batch: <first seq>-<last seq>
//! Stele-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//!
//! {"events":[<stored event JSON>,...]}
//! ```
//! The events are the stored JSON verbatim (with `seq` and `hash`, so a receiver can check
//! them against a signed head). Any 2xx acknowledges the batch; anything else and every
//! transport failure make the caller send the same events again later, so a receiver must
//! dedupe by event `id` (or `seq`) — `Stele-Batch` says which seqs a request holds.
//!
//! The signature is Stripe's scheme: the timestamp is signed with the body, so a captured
//! request cannot be replayed later than the receiver's tolerance, and `v1=` may appear more
//! than once (a receiver accepts any, which allows rotating secrets). A receiver checks it
//! like [`verify_signature`] does; in Python:
//!
//! ```python
//! import hashlib, hmac, time
//!
//! def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
//!     parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
//!     t = next((v for k, v in parts if k == "t"), None)
//!     if t is None or not t.isdigit() or abs(time.time() - int(t)) > tolerance:
//!         return False
//!     mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
//!     return any(k == "v1" and hmac.compare_digest(v, mac) for k, v in parts)
//!
//! # Flask: verify(SECRET, request.headers["Stele-Signature"], request.get_data())
//! ```
//! Verify the raw body bytes before parsing them: re-serialised JSON would not match.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;
use url::Url;

use crate::config::{self, ConfigError, ParseOptions, Secret};
use crate::sink::{event_json, seq_range, Batch, DeliveryError, Policy, Sink, SinkContext};

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "Stele-Signature";
pub const BATCH_HEADER: &str = "Stele-Batch";

pub(crate) struct WebhookSink {
    client: reqwest::Client,
    url: Url,
    secret: Secret,
    timeout: Duration,
}

impl WebhookSink {
    pub(crate) fn new(d: &config::Webhook, secret: &Secret, ctx: &SinkContext) -> Result<Self, ConfigError> {
        // Stored URLs were checked when the stream was made; http stays allowed here so a
        // stream made under `allow_http` keeps working.
        let url = config::check_url("url", &d.url, ParseOptions { allow_http: true }, false)?;
        Ok(WebhookSink { client: crate::http::client(ctx)?, url, secret: secret.clone(), timeout: ctx.timeout })
    }
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn policy(&self) -> Policy {
        Policy { max_events: 500, max_wait: Duration::ZERO, needs_proofs: false }
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), DeliveryError> {
        let Some((first, last)) = seq_range(batch) else { return Ok(()) };
        let body = body(batch)?;
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(BATCH_HEADER, format!("{first}-{last}"))
            .header(SIGNATURE_HEADER, signature(self.secret.expose(), t, body.as_bytes()))
            .body(body);
        let status = crate::http::send(request, self.timeout).await?;
        crate::http::acknowledged(status, self.timeout)
    }
}

/// `{"events":[...]}` with each stored event spliced in verbatim.
pub(crate) fn body(batch: &Batch) -> Result<String, DeliveryError> {
    let mut body = String::with_capacity(16 + batch.items.iter().map(|i| i.json.len() + 1).sum::<usize>());
    body.push_str("{\"events\":[");
    for (n, item) in batch.items.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(event_json(item)?.get());
    }
    body.push_str("]}");
    Ok(body)
}

/// The `Stele-Signature` value of `body` sent at unix time `t`.
pub fn signature(secret: &str, t: u64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

fn mac(secret: &str, t: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts every key length"),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The receiver's check of a `Stele-Signature` header: its `t` is within `tolerance` of
/// `now` (either way) and one of its `v1` values is the HMAC of `"<t>.<body>"` under
/// `secret` (compared in constant time). `body` is the raw request body.
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now: SystemTime, tolerance: Duration) -> bool {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => candidates.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let Ok(now) = now.duration_since(UNIX_EPOCH) else { return false };
    if now.as_secs().abs_diff(t) > tolerance.as_secs() {
        return false;
    }
    candidates.iter().any(|c| mac(secret, t, body).verify_slice(c).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Item;

    const SECRET: &str = "whsec-0123456789abcdef";

    fn batch() -> Batch {
        let item = |seq: u64| Item {
            seq,
            time: "2024-05-01T12:00:00.250Z".into(),
            json: format!(r#"{{"seq":{seq},"id":"e{seq}", "action":"a"}}"#),
            proof: None,
        };
        Batch { tenant: "acme".into(), items: vec![item(3), item(4)], head: None }
    }

    #[test]
    fn the_body_splices_stored_events_verbatim() {
        // The space inside the stored JSON survives: nothing was re-serialised.
        assert_eq!(
            body(&batch()).expect("body"),
            r#"{"events":[{"seq":3,"id":"e3", "action":"a"},{"seq":4,"id":"e4", "action":"a"}]}"#
        );
    }

    #[test]
    fn a_known_signature() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec-0123456789abcdef",
        //   b"1700000000.{}", hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(SECRET, 1_700_000_000, b"{}"),
            "t=1700000000,v1=2d586df5f91a6ea5c4bc37bd80e94fb1103f9da69ee9cbd3f6a22a939e1fe1f8"
        );
    }

    #[test]
    fn verification_accepts_only_the_signed_body_secret_and_time() {
        let body = body(&batch()).expect("body");
        let t = 1_700_000_000u64;
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let tol = Duration::from_secs(300);
        let header = signature(SECRET, t, body.as_bytes());
        // Positive control.
        assert!(verify_signature(SECRET, &header, body.as_bytes(), at(t + 10), tol));
        assert!(verify_signature(SECRET, &header, body.as_bytes(), at(t - 10), tol));
        // Wrong secret, altered body, stale or future timestamp, altered t.
        assert!(!verify_signature("whsec-another-secret-0000", &header, body.as_bytes(), at(t), tol));
        assert!(!verify_signature(SECRET, &header, body.replace("e4", "e5").as_bytes(), at(t), tol));
        assert!(!verify_signature(SECRET, &header, body.as_bytes(), at(t + 301), tol));
        assert!(!verify_signature(SECRET, &header, body.as_bytes(), at(t - 301), tol));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(!verify_signature(SECRET, &moved, body.as_bytes(), at(t), tol));
        // Malformed headers.
        assert!(!verify_signature(SECRET, "", body.as_bytes(), at(t), tol));
        assert!(!verify_signature(SECRET, "v1=00", body.as_bytes(), at(t), tol));
        // Rotation: a second v1 with the right MAC is accepted.
        let mac = header.split("v1=").nth(1).expect("v1");
        let rotated = format!("t={t},v1={},v1={mac}", "ab".repeat(32));
        assert!(verify_signature(SECRET, &rotated, body.as_bytes(), at(t), tol));
    }
}
