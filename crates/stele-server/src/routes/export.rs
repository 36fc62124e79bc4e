//! `GET /v1/events/export`: every matching event, streamed in `seq` order with constant
//! memory (pages of 1000 through the one query model, a bounded channel to the socket).
//!
//! NDJSON carries what verification needs: a first line naming the export and the signed
//! head it is checked against, then each stored event (`seq`, `hash` and all) up to that
//! head. A complete export (no filter, no view filter) lets `stele verify` rebuild the
//! head's root from the leaves; a filtered one adds each event's inclusion `proof`.
//!
//! The head covers every event committed when the export started: when the signer has not
//! signed one that far yet, the export signs it (`integrity::head_covering_now`), so an
//! export right after ingest is not silently short.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use stele_core::filter::Value as FilterValue;
use stele_core::{Attr, CompareOp, Expr, Filter, Limit, PageRequest, Query, Scope, Sort, StoredEvent, TenantId};
use stele_store::{proofs, Store};
use tokio::sync::mpsc;

use crate::auth::Principal;
use crate::csv_out::CsvWriter;
use crate::error::ApiError;
use crate::routes::query::{parse_read_in, SearchParams};
use crate::routes::query_params;
use crate::state::AppState;

/// Events per page read from the store.
const PAGE: u32 = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `ndjson` (default; verifiable; also `jsonl`) or `csv`.
    #[param(pattern = "^(ndjson|jsonl|csv)$", example = "ndjson")]
    pub format: Option<String>,
    /// SCIM filter.
    pub filter: Option<String>,
    /// Words to find.
    pub q: Option<String>,
    /// Earliest event time, inclusive (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Ndjson,
    Csv,
}

/// Export events as NDJSON (with the signed head that covers them) or CSV.
#[utoipa::path(get, path = "/v1/events/export", tag = "integrity", params(ExportParams),
    responses((status = 200, description = "application/x-ndjson or text/csv, streamed"), (status = 400, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsExport)?;
    let tenant = principal.tenant(&headers)?;
    let p: ExportParams = query_params(&uri)?;
    let export = parse_export(crate::view_filter::of(&principal)?, p)?;
    stream_export(&state, tenant, export).await
}

/// A checked export request: what to write and which events.
pub(crate) struct Export {
    format: Format,
    query: Query,
    /// No filter and no view: every event, so the leaves alone rebuild the head's root.
    complete: bool,
}

