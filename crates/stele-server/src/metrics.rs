//! Prometheus metrics: a process-wide recorder (the `metrics` facade is global), rendered at
//! `/metrics`, and a middleware timing every request by route.
//!
//! Label values come only from closed sets, because every distinct label set is a new series
//! that the registry keeps forever: a label taken from a request (a custom method, a path)
//! lets anyone grow the process's memory and the scrape without bound (security review,
//! issue #10 finding 2: a few hundred custom methods made a 100 MB scrape). So:
//! - the method is a [`Method`] (the seven standard ones, else `other`),
//! - the route is a [`Route`]: the router's matched template (a fixed set known at start-up,
//!   capped at [`MAX_ROUTES`] as a second fence) or `unmatched`,
//! - the status is a [`StatusClass`] (`1xx` … `5xx`).
//!
//! The `metrics::counter!`/`histogram!`/`gauge!` macros are disallowed by `clippy.toml`
//! everywhere else; code records through the typed functions of this module, or (in the store
//! crates, which have no labels to give) with an explicit `allow` naming the label-free call.
#![allow(clippy::disallowed_macros)]

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 20000.0];
/// Buckets of `stele_index_delay_seconds` (commit → indexed). Buckets rather than a summary:
/// their counts only grow, so the difference of two scrapes is the histogram of what
/// happened between them (`stele bench ingest` gives the p99 of each load that way), where a
/// summary's quantiles cover a sliding window.
const INDEX_DELAY_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0];

/// Installs the recorder once per process (later calls are no-ops).
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("stele_http_request_duration_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Prefix("stele_writer_batch".into()), BATCH_BUCKETS))
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("stele_index_delay_seconds".into()), INDEX_DELAY_BUCKETS)
            });
        match builder.and_then(|b| b.install_recorder()) {
            Ok(handle) => {
                metrics::describe_counter!(
                    "stele_events_ingested_total",
                    "Events appended (idempotent replays excluded)"
                );
                metrics::describe_histogram!("stele_http_request_duration_seconds", "HTTP request latency by route");
                metrics::describe_histogram!("stele_writer_batch_events", "Events per group commit");
                metrics::describe_histogram!("stele_writer_batch_requests", "Requests per group commit");
                metrics::describe_histogram!(
                    "stele_index_delay_seconds",
                    "From the commit of the oldest event of an indexer group to the group's index commit"
                );
                metrics::describe_counter!(
                    "stele_queries_cancelled_total",
                    "Store reads stopped because their deadline passed or their client went away"
                );
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        }
    });
}

/// The current metrics in Prometheus text format.
pub fn render() -> String {
    HANDLE.get().and_then(Option::as_ref).map(PrometheusHandle::render).unwrap_or_default()
}

/// An HTTP method as a label: the standard methods Stele's routes use, everything else `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn of(method: &axum::http::Method) -> Self {
        use axum::http::Method as M;
        match *method {
            M::GET => Self::Get,
            M::HEAD => Self::Head,
            M::POST => Self::Post,
            M::PUT => Self::Put,
            M::PATCH => Self::Patch,
            M::DELETE => Self::Delete,
            M::OPTIONS => Self::Options,
            _ => Self::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }
}

/// A response status as a label: its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub fn of(status: axum::http::StatusCode) -> Self {
        match status.as_u16() {
            0..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Informational => "1xx",
            Self::Success => "2xx",
            Self::Redirection => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        }
    }
}

/// Most distinct route templates kept as labels; more (which the router cannot produce: it
/// has fewer than 60) become `other`.
pub const MAX_ROUTES: usize = 256;

/// A route as a label: a template the router matched (`/v1/events/{id}`), never a raw path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(&'static str);

impl Route {
    pub const UNMATCHED: Route = Route("unmatched");

