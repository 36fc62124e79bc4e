//! Datadog logs: `POST <url>/api/v2/logs` with `DD-API-KEY`, a JSON array with one log per
//! event (<https://docs.datadoghq.com/api/latest/logs/send-logs/>):
//!
//! ```text
//! [{"ddsource":"stele","service":"stele","hostname":"acme","ddtags":"env:prod,tenant:acme",
//!   "message":"user.login by u1 (success)","date":1714564800250,"stele":{<stored event>}}]
//! ```
//! `ddsource`, `service`, `hostname`, `ddtags` and `message` are Datadog's reserved
//! attributes; `date` (epoch milliseconds) is one of the attributes its log pipeline takes
//! as the official timestamp by default
//! (<https://docs.datadoghq.com/logs/log_configuration/processors/log_date_remapper/>), so
//! the log is dated by the event's own time. Datadog accepts logs dated at most 18 hours in
//! the past (and 2 hours ahead); an older event — a new stream catching up on last month —
//! is sent without `date` and so dated at its arrival (its own time stays in
//! `@stele.time`), rather than dropped. The stored event goes under `stele`, so facets read
//! `@stele.action`, `@stele.actor.email`.
//!
//! Limits per request: at most 1000 logs and 5 MB uncompressed. The policy asks for at most
//! 1000 events, and a batch whose logs exceed 5 MB is sent in several requests (a failure
//! of a later one fails the batch, and the earlier logs are sent again: at least once).
//! Datadog answers 202; any 2xx acknowledges.

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde::Serialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use crate::config::{self, ConfigError, ParseOptions, Secret};
use crate::sink::{event_json, Batch, DeliveryError, Policy, Sink, SinkContext, Summary};

pub(crate) const PATH: &str = "/api/v2/logs";
/// Datadog's limits per request.
pub(crate) const MAX_LOGS: usize = 1000;
pub(crate) const MAX_BYTES: usize = 5_000_000;
/// `date` is sent only for events this recent (Datadog's 18 hours, less a margin for a
/// slow retry) and at most this far ahead (its 2 hours, less a margin).
const DATE_PAST: time::Duration = time::Duration::hours(17);
const DATE_FUTURE: time::Duration = time::Duration::hours(1);

pub(crate) struct DatadogSink {
    client: reqwest::Client,
    endpoint: Url,
    api_key: HeaderValue,
    settings: config::Datadog,
    timeout: Duration,
}

impl DatadogSink {
    pub(crate) fn new(d: &config::Datadog, api_key: &Secret, ctx: &SinkContext) -> Result<Self, ConfigError> {
        let base = config::check_url("url", &d.url, ParseOptions { allow_http: true }, true)?;
        Ok(DatadogSink {
            client: crate::http::client(ctx)?,
            endpoint: config::endpoint(&base, PATH),
            api_key: crate::http::secret_header(api_key.expose(), "api_key")?,
            settings: d.clone(),
            timeout: ctx.timeout,
        })
    }
}

