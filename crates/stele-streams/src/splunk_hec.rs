//! Splunk HTTP Event Collector: `POST <url>/services/collector/event` with
//! `Authorization: Splunk <token>` and one JSON event envelope per event, newline-separated
//! (HEC accepts several envelopes in one body, "batched events"):
//!
//! ```text
//! {"time":1714564800.250,"host":"acme","source":"stele","sourcetype":"stele:audit","index":"main","event":{<stored event>}}
//! ```
//! `time` is the event's own time in epoch seconds with a millisecond fraction (HEC's
//! format), so Splunk indexes the event at when it happened, not when it arrived; `host`
//! defaults to the tenant id. `index` is sent only when configured (the token's default
//! index applies otherwise). Any 2xx acknowledges (HEC answers `{"text":"Success","code":0}`);
//! see <https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/format-events-for-http-event-collector>.
//!
//! Not supported: tokens with indexer acknowledgement (`useACK`). HEC refuses their requests
//! without a channel (400, shown as "answered HTTP 400"), and a 200 there would only mean
//! "received"; acknowledging after indexing would need polling `/services/collector/ack`.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use crate::config::{self, ConfigError, ParseOptions, Secret};
use crate::sink::{event_json, Batch, DeliveryError, Item, Policy, Sink, SinkContext};

pub(crate) const PATH: &str = "/services/collector/event";

pub(crate) struct HecSink {
    client: reqwest::Client,
    endpoint: Url,
    authorization: HeaderValue,
    settings: config::SplunkHec,
    timeout: Duration,
}

impl HecSink {
    pub(crate) fn new(d: &config::SplunkHec, token: &Secret, ctx: &SinkContext) -> Result<Self, ConfigError> {
        let base = config::check_url("url", &d.url, ParseOptions { allow_http: true }, true)?;
        Ok(HecSink {
            client: crate::http::client(ctx)?,
            endpoint: config::endpoint(&base, PATH),
            authorization: crate::http::secret_header(&format!("Splunk {}", token.expose()), "token")?,
            settings: d.clone(),
            timeout: ctx.timeout,
        })
    }
}

#[async_trait::async_trait]
impl Sink for HecSink {
    fn policy(&self) -> Policy {
        Policy { max_events: 500, max_wait: Duration::ZERO, needs_proofs: false }
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), DeliveryError> {
        if batch.items.is_empty() {
            return Ok(());
        }
        let body = body(&self.settings, batch)?;
        let request = self
            .client
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let status = crate::http::send(request, self.timeout).await?;
        crate::http::acknowledged(status, self.timeout)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<Box<RawValue>>,
    host: &'a str,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: &'a RawValue,
}

pub(crate) fn body(s: &config::SplunkHec, batch: &Batch) -> Result<String, DeliveryError> {
    let mut out = String::new();
    for item in &batch.items {
        let envelope = Envelope {
            time: epoch_seconds(item),
            host: s.host.as_deref().unwrap_or(&batch.tenant),
            source: &s.source,
            sourcetype: &s.sourcetype,
            index: s.index.as_deref(),
            event: event_json(item)?,
        };
        let line = serde_json::to_string(&envelope).map_err(|_| DeliveryError::encode(item.seq))?;
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    Ok(out)
}

/// The item's time as `<seconds>.<milliseconds>` since the epoch (a JSON number), or `None`
/// when it is not RFC 3339 (HEC then uses the arrival time).
fn epoch_seconds(item: &Item) -> Option<Box<RawValue>> {
    let t = OffsetDateTime::parse(&item.time, &Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    RawValue::from_string(format!("{sign}{}.{:03}", ms / 1000, ms % 1000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> config::SplunkHec {
        config::SplunkHec {
            url: "https://splunk:8088/".into(),
            index: None,
            source: "stele".into(),
            sourcetype: "stele:audit".into(),
            host: None,
        }
    }

    fn item(seq: u64, time: &str) -> Item {
        Item { seq, time: time.into(), json: format!(r#"{{"seq":{seq},"action":"a"}}"#), proof: None }
    }

    #[test]
    fn one_envelope_per_line_with_the_event_time() {
        let batch = Batch {
            tenant: "acme".into(),
            items: vec![item(1, "2024-05-01T12:00:00.25Z"), item(2, "2024-05-01T14:00:00+02:00")],
            head: None,
        };
        assert_eq!(
            body(&settings(), &batch).expect("body"),
            concat!(
                r#"{"time":1714564800.250,"host":"acme","source":"stele","sourcetype":"stele:audit","event":{"seq":1,"action":"a"}}"#,
                "\n",
                r#"{"time":1714564800.000,"host":"acme","source":"stele","sourcetype":"stele:audit","event":{"seq":2,"action":"a"}}"#,
            )
        );
    }

    #[test]
    fn configured_host_and_index_are_sent() {
        let s = config::SplunkHec { index: Some("audit".into()), host: Some("stele-1".into()), ..settings() };
        let batch = Batch { tenant: "acme".into(), items: vec![item(1, "not a time")], head: None };
        assert_eq!(
            body(&s, &batch).expect("body"),
            r#"{"host":"stele-1","source":"stele","sourcetype":"stele:audit","index":"audit","event":{"seq":1,"action":"a"}}"#
        );
    }

    #[test]
    fn times_before_the_epoch_keep_their_sign() {
        let t = epoch_seconds(&item(1, "1969-12-31T23:59:58.500Z")).expect("time");
        assert_eq!(t.get(), "-1.500");
    }
}
