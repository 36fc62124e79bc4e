//! The viewer's pages. Each handler checks the session, turns its URL parameters into the
//! parameters of the JSON API's read (`routes::query::SearchParams`,
//! `routes::scim_log::ScimLogParams`), runs that read through the same code
//! (`parse_read_in`/`scim_log_read` → `fetch`) and renders the answer: no page has query
//! logic of its own, so a page and its JSON twin always show the same rows.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use stele_core::Filter;
use stele_store::stats::Facet;
use stele_viewer::views::{
    Bar, Chip, Choice, EventView, EventsSummary, EventsView, FacetItem, FacetView, HistogramView, JsonBlock,
    ScimLogsView, ScimRow,
};

use super::format::{self, text};
use super::session::{not_found, signed_in, signed_in_script};
use super::{render, PageError};
use crate::error::ApiError;
use crate::routes::query::{fetch, parse_read_in, Read, SearchParams};
use crate::routes::query_params;
use crate::routes::scim_log::{scim_log_read, ScimLogParams};
use crate::routes::stats::{facets_of, histogram_of, FacetDto, Histogram};
use crate::state::AppState;

/// Rows per page.
const PAGE_ROWS: u32 = 50;
/// Most bars of the Events page's histogram.
const HISTOGRAM_BARS: u32 = 60;
/// Values per facet on the Events page.
const FACET_VALUES: u32 = 5;
/// Longest action prefix a chip may carry.
const MAX_ACTION_CHARS: usize = 128;

/// `GET /t/{tenant}`: the tenant's home is its events.
pub(crate) async fn home(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    Ok(Redirect::to(&format!("/t/{}/events", me.tenant.id)).into_response())
}

/// The Events page's URL state.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsParams {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    action: String,
    cursor: Option<String>,
    /// `inline`: the histogram and facets in the page itself (the no-script way); `fragment`:
    /// the summary request of the page's script.
    #[serde(default)]
    summary: String,
}

pub(super) fn href(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
        any = true;
    }
    if any {
        format!("{base}?{}", q.finish())
    } else {
        base.to_owned()
    }
}

impl EventsParams {
    fn href(&self, tenant: &str, cursor: Option<&str>) -> String {
        let p = self;
        href(
            &format!("/t/{tenant}/events"),
            &[
                ("filter", p.filter.as_str()),
                ("q", p.q.as_str()),
                ("from", p.from.as_str()),
                ("to", p.to.as_str()),
                ("status", p.status.as_str()),
                ("action", p.action.as_str()),
                ("cursor", cursor.unwrap_or("")),
            ],
        )
    }
}

impl EventsParams {
    /// The JSON API's read these fields mean, seen through `view`.
    fn read(&self, view: Option<stele_core::ViewFilter>) -> Result<Read, ApiError> {
        let filter = filter_text(self)?;
        let params = SearchParams {
            filter: Some(filter),
            q: Some(self.q.clone()).filter(|q| !q.trim().is_empty()),
            from: day("from", &self.from, false)?,
            to: day("to", &self.to, true)?,
            cursor: self.cursor.clone(),
            limit: Some(PAGE_ROWS),
            ..SearchParams::default()
        };
        parse_read_in(view, params)
    }
}

/// The histogram and facets of a read (every matching event, not only the page's rows).
async fn summary(
    state: &AppState,
    tenant: &stele_core::TenantId,
    read: &Read,
    p: &EventsParams,
    t: &str,
) -> Result<EventsSummary, ApiError> {
    let histogram = histogram_of(state, tenant, read, HISTOGRAM_BARS).await?;
    let facets = facets_of(state, tenant, read, &Facet::ALL, FACET_VALUES).await?;
    Ok(EventsSummary {
        histogram: histogram_view(&histogram, p, t),
        facets: facets.facets.iter().map(|f| facet_view(f, p, t)).collect(),
    })
}

