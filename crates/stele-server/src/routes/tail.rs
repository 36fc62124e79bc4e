//! `GET /v1/events/tail`: the log as it grows, as Server-Sent Events.
//!
//! The first message is `event: ready` with `id:` the seq the stream starts after. Then
//! each event is one SSE message: `id:` its `seq`, `event: event`, `data:` the stored event
//! (`seq`, `hash` and all; only events the key's view filter lets it read). A client that
//! reconnects with `Last-Event-ID` (browsers' `EventSource` does it by itself) or `after=`
//! gets every matching event after that seq, so a tail resumes without gaps; without
//! either, it starts at the head (only new events).
//!
//! How it follows the log: every [`POLL`] the stream reads the tenant's head (its tree
//! size) and, when it grew, sends the matching events of the window `(last, head]` in seq
//! order, through the one query model (filter, `q`, view filter), a page at a time. Polling
//! the store rather than listening to this node's writer is what makes a tail on one node
//! see events appended through another node sharing the PostgreSQL database; an event
//! reaches the client within `POLL` plus one read of its 201.
//!
//! Bounds: at most `server.max_tail_streams` tails at once (503 `tail-busy` past it); a
//! bounded channel between the reader and the socket, so a client that stops reading stops
//! the reads instead of growing memory. A client more than `server.tail_max_behind` events
//! behind the head (it reads slower than the tenant writes) gets an `event: error` message saying
//! so and the stream ends: it can resume with `Last-Event-ID`, or export the gap. A client
//! that does not take a message for [`SEND_TIMEOUT`] is dropped.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use stele_core::filter::Value as FilterValue;
use stele_core::{Attr, CompareOp, Expr, Filter, Limit, PageRequest, Query, Scope, Sort, StoredEvent, TenantId};
use stele_store::Store;
use tokio::sync::mpsc;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::query::{parse_read, SearchParams};
use crate::routes::query_params;
use crate::state::AppState;

/// How often a tail looks for new events.
pub const POLL: Duration = Duration::from_millis(250);
/// Events read per page.
const PAGE: u32 = 500;
/// Messages buffered between the reader and the socket.
const BUFFER: usize = 64;
/// Longest wait for a client to take one message.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// A comment line sent on a quiet stream, so proxies and the server's idle timeout keep it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TailParams {
    /// SCIM filter: only matching events are sent.
    pub filter: Option<String>,
    /// Words to find (as in `GET /v1/events`).
    pub q: Option<String>,
    /// Start after this seq (the `Last-Event-ID` header, when sent, takes precedence).
    pub after: Option<u64>,
}

/// One Server-Sent Events message of a tail (documentation shape; `stream` writes them).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TailMessage {
    /// `ready` (first), `event` (one per matching event) or `error` (before the server ends
    /// the stream).
    #[schema(pattern = "^(ready|event|error)$")]
    event: String,
    /// The seq: of the event, or the one the stream starts after (`ready`).
    #[schema(pattern = "^[0-9]+$")]
    id: Option<String>,
    /// JSON: the stored event, `{"after": seq}` (`ready`) or the reason (`error`).
    data: String,
}

/// The live tails' bounds (`server.max_tail_streams`, `server.tail_max_behind`).
pub struct TailSlots {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    max_behind: u64,
}

impl TailSlots {
    pub fn new(settings: &crate::config::Server) -> Self {
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(settings.max_tail_streams));
        Self { slots, max_behind: settings.tail_max_behind }
    }
}

