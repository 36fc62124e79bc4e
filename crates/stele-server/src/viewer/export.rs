//! The Export page (`/t/{tenant}/export`) and its download. The page carries the Events
//! page's view (`filter`, `q`, `from`, `to`: the link "Export this view" fills them, with
//! the chips already folded into `filter`) and offers CSV or NDJSON; the download runs the
//! JSON API's export (`routes::export::parse_export` + `stream_export`) with the session's
//! view, so the file is byte for byte what `GET /v1/events/export` streams for the same
//! parameters — the NDJSON is what `stele verify --export` checks.
//!
//! The download is a POST with the session's CSRF token (a cross-site page cannot make a
//! browser export, nor fill the log with `stele.viewer.exported` events). Its event is
//! appended before the stream starts: an export that was not recorded is not served.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use stele_core::{Status, Target};
use stele_viewer::views::ExportView;

use super::pages::{day, href, refused};
use super::session::{event, forbidden, session_form, signed_in, SignedIn};
use super::{render, PageError};
use crate::error::ApiError;
use crate::routes::export::{parse_export, stream_export, Export, ExportParams};
use crate::routes::query::{parse_read_in, SearchParams};
use crate::routes::query_params;
use crate::state::AppState;

/// The Export page's URL state (the Events page's, chips folded into `filter`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportPageParams {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

impl ExportPageParams {
    /// The API's export parameters of the same view (days become RFC 3339 instants as on the
    /// Events page: `to` is inclusive there).
    fn api(&self) -> Result<ExportParams, ApiError> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(ExportParams {
            format: Some(if self.format == "csv" { "csv" } else { "ndjson" }.to_owned()),
            filter: some(&self.filter),
            q: some(&self.q),
            from: day("from", self.from.trim(), false)?,
            to: day("to", self.to.trim(), true)?,
        })
    }
}

/// The 403 of a session that may not export.
fn may_not_export(me: &SignedIn) -> PageError {
    forbidden(me, "Exporting needs the auditor role or higher (or a link whose key may export).")
}

/// `GET /t/{tenant}/export`.
pub(crate) async fn export_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    if !me.may_export() {
        return Err(may_not_export(&me));
    }
    let t = me.tenant.id.to_string();
    let p: ExportPageParams = query_params(&uri).map_err(|e| PageError::Api(e, format!("/t/{t}/export")))?;
    let pairs = [("filter", p.filter.as_str()), ("q", &p.q), ("from", &p.from), ("to", &p.to)];
    let mut view = ExportView {
        chrome: me.chrome("export"),
        filter: p.filter.clone(),
        q: p.q.clone(),
        from: p.from.clone(),
        to: p.to.clone(),
        format: if p.format == "csv" { "csv" } else { "ndjson" }.into(),
        events_href: href(&format!("/t/{t}/events"), &pairs),
        public_key: crate::routes::integrity::PublicKey::of(&state).public_key,
        ..ExportView::default()
    };
    // The count runs the export's own read (its parameters, the session's view).
    let read = p.api().and_then(|api| {
        let params =
            SearchParams { filter: api.filter, q: api.q, from: api.from, to: api.to, ..SearchParams::default() };
        parse_read_in(me.view(), params)
    });
    let read = match read {
        Ok(r) => r,
        Err(e) => return Ok(refused(e, &mut view, |v| &mut v.error)),
    };
    let n = state.store.count(&me.tenant.id, &read.query).await?;
    view.count = Some(format!("{n} event{} in this view now.", if n == 1 { "" } else { "s" }));
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/export/download`: the streamed export, recorded as
/// `stele.viewer.exported`.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let form = session_form(&state, &tenant, request).await?;
    let me = &form.me;
    if !me.may_export() {
        return Err(may_not_export(me));
    }
    let t = me.tenant.id.to_string();
    let p = ExportPageParams {
        filter: form.field("filter"),
        q: form.field("q"),
        from: form.field("from"),
        to: form.field("to"),
        format: form.field("format"),
    };
    let back = |e: ApiError| PageError::Api(e, format!("/t/{t}/export"));
    let api = p.api().map_err(back)?;
    let described = describe(&api);
    let export: Export = parse_export(me.view(), api).map_err(back)?;
    let actor = me.actor(form.ip);
    let mut audit = event(
        "stele.viewer.exported",
        Status::Success,
        actor,
        Target { kind: Some("export".into()), name: Some(export.format_name().into()), ..Target::default() },
        format!("Exported {} as {}", described, export.format_name().to_uppercase()),
        None,
    );
    audit.event.context.insert("format".into(), export.format_name().into());
    // The leaf hash is computed from the content: rebuilt after the change.
    let audit = stele_core::NewEvent::new(audit.event);
    state.store.append(&me.tenant.id, vec![audit], None).await?;
    Ok(stream_export(&state, me.tenant.id.clone(), export).await?)
}

/// `the events matching filter … and "q"` for the event's message.
fn describe(p: &ExportParams) -> String {
    let mut parts = Vec::new();
    if let Some(f) = &p.filter {
        parts.push(format!("filter {f}"));
    }
    if let Some(q) = &p.q {
        parts.push(format!("search {q:?}"));
    }
    if let Some(from) = &p.from {
        parts.push(format!("from {from}"));
    }
    if let Some(to) = &p.to {
        parts.push(format!("before {to}"));
    }
    if parts.is_empty() {
        "every event".to_owned()
    } else {
        format!("the events of {}", parts.join(", "))
    }
}