/// `GET /t/{tenant}/events/summary`: the Events page's histogram and facets as an HTML
/// fragment, for the page's script (the same parameters and read as the page).
pub(crate) async fn events_summary(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    let me = signed_in_script(&state, &tenant, &headers).await.map_err(IntoResponse::into_response)?;
    let t = me.tenant.id.to_string();
    let p: EventsParams = query_params(&uri).map_err(IntoResponse::into_response)?;
    let read = p.read(me.view()).map_err(IntoResponse::into_response)?;
    let summary = summary(&state, &me.tenant.id, &read, &p, &t).await.map_err(IntoResponse::into_response)?;
    Ok(render(StatusCode::OK, &summary))
}

/// `YYYY-MM-DD` as the RFC 3339 instant that starts it, or the next day (an inclusive end);
/// an RFC 3339 instant (a histogram bar's edge) as itself.
pub(super) fn day(name: &str, value: &str, next: bool) -> Result<Option<String>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.contains('T') {
        let at = stele_core::Timestamp::parse(value).map_err(|e| ApiError::invalid_parameter(name, e))?;
        return Ok(Some(at.to_string()));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value, &format)
        .map_err(|_| ApiError::invalid_parameter(name, "must be a date like 2026-11-30"))?;
    let date = if next { date.next_day().unwrap_or(date) } else { date };
    let text = date.format(&format).map_err(|_| ApiError::internal())?;
    Ok(Some(format!("{text}T00:00:00Z")))
}

/// The filter text the page's fields mean: the typed filter AND the chips.
fn filter_text(p: &EventsParams) -> Result<String, ApiError> {
    let mut parts = Vec::new();
    if !p.filter.trim().is_empty() {
        parts.push(format!("({})", p.filter));
    }
    match p.status.as_str() {
        "" => {}
        s @ ("success" | "failure" | "warning" | "pending") => parts.push(format!("status eq \"{s}\"")),
        _ => return Err(ApiError::invalid_parameter("status", "must be success, failure, warning or pending")),
    }
    if !p.action.is_empty() {
        if p.action.chars().count() > MAX_ACTION_CHARS {
            return Err(ApiError::invalid_parameter("action", format!("at most {MAX_ACTION_CHARS} characters")));
        }
        stele_core::text::check_label(&p.action).map_err(|e| ApiError::invalid_parameter("action", e))?;
        let quoted = serde_json::to_string(&p.action).map_err(|_| ApiError::internal())?;
        parts.push(format!("action sw {quoted}"));
    }
    Ok(parts.join(" and "))
}

/// The typed filter's parse error, split at its position for the page.
fn filter_error(filter: &str) -> Option<stele_viewer::views::FilterError> {
    if filter.trim().is_empty() {
        return None;
    }
    let e = Filter::parse(filter).err()?;
    // The parser's position is a 1-based character position (0: none in particular).
    let chars: Vec<char> = filter.chars().collect();
    let at = e.position.saturating_sub(1).min(chars.len());
    let text = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    let end = (at + 1).min(chars.len());
    Some(stele_viewer::views::FilterError {
        message: e.message.clone(),
        before: text(0..at),
        at: text(at..end),
        after: text(end..chars.len()),
        column: at + 1,
    })
}

fn events_of(page: &stele_store::Page) -> Vec<Value> {
    page.events.iter().filter_map(|e| serde_json::from_str(&e.to_json()).ok()).collect()
}

/// A read the API refused (4xx: a bad filter, date or parameter) is answered with the page
/// itself saying why, under that status; anything else becomes the error page.
pub(super) fn refused<V: stele_viewer::Page>(
    e: ApiError,
    view: &mut V,
    error: impl FnOnce(&mut V) -> &mut Option<String>,
) -> Response {
    if !e.status.is_client_error() {
        return PageError::from(e).into_response();
    }
    let status = e.status;
    *error(view) = Some(e.detail);
    render(status, view)
}

