//! `GET /v1/events/histogram` and `GET /v1/events/facets`: event counts over time and the
//! most frequent values of a few attributes, for the same parameters as `GET /v1/events`
//! (filter, words, range; the key's view AND-ed in), so a chart or facet never counts an
//! event its reader could not list. The viewer's Events page draws the same answers.
//!
//! A histogram's window is `from`..`to`, or, for an open end, the oldest/newest matching
//! event; its bucket width is the smallest "round" width (1 s … 30 d) that covers the window
//! in at most `buckets` buckets, and the first bucket starts at a multiple of that width.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use serde::{Deserialize, Serialize};
use stele_core::{Limit, PageRequest, Scope, Sort, TenantId, Timestamp};
use stele_store::stats::{Buckets, Facet, MAX_BUCKETS, MAX_FACET_VALUES};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::query::{parse_read, Read, SearchParams};
use crate::routes::query_params;
use crate::state::AppState;

/// Bucket widths a histogram may use, in seconds.
const WIDTHS: [i64; 17] = [
    1,
    5,
    10,
    30,
    60,
    300,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
];
const DEFAULT_BUCKETS: u32 = 48;
const DEFAULT_FACET_VALUES: u32 = 8;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistogramParams {
    /// SCIM filter (as for `GET /v1/events`).
    pub filter: Option<String>,
    /// Words that must all appear.
    pub q: Option<String>,
    /// Start of the window, inclusive (RFC 3339); default: the oldest matching event.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End of the window, exclusive; default: just after the newest matching event.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// At most this many buckets, 1-200 (default 48).
    #[param(minimum = 1, maximum = 200, example = 48)]
    pub buckets: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BucketDto {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Histogram {
    /// Each bucket's width in seconds.
    pub bucket_seconds: i64,
    /// Oldest first; empty when nothing matches.
    pub buckets: Vec<BucketDto>,
    /// The sum of the counts.
    pub total: u64,
}

/// The time of the first event of `read` in `sort` order.
async fn edge(state: &AppState, tenant: &TenantId, read: &Read, sort: &str) -> Result<Option<Timestamp>, ApiError> {
    let mut query = read.query.clone();
    query.sort = Sort::parse(sort)?;
    query.page = PageRequest::First;
    query.limit = Limit::new(1)?;
    let page = state.store.query(tenant, &query).await?;
    let Some(first) = page.events.first() else { return Ok(None) };
    let v: serde_json::Value = serde_json::from_str(&first.json).map_err(|_| ApiError::internal())?;
    Ok(v.get("time").and_then(|t| t.as_str()).and_then(|t| Timestamp::parse(t).ok()))
}

/// The histogram of a parsed read (the API and the Events page).
pub(crate) async fn histogram_of(
    state: &AppState,
    tenant: &TenantId,
    read: &Read,
    max_buckets: u32,
) -> Result<Histogram, ApiError> {
    let from = match read.query.range.from {
        Some(f) => Some(f),
        None => edge(state, tenant, read, "time").await?,
    };
    let to = match read.query.range.to {
        Some(t) => Some(t),
        None => edge(state, tenant, read, "-time").await?.map(|t| Timestamp::from_micros(t.as_micros() + 1)),
    };
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(Histogram { bucket_seconds: 1, buckets: Vec::new(), total: 0 });
    };
    let n = i64::from(max_buckets.clamp(1, MAX_BUCKETS));
    // Buckets of `width` µs aligned to multiples of it that cover from..to.
    let needed = |width: i64| {
        let start = from.as_micros().div_euclid(width) * width;
        (start, ((to.as_micros() - start + width - 1) / width).max(1))
    };
    let span = (to.as_micros() - from.as_micros()).max(1);
    let seconds = WIDTHS
        .into_iter()
        .find(|w| needed(w * 1_000_000).1 <= n)
        .unwrap_or_else(|| (span / n / 1_000_000 / 86_400 + 2) * 86_400);
    let width = seconds * 1_000_000;
    let (start, count) = needed(width);
    let count = u32::try_from(count).unwrap_or(MAX_BUCKETS).min(MAX_BUCKETS);
    let buckets = Buckets { start: Timestamp::from_micros(start), width_micros: width, count };
    let counts = state.store.histogram(tenant, &read.query, &buckets).await?;
    let buckets: Vec<BucketDto> = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let at = start + width * i as i64;
            BucketDto { from: Timestamp::from_micros(at), to: Timestamp::from_micros(at + width), count }
        })
        .collect();
    Ok(Histogram { bucket_seconds: seconds, total: counts.iter().sum(), buckets })
}

fn read_of(
    principal: &Principal,
    filter: Option<String>,
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<Read, ApiError> {
    parse_read(principal, SearchParams { filter, q, from, to, ..SearchParams::default() })
}

/// Event counts over time for a filter.
#[utoipa::path(get, path = "/v1/events/histogram", tag = "events", params(HistogramParams),
    responses((status = 200, body = Histogram), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn histogram(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Histogram>, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: HistogramParams = query_params(&uri)?;
    let buckets = p.buckets.unwrap_or(DEFAULT_BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(ApiError::invalid_parameter("buckets", format!("must be 1-{MAX_BUCKETS}")));
    }
    let read = read_of(&principal, p.filter, p.q, p.from, p.to)?;
    Ok(Json(histogram_of(&state, &tenant, &read, buckets).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FacetParams {
    /// SCIM filter (as for `GET /v1/events`).
    pub filter: Option<String>,
    /// Words that must all appear.
    pub q: Option<String>,
    /// Earliest event time, inclusive (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Comma-separated: `action`, `status`, `actor.email`, `target.type` (default: all four).
    pub facets: Option<String>,
    /// Values per facet, 1-50 (default 8).
    #[param(minimum = 1, maximum = 50, example = 8)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacetValueDto {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacetDto {
    /// The attribute (`action`, `status`, `actor.email`, `target.type`).
    pub attribute: String,
    /// Most frequent first.
    pub values: Vec<FacetValueDto>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Facets {
    pub facets: Vec<FacetDto>,
}

/// The facets of a parsed read (the API and the Events page).
pub(crate) async fn facets_of(
    state: &AppState,
    tenant: &TenantId,
    read: &Read,
    which: &[Facet],
    limit: u32,
) -> Result<Facets, ApiError> {
    let mut facets = Vec::with_capacity(which.len());
    for &f in which {
        let values = state.store.facet(tenant, &read.query, f, limit).await?;
        facets.push(FacetDto {
            attribute: f.attribute().into(),
            values: values.into_iter().map(|v| FacetValueDto { value: v.value, count: v.count }).collect(),
        });
    }
    Ok(Facets { facets })
}

/// The most frequent values of action, status, actor email and target type for a filter.
#[utoipa::path(get, path = "/v1/events/facets", tag = "events", params(FacetParams),
    responses((status = 200, body = Facets), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn facets(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Facets>, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: FacetParams = query_params(&uri)?;
    let limit = p.limit.unwrap_or(DEFAULT_FACET_VALUES);
    if !(1..=MAX_FACET_VALUES).contains(&limit) {
        return Err(ApiError::invalid_parameter("limit", format!("must be 1-{MAX_FACET_VALUES}")));
    }
    let which: Vec<Facet> = match p.facets.as_deref() {
        None | Some("") => Facet::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|name| {
                Facet::parse(name.trim()).ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "facets",
                        format!("{name:?} is not one of action, status, actor.email, target.type"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let read = read_of(&principal, p.filter, p.q, p.from, p.to)?;
    Ok(Json(facets_of(&state, &tenant, &read, &which, limit).await?))
}