/// Follow the log live (Server-Sent Events; resume with `Last-Event-ID`).
#[utoipa::path(get, path = "/v1/events/tail", tag = "events", params(TailParams,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq (sent by EventSource on reconnect).")),
    responses((status = 200, description = "`event: ready` (its id: the seq the stream starts after), then `event: event` messages whose `id` is the seq and whose `data` is the stored event; `event: error` before the server ends a stream", content_type = "text/event-stream", body = TailMessage),
        (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem), (status = 503, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn tail(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: TailParams = query_params(&uri)?;
    let resume = resume_point(&headers, p.after)?;
    let params = SearchParams { filter: p.filter, q: p.q, ..SearchParams::default() };
    let query = parse_read(&principal, params)?.query;
    stream(&state, tenant, query, resume, |e| e.to_json()).await
}

/// Where a stream resumes: `Last-Event-ID`, else `after`, else nowhere (the head).
pub(crate) fn resume_point(headers: &HeaderMap, after: Option<u64>) -> Result<Option<u64>, ApiError> {
    let seq = |name: &str, n: Option<u64>| -> Result<u64, ApiError> {
        n.filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| ApiError::invalid_parameter(name, "must be a seq: a whole number below 2^63"))
    };
    match headers.get("last-event-id") {
        Some(v) => Ok(Some(seq("Last-Event-ID", v.to_str().ok().and_then(|s| s.trim().parse().ok()))?)),
        None => after.map(|n| seq("after", Some(n))).transpose(),
    }
}

/// The SSE answer following `query` on `tenant`'s log from `resume` (or the head); each
/// event's `data` is `data(event)` (the stored event for the API, a table row for the viewer).
pub(crate) async fn stream(
    state: &AppState,
    tenant: TenantId,
    query: Query,
    resume: Option<u64>,
    data: impl Fn(&StoredEvent) -> String + Send + Sync + 'static,
) -> Result<Response, ApiError> {
    // The windows the stream reads add two bounds to the filter: refuse a filter they would
    // push past its limits now, rather than end the stream later.
    window(&query, 0, 0, PAGE).map_err(|e| ApiError::invalid_parameter("filter", e))?;
    let Ok(slot) = state.tails.slots.clone().try_acquire_owned() else {
        crate::metrics::rejected(crate::metrics::Rejection::TailBusy);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tail-busy",
            "Too many live tails",
            "this server is serving as many live tails as it is configured for; retry later",
        )
        .with_retry_after(5));
    };
    let start = match resume {
        Some(seq) => seq,
        None => state.store.tree(&tenant).await?.size,
    };
    let (tx, rx) = mpsc::channel::<SseEvent>(BUFFER);
    let store = state.store.clone();
    let stopping = state.stopping.subscribe();
    let max_behind = state.tails.max_behind;
    tokio::spawn(async move {
        let _slot = slot;
        let source = Source { store: &*store, tenant: &tenant, query, max_behind, data: &data };
        match follow(source, start, &tx, stopping).await {
            Ok(()) | Err(Stop::Gone) => {}
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "tail stopped");
                let data = json!({"type": "internal", "detail": "the tail stopped on a server error; resume with Last-Event-ID"});
                let _ = tx.send_timeout(SseEvent::default().event("error").data(data.to_string()), SEND_TIMEOUT).await;
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (Ok::<_, Infallible>(m), rx)) });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// Why a tail ended.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("the client went away or stopped reading")]
    Gone,
    #[error(transparent)]
    Store(#[from] stele_store::StoreError),
    #[error("{0}")]
    Query(String),
}

/// What a tail reads and how it renders it.
struct Source<'a> {
    store: &'a dyn Store,
    tenant: &'a TenantId,
    query: Query,
    max_behind: u64,
    data: &'a (dyn Fn(&StoredEvent) -> String + Send + Sync),
}

/// Sends the matching events after `last` as the log grows, until the client goes.
async fn follow(
    source: Source<'_>,
    mut last: u64,
    tx: &mpsc::Sender<SseEvent>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Stop> {
    let Source { store, tenant, query: base, max_behind, data } = source;
    let send = |message: SseEvent| async move { tx.send_timeout(message, SEND_TIMEOUT).await.map_err(|_| Stop::Gone) };
    let error = |kind: &str, detail: String| {
        SseEvent::default().event("error").data(json!({"type": kind, "detail": detail}).to_string())
    };
    // Where this stream starts, as an event id: a client that loses the connection before
    // the first event resumes from here (EventSource keeps the last id it saw).
    let ready = json!({"after": last}).to_string();
    send(SseEvent::default().id(last.to_string()).event("ready").data(ready)).await?;
    loop {
        if *stopping.borrow() {
            let detail = "the server is shutting down; reconnect with Last-Event-ID".to_owned();
            return send(error("shutdown", detail)).await;
        }
        let head = store.tree(tenant).await?.size;
        if head > last.saturating_add(max_behind) {
            let detail = format!(
                "this client is {} events behind the head (more than {max_behind}); catch up through /v1/events/export, then resume with Last-Event-ID",
                head - last
            );
            return send(error("too-slow", detail)).await;
        }
        if head > last {
            let mut query = window(&base, last, head, PAGE).map_err(Stop::Query)?;
            loop {
                let page = store.query(tenant, &query).await?;
                for e in &page.events {
                    send(SseEvent::default().id(e.seq.get().to_string()).event("event").data(data(e))).await?;
                }
                match page.next {
                    Some(cursor) => query.page = PageRequest::After(cursor),
                    None => break,
                }
            }
            last = head;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tx.closed() => return Err(Stop::Gone),
            changed = stopping.changed() => if changed.is_err() { return Err(Stop::Gone) },
        }
    }
}

/// The query for the events of `(after, upto]` that `base` matches, oldest first, `page`
/// at a time (tails and stream delivery read their windows so).
pub(crate) fn window(base: &Query, after: u64, upto: u64, page: u32) -> Result<Query, String> {
    let int = |n: u64| FilterValue::Int(n.min(i64::MAX as u64) as i64);
    let bounds = Expr::and(
        Expr::compare(Attr::Seq, CompareOp::Gt, int(after)),
        Expr::compare(Attr::Seq, CompareOp::Le, int(upto)),
    );
    let expr = match base.filter.clone() {
        Some(f) => Expr::and(f.into_expr(), bounds),
        None => bounds,
    };
    let mut query = base.clone();
    query.filter = Some(Filter::new(expr).map_err(|e| e.to_string())?);
    query.sort = Sort::parse("seq").map_err(|e| e.to_string())?;
    query.limit = Limit::new(page).map_err(|e| e.to_string())?;
    query.page = PageRequest::First;
    Ok(query)
}