/// `GET /t/{tenant}/events`.
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    let t = me.tenant.id.to_string();
    let p: EventsParams = query_params(&uri).map_err(|e| PageError::Api(e, format!("/t/{t}/events")))?;
    let kind = |v: &str| if v.contains('T') { "text" } else { "date" }.to_owned();
    let mut view = EventsView {
        from_type: kind(&p.from),
        to_type: kind(&p.to),
        chrome: me.chrome("events"),
        filter: p.filter.clone(),
        q: p.q.clone(),
        from: p.from.clone(),
        to: p.to.clone(),
        reset_href: format!("/t/{t}/events"),
        ..EventsView::default()
    };
    let status_choices =
        [("All", ""), ("Success", "success"), ("Failure", "failure"), ("Warning", "warning"), ("Pending", "pending")];
    view.status_chips = status_choices
        .iter()
        .map(|(label, value)| Chip {
            label: (*label).into(),
            href: EventsParams { status: (*value).into(), cursor: None, ..p.clone() }.href(&t, None),
            active: p.status == *value,
        })
        .collect();

    if let Some(error) = filter_error(&p.filter) {
        view.filter_error = Some(error);
        return Ok(render(StatusCode::BAD_REQUEST, &view));
    }
    let read: Read = match p.read(me.view()) {
        Ok(r) => r,
        Err(e) => return Ok(refused(e, &mut view, |v| &mut v.error)),
    };
    let (page, _) = fetch(&state, &me.tenant.id, &read).await?;
    let events = events_of(&page);
    view.rows = events.iter().map(|v| format::event_row(v, &t)).collect();
    if p.summary == "inline" {
        view.summary = Some(summary(&state, &me.tenant.id, &read, &p, &t).await?);
    } else {
        // The histogram and facets count every matching event, which takes longer than the
        // page of rows on a large tenant: the page is painted first and its script loads
        // them from `/events/summary` (the same read); without a script, a link asks for
        // the page with them inline.
        let base = EventsParams { cursor: None, ..p.clone() }.href(&t, None);
        let sep = if base.contains('?') { '&' } else { '?' };
        view.summary_href = Some(format!("{base}{sep}summary=fragment").replacen("/events", "/events/summary", 1));
        view.summary_inline_href = Some(format!("{base}{sep}summary=inline"));
    }

    // Action chips: the namespaces on this page (and the one chosen).
    let mut namespaces: Vec<String> = Vec::new();
    if !p.action.is_empty() {
        namespaces.push(p.action.clone());
    }
    for v in &events {
        let action = text(v, &["action"]);
        let ns = match action.split_once('.') {
            Some((head, _)) => format!("{head}."),
            None => action,
        };
        if !ns.is_empty() && !namespaces.contains(&ns) && namespaces.len() < 6 {
            namespaces.push(ns);
        }
    }
    if !namespaces.is_empty() {
        view.action_chips.push(Chip {
            label: "All".into(),
            href: EventsParams { action: String::new(), cursor: None, ..p.clone() }.href(&t, None),
            active: p.action.is_empty(),
        });
        for ns in namespaces {
            view.action_chips.push(Chip {
                label: ns.clone(),
                href: EventsParams { action: ns.clone(), cursor: None, ..p.clone() }.href(&t, None),
                active: p.action == ns,
            });
        }
    }
    view.next_href = page.next.map(|c| p.href(&t, Some(&c.encode())));
    view.first_href = p.cursor.as_ref().map(|_| p.href(&t, None));
    if me.may_export() {
        // The Export page gets the filter the chips mean, so it exports exactly these rows.
        let filter = filter_text(&p).unwrap_or_default();
        let pairs = [("filter", filter.as_str()), ("q", &p.q), ("from", &p.from), ("to", &p.to)];
        view.export_href = Some(href(&format!("/t/{t}/export"), &pairs));
    }
    Ok(render(StatusCode::OK, &view))
}