impl Export {
    /// `ndjson` or `csv`.
    pub(crate) fn format_name(&self) -> &'static str {
        match self.format {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

/// Parses an export's parameters for a reader with `view` (the API key's view filter, or a
/// viewer session's): the same read model as `GET /v1/events`.
pub(crate) fn parse_export(view: Option<stele_core::ViewFilter>, p: ExportParams) -> Result<Export, ApiError> {
    let format = match p.format.as_deref().unwrap_or("ndjson") {
        "ndjson" | "jsonl" => Format::Ndjson,
        "csv" => Format::Csv,
        other => return Err(ApiError::invalid_parameter("format", format!("{other:?}: expected ndjson or csv"))),
    };
    let complete = p.filter.is_none() && p.q.is_none() && p.from.is_none() && p.to.is_none();
    let params = SearchParams { filter: p.filter, q: p.q, from: p.from, to: p.to, ..SearchParams::default() };
    let query = parse_read_in(view, params)?.query;
    let complete = complete && query.filter.is_none() && query.view.is_none();
    Ok(Export { format, query, complete })
}

/// Streams an export of `tenant` (`GET /v1/events/export` and the viewer's export download).
pub(crate) async fn stream_export(state: &AppState, tenant: TenantId, export: Export) -> Result<Response, ApiError> {
    let Export { format, mut query, complete } = export;
    // A head covering everything committed now (signed on the spot when the signer has not
    // caught up yet), so an export made right after ingest still holds every event.
    let head = crate::integrity::head_covering_now(&*state.store, &state.signer, &state.heads_signed, &tenant).await?;
    let size = head.as_ref().map_or(0, |h| h.head.size);
    // Exactly the events the head covers.
    let bound = Expr::compare(Attr::Seq, CompareOp::Le, FilterValue::Int(size.min(i64::MAX as u64) as i64));
    let bounded = match query.filter.take() {
        Some(f) => Filter::new(Expr::and(f.into_expr(), bound)),
        None => Filter::new(bound),
    };
    query.filter = Some(bounded.map_err(|e| ApiError::invalid_parameter("filter", e.to_string()))?);
    query.sort = Sort::parse("seq")?;
    query.limit = Limit::new(PAGE)?;
    query.page = PageRequest::First;

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let first = match format {
        Format::Ndjson => {
            let line = json!({"stele_export": 1, "tenant": tenant, "complete": complete, "head": head});
            format!("{line}\n")
        }
        Format::Csv => csv_header(),
    };
    let store = state.store.clone();
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(first))).await.is_err() {
            return;
        }
        if let Err(e) = stream_pages(&*store, &tenant, query, format, complete, size, &tx).await {
            tracing::warn!(%tenant, error = %e, "export stopped");
            let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    let (kind, name) = match format {
        Format::Ndjson => ("application/x-ndjson", "events.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "events.csv"),
    };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

async fn stream_pages(
    store: &dyn Store,
    tenant: &TenantId,
    mut query: Query,
    format: Format,
    complete: bool,
    size: u64,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), String> {
    loop {
        let page = store.query(tenant, &query).await.map_err(|e| e.to_string())?;
        let mut chunk = Vec::with_capacity(page.events.len() * 1200);
        let mut proofs = match format {
            Format::Ndjson if !complete => {
                let indexes: Vec<u64> = page.events.iter().map(|e| e.seq.get() - 1).collect();
                proofs::inclusions(store, tenant, &indexes, size).await.map_err(|e| e.to_string())?.into_iter()
            }
            _ => Vec::new().into_iter(),
        };
        for event in &page.events {
            match format {
                Format::Ndjson if complete => {
                    chunk.extend_from_slice(event.to_json().as_bytes());
                    chunk.push(b'\n');
                }
                Format::Ndjson => {
                    let proof = proofs.next().ok_or("a proof is missing")?;
                    let mut value: Value = serde_json::from_str(&event.to_json()).map_err(|e| e.to_string())?;
                    if let Some(obj) = value.as_object_mut() {
                        obj.insert("proof".into(), json!(proof));
                    }
                    chunk.extend_from_slice(value.to_string().as_bytes());
                    chunk.push(b'\n');
                }
                Format::Csv => csv_row(&mut chunk, event)?,
            }
        }
        if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            return Ok(()); // the client went away
        }
        match page.next {
            Some(cursor) => query.page = PageRequest::After(cursor),
            None => return Ok(()),
        }
    }
}

/// CSV columns: the event's scalar fields, then its structured parts as JSON text.
const CSV_COLUMNS: [&str; 22] = [
    "seq",
    "id",
    "time",
    "received_at",
    "action",
    "status",
    "actor.type",
    "actor.id",
    "actor.name",
    "actor.email",
    "actor.ip",
    "origin",
    "message",
    "reason",
    "targets",
    "context",
    "request",
    "changes",
    "correlation_id",
    "metadata",
    "redacted",
    "hash",
];

fn csv_header() -> String {
    let mut w = CsvWriter::new(Vec::new());
    let _ = w.write_row(CSV_COLUMNS);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn csv_row(out: &mut Vec<u8>, event: &StoredEvent) -> Result<(), String> {
    let value: Value = serde_json::from_str(&event.to_json()).map_err(|e| e.to_string())?;
    let cell = |path: &str| -> String {
        let mut v = &value;
        for part in path.split('.') {
            match v.get(part) {
                Some(next) => v = next,
                None => return String::new(),
            }
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    let mut w = CsvWriter::new(Vec::new());
    w.write_row(CSV_COLUMNS.iter().map(|c| cell(c))).map_err(|e| e.to_string())?;
    out.extend_from_slice(&w.into_inner().map_err(|e| e.to_string())?);
    Ok(())
}