#[async_trait::async_trait]
impl Sink for DatadogSink {
    fn policy(&self) -> Policy {
        Policy { max_events: MAX_LOGS, max_wait: Duration::ZERO, needs_proofs: false }
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), DeliveryError> {
        for body in bodies(&self.settings, batch, MAX_BYTES, OffsetDateTime::now_utc())? {
            let request = self
                .client
                .post(self.endpoint.clone())
                .header("DD-API-KEY", self.api_key.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body);
            let status = crate::http::send(request, self.timeout).await?;
            crate::http::acknowledged(status, self.timeout)?;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Log<'a> {
    ddsource: &'a str,
    service: &'a str,
    hostname: &'a str,
    ddtags: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<i64>,
    stele: &'a RawValue,
}

/// The request bodies of a batch: JSON arrays of at most [`MAX_LOGS`] logs and at most
/// `max_bytes` (a single larger log goes alone; Datadog truncates it).
pub(crate) fn bodies(
    s: &config::Datadog,
    batch: &Batch,
    max_bytes: usize,
    now: OffsetDateTime,
) -> Result<Vec<String>, DeliveryError> {
    let tenant_tag = format!("tenant:{}", batch.tenant);
    let ddtags = match &s.ddtags {
        Some(tags) => format!("{tags},{tenant_tag}"),
        None => tenant_tag,
    };
    let mut out = Vec::new();
    let mut body = String::new();
    let mut count = 0;
    for item in &batch.items {
        let log = Log {
            ddsource: &s.ddsource,
            service: &s.service,
            hostname: &batch.tenant,
            ddtags: ddtags.clone(),
            message: Summary::of(item).line(),
            date: OffsetDateTime::parse(&item.time, &Rfc3339)
                .ok()
                .filter(|t| *t >= now - DATE_PAST && *t <= now + DATE_FUTURE)
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()),
            stele: event_json(item)?,
        };
        let log = serde_json::to_string(&log).map_err(|_| DeliveryError::encode(item.seq))?;
        // "[" + logs joined by "," + "]"
        if count > 0 && (count == MAX_LOGS || body.len() + 1 + log.len() + 1 > max_bytes) {
            body.push(']');
            out.push(std::mem::take(&mut body));
            count = 0;
        }
        body.push(if count == 0 { '[' } else { ',' });
        body.push_str(&log);
        count += 1;
    }
    if count > 0 {
        body.push(']');
        out.push(body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Item;

    fn settings() -> config::Datadog {
        config::Datadog {
            url: config::DATADOG_DEFAULT_URL.into(),
            service: "stele".into(),
            ddsource: "stele".into(),
            ddtags: Some("env:prod".into()),
        }
    }

    fn item(seq: u64) -> Item {
        Item {
            seq,
            time: "2024-05-01T12:00:00.250Z".into(),
            json: format!(r#"{{"seq":{seq},"action":"user.login","status":"success","actor":{{"id":"u1"}}}}"#),
            proof: None,
        }
    }

    /// A minute after the test events' time.
    fn soon() -> OffsetDateTime {
        time::macros::datetime!(2024-05-01 12:01 UTC)
    }

    #[test]
    fn one_log_per_event_with_reserved_attributes() {
        let batch = Batch { tenant: "acme".into(), items: vec![item(1)], head: None };
        let bodies = bodies(&settings(), &batch, MAX_BYTES, soon()).expect("bodies");
        assert_eq!(
            bodies,
            [concat!(
                r#"[{"ddsource":"stele","service":"stele","hostname":"acme","ddtags":"env:prod,tenant:acme","#,
                r#""message":"user.login by u1 (success)","date":1714564800250,"#,
                r#""stele":{"seq":1,"action":"user.login","status":"success","actor":{"id":"u1"}}}]"#
            )]
        );
    }

    #[test]
    fn events_too_old_or_too_new_for_datadog_go_without_date() {
        let batch = Batch { tenant: "acme".into(), items: vec![item(1)], head: None };
        let date = |now: OffsetDateTime| {
            let body = bodies(&settings(), &batch, MAX_BYTES, now).expect("bodies").remove(0);
            serde_json::from_str::<serde_json::Value>(&body).expect("json")[0].get("date").cloned()
        };
        assert_eq!(date(soon()), Some(serde_json::json!(1_714_564_800_250i64)));
        assert_eq!(date(soon() + time::Duration::hours(16)), Some(serde_json::json!(1_714_564_800_250i64)));
        assert_eq!(date(soon() + time::Duration::days(30)), None);
        assert_eq!(date(soon() - time::Duration::hours(3)), None);
    }

    #[test]
    fn large_batches_are_split_by_count_and_size() {
        let batch = Batch { tenant: "acme".into(), items: (1..=2500).map(item).collect(), head: None };
        let counts: Vec<usize> = bodies(&settings(), &batch, MAX_BYTES, soon())
            .expect("bodies")
            .iter()
            .map(|b| serde_json::from_str::<Vec<serde_json::Value>>(b).expect("array").len())
            .collect();
        assert_eq!(counts, [1000, 1000, 500]);

        let one =
            bodies(&settings(), &Batch { items: vec![item(1)], ..batch.clone() }, MAX_BYTES, soon()).expect("one");
        let limit = one[0].len() * 3; // room for three logs, not four
        let split =
            bodies(&settings(), &Batch { items: (1..=10).map(item).collect(), ..batch }, limit, soon()).expect("split");
        assert!(split.iter().all(|b| b.len() <= limit), "{split:?}");
        let seqs: Vec<u64> = split
            .iter()
            .flat_map(|b| serde_json::from_str::<Vec<serde_json::Value>>(b).expect("array"))
            .map(|log| log["stele"]["seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert!(split.len() >= 4);
    }
}