/// The histogram as bars of a 1000 × 100 box, each linking to its time range.
fn histogram_view(h: &Histogram, p: &EventsParams, tenant: &str) -> Option<HistogramView> {
    let (first, last) = (h.buckets.first()?, h.buckets.last()?);
    let max = h.buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let slot = 1000.0 / h.buckets.len() as f64;
    let gap = if slot > 4.0 { slot * 0.18 } else { 0.0 };
    let bars = h
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let height = if b.count == 0 { 0.0 } else { (b.count as f64 / max * 96.0).max(1.5) };
            let zoom = EventsParams { from: b.from.to_string(), to: b.to.to_string(), cursor: None, ..p.clone() };
            Bar {
                x: format!("{:.2}", i as f64 * slot + gap / 2.0),
                y: format!("{:.2}", 100.0 - height),
                w: format!("{:.2}", slot - gap),
                h: format!("{height:.2}"),
                href: zoom.href(tenant, None),
                label: format!(
                    "{} – {}: {} event{}",
                    format::short_time(&b.from.to_string()),
                    format::short_time(&b.to.to_string()),
                    b.count,
                    if b.count == 1 { "" } else { "s" }
                ),
            }
        })
        .collect();
    Some(HistogramView {
        bars,
        from: format::short_time(&first.from.to_string()),
        to: format::short_time(&last.to.to_string()),
        caption: format!("{} per bar · {} events", duration(h.bucket_seconds), h.total),
    })
}

/// `90` → `1 min 30 s`-like short text of a bucket width.
fn duration(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A facet as links that add `attribute eq "value"` to the filter.
fn facet_view(f: &FacetDto, p: &EventsParams, tenant: &str) -> FacetView {
    let title = match f.attribute.as_str() {
        "action" => "Action",
        "status" => "Status",
        "actor.email" => "Actor",
        _ => "Target type",
    };
    let items = f
        .values
        .iter()
        .map(|v| {
            let clause = format!("{} eq {}", f.attribute, serde_json::Value::String(v.value.clone()));
            let active = p.filter.contains(&clause);
            let filter = match p.filter.trim() {
                _ if active => p.filter.clone(),
                "" => clause,
                current => format!("({current}) and {clause}"),
            };
            FacetItem {
                label: v.value.clone(),
                count: v.count.to_string(),
                href: EventsParams { filter, cursor: None, ..p.clone() }.href(tenant, None),
                active,
            }
        })
        .collect();
    FacetView { title: title.into(), items }
}

/// `GET /t/{tenant}/events/{id}`.
pub(crate) async fn event(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    let t = me.tenant.id.to_string();
    let stored = match crate::routes::events::visible_event_in(&state, me.view(), &me.tenant.id, &id).await {
        Ok(e) => e,
        Err(e) if e.status == StatusCode::NOT_FOUND => return Err(not_found(&me.tenant.id)),
        Err(e) => return Err(e.into()),
    };
    let v: Value = serde_json::from_str(&stored.to_json()).map_err(|_| ApiError::internal())?;
    let key = crate::routes::integrity::PublicKey::of(&state);
    let event_id = text(&v, &["id"]);
    let status = text(&v, &["status"]);
    let changes = v.get("changes");
    let mut bodies = Vec::new();
    for (title, path) in [("Request body", ["request", "body"]), ("Response body", ["request", "response_body"])] {
        if let Some(b) = v.get(path[0]).and_then(|r| r.get(path[1])) {
            bodies.push(JsonBlock { title: title.into(), json: format::pretty(b) });
        }
    }
    if let Some(m) = v.get("metadata") {
        bodies.push(JsonBlock { title: "Metadata".into(), json: format::pretty(m) });
    }
    let view = EventView {
        chrome: me.chrome("events"),
        back_href: format!("/t/{t}/events"),
        id: text(&v, &["id"]),
        action: text(&v, &["action"]),
        status: format::status_label(&status),
        status_class: format::status_class(&status).into(),
        message: text(&v, &["message"]),
        fields: format::fields(&v),
        diff: format::diff(changes.and_then(|c| c.get("before")), changes.and_then(|c| c.get("after"))),
        bodies,
        leaf_hash: Some(text(&v, &["hash"])).filter(|h| !h.is_empty()).unwrap_or_else(|| "(none)".into()),
        seq: text(&v, &["seq"]),
        raw: format::pretty(&v),
        proof_href: format!("/t/{t}/events/{event_id}/proof"),
        public_key: key.public_key,
        key_id: key.key_id,
        integrity_href: format!("/t/{t}/integrity"),
    };
    Ok(render(StatusCode::OK, &view))
}

/// The SCIM Audit Logs page's URL state (the seed's filters).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScimPageParams {
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    end_date: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    status: String,
    cursor: Option<String>,
}