    /// The matched template, interned: the router's templates are a fixed set, so the
    /// interned strings are too (and [`MAX_ROUTES`] bounds them regardless).
    pub fn of(matched: Option<&MatchedPath>) -> Self {
        static ROUTES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
        let Some(path) = matched.map(MatchedPath::as_str) else { return Self::UNMATCHED };
        let Ok(mut routes) = ROUTES.lock() else { return Route("other") };
        if let Some(known) = routes.get(path) {
            return Route(known);
        }
        if routes.len() >= MAX_ROUTES {
            return Route("other");
        }
        // Leaked once per template (bounded above): labels then cost no allocation per request.
        let interned: &'static str = Box::leak(path.to_owned().into_boxed_str());
        routes.insert(interned);
        Route(interned)
    }
}

/// Records one request's latency.
pub fn request_done(method: Method, route: &Route, status: StatusClass, seconds: f64) {
    metrics::histogram!(
        "stele_http_request_duration_seconds",
        "method" => method.label(),
        "route" => route.0,
        "status" => status.label()
    )
    .record(seconds);
}

/// Counts appended events.
pub fn events_ingested(count: u64) {
    metrics::counter!("stele_events_ingested_total").increment(count);
}

/// Counts events a stream's destination acknowledged, and the acknowledged batch.
pub fn stream_delivered(events: u64) {
    metrics::counter!("stele_stream_events_delivered_total").increment(events);
    metrics::counter!("stele_stream_batches_total", "outcome" => "delivered").increment(1);
}

/// Counts events retention turned into tombstones.
pub fn retention_expired(events: u64) {
    metrics::counter!("stele_retention_expired_events_total").increment(events);
}

/// Counts a failed delivery attempt (retried).
pub fn stream_failed() {
    metrics::counter!("stele_stream_batches_total", "outcome" => "failed").increment(1);
}

/// Counts signed tree heads.
pub fn head_signed() {
    metrics::counter!("stele_tree_heads_signed_total").increment(1);
}

/// Counts a SCIM request by operation (a closed set: `stele_scim::Operation::name`) and
/// status class.
pub fn scim_request(operation: &'static str, status: u16) {
    let class = StatusClass::of(
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
    );
    metrics::counter!("stele_scim_requests_total", "operation" => operation, "status" => class.label()).increment(1);
}

/// Counts a SCIM request that named no known connection (so no tenant's log holds it).
pub fn scim_unattributed() {
    metrics::counter!("stele_scim_unattributed_requests_total").increment(1);
}

/// Why a request was refused by a rate limit (a closed label set).
#[derive(Debug, Clone, Copy)]
pub enum Rejection {
    FailedAuthLimit,
    KeyRateLimit,
    IngestBusy,
    /// A live tail past `server.max_tail_streams`.
    TailBusy,
}

/// Counts a request refused by a rate limit.
pub fn rejected(reason: Rejection) {
    let label = match reason {
        Rejection::FailedAuthLimit => "failed_auth_limit",
        Rejection::KeyRateLimit => "key_rate_limit",
        Rejection::IngestBusy => "ingest_busy",
        Rejection::TailBusy => "tail_busy",
    };
    metrics::counter!("stele_rate_limited_total", "reason" => label).increment(1);
}

/// The bytes of ingest bodies in flight (`stele_ingest_in_flight_bytes`).
pub fn ingest_in_flight(bytes: usize) {
    metrics::gauge!("stele_ingest_in_flight_bytes").set(bytes as f64);
}

/// Middleware: records the latency of each request under its route template.
pub async fn track(request: Request, next: Next) -> Response {
    let route = Route::of(request.extensions().get::<MatchedPath>());
    let method = Method::of(request.method());
    let start = Instant::now();
    let response = next.run(request).await;
    request_done(method, &route, StatusClass::of(response.status()), start.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_closed_sets() {
        let custom = axum::http::Method::from_bytes(b"FROBNICATE").expect("a token");
        assert_eq!(Method::of(&custom).label(), "other");
        assert_eq!(Method::of(&axum::http::Method::GET).label(), "GET");
        assert_eq!(StatusClass::of(axum::http::StatusCode::IM_A_TEAPOT).label(), "4xx");
        assert_eq!(StatusClass::of(axum::http::StatusCode::OK).label(), "2xx");
        assert_eq!(Route::of(None), Route::UNMATCHED);
    }
}