impl ScimPageParams {
    fn pairs<'a>(&'a self, cursor: Option<&'a str>) -> [(&'a str, &'a str); 7] {
        [
            ("start_date", self.start_date.as_str()),
            ("end_date", self.end_date.as_str()),
            ("method", self.method.as_str()),
            ("resource_type", self.resource_type.as_str()),
            ("endpoint", self.endpoint.as_str()),
            ("status", self.status.as_str()),
            ("cursor", cursor.unwrap_or("")),
        ]
    }

    /// The JSON API's parameters for the same rows.
    fn api(&self) -> Result<ScimLogParams, ApiError> {
        let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty() && s != "all");
        Ok(ScimLogParams {
            from: day("start_date", &self.start_date, false)?,
            to: day("end_date", &self.end_date, true)?,
            method: some(&self.method),
            resource_type: some(&self.resource_type),
            endpoint: some(&self.endpoint),
            status: some(&self.status),
            limit: Some(PAGE_ROWS),
            cursor: self.cursor.clone(),
            offset: None,
            total: None,
        })
    }

    /// The `GET /v1/scim-log` URL of the same rows.
    fn api_href(&self) -> String {
        let Ok(api) = self.api() else { return "/v1/scim-log".into() };
        let (from, to) = (api.from.unwrap_or_default(), api.to.unwrap_or_default());
        let (method, kind) = (api.method.unwrap_or_default(), api.resource_type.unwrap_or_default());
        let (endpoint, status) = (api.endpoint.unwrap_or_default(), api.status.unwrap_or_default());
        href(
            "/v1/scim-log",
            &[
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("method", method.as_str()),
                ("resource_type", kind.as_str()),
                ("endpoint", endpoint.as_str()),
                ("status", status.as_str()),
            ],
        )
    }
}

fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).into(),
            label: (*label).into(),
            selected: *value == current || (value.is_empty() && current == "all"),
        })
        .collect()
}

fn scim_row(n: usize, v: &Value, tenant: &str) -> ScimRow {
    let ok = text(v, &["status"]) == "success";
    let time = text(v, &["time"]);
    ScimRow {
        n,
        href: format!("/t/{tenant}/events/{}", text(v, &["id"])),
        request_id: text(v, &["request", "id"]),
        time: format::short_time(&time),
        time_iso: time,
        status: if ok { "Success" } else { "Failed" }.into(),
        failed: !ok,
        error: Some(text(v, &["message"])).filter(|m| !m.is_empty()).unwrap_or_else(|| "(no message)".into()),
        method: text(v, &["request", "method"]),
        endpoint: text(v, &["request", "path"]),
        query: format::query_text(v.get("request").and_then(|r| r.get("query"))),
        status_code: text(v, &["request", "status_code"]),
        response: format::pretty(&format::response_document(v)),
        request: format::pretty(&format::request_document(v)),
    }
}

/// `GET /t/{tenant}/scim-logs` (seed 001, profiles.md A.2).
pub(crate) async fn scim_logs(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    let t = me.tenant.id.to_string();
    let base = format!("/t/{t}/scim-logs");
    let p: ScimPageParams = query_params(&uri).map_err(|e| PageError::Api(e, base.clone()))?;
    let mut view = ScimLogsView {
        chrome: me.chrome("scim"),
        start_date: p.start_date.clone(),
        end_date: p.end_date.clone(),
        endpoint: p.endpoint.clone(),
        methods: choices(
            &[("", "All"), ("GET", "GET"), ("PUT", "PUT"), ("POST", "POST"), ("PATCH", "PATCH"), ("DELETE", "DELETE")],
            &p.method,
        ),
        resource_types: choices(
            &[("", "All"), ("Users", "Users"), ("Groups", "Groups"), ("Me", "Me"), ("Bulk", "Bulk")],
            &p.resource_type,
        ),
        statuses: choices(&[("", "All"), ("success", "Success"), ("failed", "Failed")], &p.status),
        reset_href: base.clone(),
        api_href: p.api_href(),
        ..ScimLogsView::default()
    };
    let read = p.api().and_then(|api| scim_log_read(me.view(), api));
    let read = match read {
        Ok(r) => r,
        Err(e) => return Ok(refused(e, &mut view, |v| &mut v.error)),
    };
    let (page, _) = fetch(&state, &me.tenant.id, &read).await?;
    view.rows = events_of(&page).iter().enumerate().map(|(n, v)| scim_row(n, v, &t)).collect();
    view.next_href = page.next.map(|c| href(&base, &p.pairs(Some(&c.encode()))));
    view.first_href = p.cursor.as_ref().map(|_| href(&base, &p.pairs(None)));
    Ok(render(StatusCode::OK, &view))
}

/// The Live page's URL state.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiveParams {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    q: String,
    /// The stream only: where to start (the newest event the page showed).
    after: Option<u64>,
}

/// Rows the Live page starts with.
const LIVE_ROWS: u32 = 50;

impl LiveParams {
    fn read(&self, view: Option<stele_core::ViewFilter>) -> Result<Read, ApiError> {
        let params = SearchParams {
            filter: Some(self.filter.clone()).filter(|f| !f.trim().is_empty()),
            q: Some(self.q.clone()).filter(|q| !q.trim().is_empty()),
            limit: Some(LIVE_ROWS),
            sort: Some("-seq".into()),
            ..SearchParams::default()
        };
        parse_read_in(view, params)
    }
}

/// `GET /t/{tenant}/live`: the newest matching events, and a stream of the next ones.
pub(crate) async fn live(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    let t = me.tenant.id.to_string();
    let p: LiveParams = query_params(&uri).map_err(|e| PageError::Api(e, format!("/t/{t}/live")))?;
    let mut view = stele_viewer::views::LiveView {
        chrome: me.chrome("live"),
        filter: p.filter.clone(),
        q: p.q.clone(),
        events_href: href(&format!("/t/{t}/events"), &[("filter", &p.filter), ("q", &p.q)]),
        ..Default::default()
    };
    let read = match p.read(me.view()) {
        Ok(r) => r,
        Err(e) => return Ok(refused(e, &mut view, |v| &mut v.error)),
    };
    // The stream starts after the newest row shown (rows are newest first by seq), so no
    // event is shown twice or falls between the table and the stream. With no row, after the
    // head read before the rows: an event appended between the two reads that matched would
    // have been a row.
    let head = state.store.tree(&me.tenant.id).await?.size;
    let (page, _) = fetch(&state, &me.tenant.id, &read).await?;
    let newest = page.events.first().map_or(head, |e| e.seq.get().max(head));
    view.rows = events_of(&page).iter().map(|v| format::event_row(v, &t)).collect();
    let after = newest.to_string();
    view.stream_href = href(&format!("/t/{t}/live/stream"), &[("filter", &p.filter), ("q", &p.q), ("after", &after)]);
    Ok(render(StatusCode::OK, &view))
}

/// `GET /t/{tenant}/live/stream`: the Live page's Server-Sent Events, each event's `data` its
/// table row ([`stele_viewer::views::EventRow`] as JSON: the page's script only lays it out).
pub(crate) async fn live_stream(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Response> {
    let me = signed_in_script(&state, &tenant, &headers).await.map_err(IntoResponse::into_response)?;
    let t = me.tenant.id.to_string();
    let p: LiveParams = query_params(&uri).map_err(IntoResponse::into_response)?;
    let read = p.read(me.view()).map_err(IntoResponse::into_response)?;
    let resume = crate::routes::tail::resume_point(&headers, p.after).map_err(IntoResponse::into_response)?;
    let row = move |e: &stele_core::StoredEvent| {
        let value: Value = serde_json::from_str(&e.to_json()).unwrap_or(Value::Null);
        serde_json::to_string(&format::event_row(&value, &t)).unwrap_or_default()
    };
    crate::routes::tail::stream(&state, me.tenant.id.clone(), read.query, resume, row)
        .await
        .map_err(IntoResponse::into_response)
}
