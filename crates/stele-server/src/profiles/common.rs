//! What the profiles share: authenticating a presented Stele key, finding the tenant a
//! profile names by one of its aliases (refusing another tenant than the key's), running a
//! query restricted to what the caller may read, and time formatting. Each profile maps
//! [`ProfileError`] to its own error shape.

use stele_core::{BoundsError, Cursor, Event, Expr, Filter, Limit, PageRequest, Query, Scope, Seq, Timestamp};
use stele_store::{StoreError, Tenant};

use crate::auth::{self, Principal};
use crate::state::AppState;

/// Why a profile request could not be served, before the profile's own validation.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No credential, or an unknown, wrong or revoked one.
    #[error("the credential is missing, unknown, wrong or revoked")]
    Unauthenticated,
    /// The key is valid but lacks the scope the route needs.
    #[error("the key lacks the {0} scope")]
    MissingScope(Scope),
    /// No tenant has this alias.
    #[error("no tenant is known as {0:?}")]
    UnknownTenant(String),
    /// The alias names another tenant than the key's.
    #[error("{0:?} is not the key's tenant")]
    OtherTenant(String),
    /// The operator key was used without naming a tenant.
    #[error("the operator key must name a tenant")]
    NoTenant,
    /// A filter built from the profile's parameters is out of the query model's bounds.
    #[error("{parameter}: {reason}")]
    OutOfBounds { parameter: &'static str, reason: BoundsError },
    /// The key made more requests than its rate limit allows: 429 with `Retry-After` (these
    /// seconds) in the profile's own error shape.
    #[error("the key made more requests than its rate limit allows")]
    RateLimited { retry_after: u32 },
    /// The store cannot serve now: shutting down, a read past its deadline, no space left.
    #[error("the store cannot serve now")]
    Unavailable,
    /// Anything else (logged, never shown).
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ProfileError {
    fn from(e: StoreError) -> Self {
        match e {
            // 503 in every profile's shape: retrying later can succeed.
            StoreError::Closed | StoreError::QueryTimeout | StoreError::StorageFull(_) | StoreError::IndexBehind(_) => {
                ProfileError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storage error in a profile");
                ProfileError::Internal
            }
        }
    }
}

/// The principal a presented Stele key secret (or the operator key) stands for.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Principal, ProfileError> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(ProfileError::Unauthenticated);
    }
    auth::authenticate(state, secret).await.map_err(|e| match e.status.as_u16() {
        401 => ProfileError::Unauthenticated,
        429 => ProfileError::RateLimited { retry_after: e.retry_after.unwrap_or(1) },
        503 => ProfileError::Unavailable,
        _ => ProfileError::Internal,
    })
}

/// `response` with the `Retry-After` header a rate-limited answer carries.
pub fn retry_after(mut response: axum::response::Response, seconds: Option<u32>) -> axum::response::Response {
    if let Some(seconds) = seconds {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
    }
    response
}

/// The text of a profile's 429.
pub const RATE_LIMITED: &str = "Too many requests: the key made more requests than its rate limit allows; retry later";

/// Fails unless the caller holds `scope`.
pub fn require(principal: &Principal, scope: Scope) -> Result<(), ProfileError> {
    principal.require(scope).map_err(|_| ProfileError::MissingScope(scope))
}

/// The tenant a profile's identifier names (its id or one of its aliases), if the caller may
/// act on it: a key only on its own tenant, the operator on any.
pub async fn tenant_by_alias(state: &AppState, principal: &Principal, alias: &str) -> Result<Tenant, ProfileError> {
    let tenant = state.store.find_tenant(alias).await?.ok_or_else(|| ProfileError::UnknownTenant(alias.to_owned()))?;
    match principal {
        Principal::Key(k) if k.tenant != tenant.id => Err(ProfileError::OtherTenant(alias.to_owned())),
        _ => Ok(tenant),
    }
}

/// The calling key's own tenant (for profiles whose tenant comes from the credential).
pub async fn key_tenant(state: &AppState, principal: &Principal) -> Result<Tenant, ProfileError> {
    match principal {
        Principal::Operator => Err(ProfileError::NoTenant),
        Principal::Key(k) => {
            state.store.get_tenant(&k.tenant).await?.ok_or_else(|| ProfileError::UnknownTenant(k.tenant.to_string()))
        }
    }
}

/// The first alias of a tenant that is a UUID (OneUptime's `projectId`, ConfigCat's
/// `organizationId`), lowercase.
pub fn uuid_alias(tenant: &Tenant) -> Option<String> {
    tenant.aliases.iter().find_map(|a| uuid::Uuid::parse_str(a).ok().map(|u| u.hyphenated().to_string()))
}

/// A query of what the caller may read (its key's view, exactly as the native API sets it)
/// with the profile's filter, which must pass the same bounds as every filter; `parameter`
/// names where the filter came from in the profile's request. Set the other fields with
/// `Query { range, ..common::readable(…)? }`.
pub fn readable(principal: &Principal, filter: Option<Expr>, parameter: &'static str) -> Result<Query, ProfileError> {
    let filter =
        filter.map(Filter::new).transpose().map_err(|reason| ProfileError::OutOfBounds { parameter, reason })?;
    crate::view_filter::query(principal, filter).map_err(|_| ProfileError::Internal)
}

/// One page of typed events with their log positions, and the exact number of events the
/// same query matches.
pub struct Rows {
    pub events: Vec<(Seq, Event)>,
    pub total: u64,
}

/// Runs `query` (already [`readable`]) on `tenant`: the page and the exact total.
pub async fn page(state: &AppState, tenant: &Tenant, query: &Query) -> Result<Rows, ProfileError> {
    let total = state.store.count(&tenant.id, query).await?;
    let events = if total == 0 { Vec::new() } else { events(state, tenant, query).await? };
    Ok(Rows { events, total })
}

/// The page of `query` as typed events.
pub async fn events(state: &AppState, tenant: &Tenant, query: &Query) -> Result<Vec<(Seq, Event)>, ProfileError> {
    let page = state.store.query(&tenant.id, query).await?;
    page.events
        .iter()
        .map(|e| {
            e.event().map(|ev| (e.seq, ev)).map_err(|err| {
                tracing::error!(error = %err, seq = e.seq.get(), "stored event is unreadable");
                ProfileError::Internal
            })
        })
        .collect()
}

/// The exact number of events `query` matches on `tenant`.
pub async fn count(state: &AppState, tenant: &Tenant, query: &Query) -> Result<u64, ProfileError> {
    Ok(state.store.count(&tenant.id, query).await?)
}

/// `2016-06-13T04:00:00.000Z`: UTC with millisecond precision (JavaScript's `toISOString`).
pub fn iso_millis(t: Timestamp) -> String {
    let full = t.to_string(); // always `…:SS.ffffffZ`
    match full.len() {
        n if n > 4 => format!("{}Z", &full[..n - 4]),
        _ => full,
    }
}

/// Up to `n` rows of `query` (already [`readable`]) from where its page starts, fetched in
/// store pages of at most [`Limit::MAX`] chained by cursor (for profiles whose page size is
/// larger), and the cursor after the last row when the store has more.
pub async fn events_up_to(
    state: &AppState,
    tenant: &Tenant,
    query: &Query,
    n: u64,
) -> Result<(Vec<(Seq, Event)>, Option<Cursor>), ProfileError> {
    let mut query = query.clone();
    let mut out = Vec::new();
    while (out.len() as u64) < n {
        let want = (n - out.len() as u64).min(u64::from(Limit::MAX)) as u32;
        query.limit = Limit::new(want).map_err(|_| ProfileError::Internal)?;
        let page = state.store.query(&tenant.id, &query).await?;
        for e in &page.events {
            let event = e.event().map_err(|err| {
                tracing::error!(error = %err, seq = e.seq.get(), "stored event is unreadable");
                ProfileError::Internal
            })?;
            out.push((e.seq, event));
        }
        match page.next {
            Some(next) if (out.len() as u64) < n && !page.events.is_empty() => query.page = PageRequest::After(next),
            next => return Ok((out, next)),
        }
    }
    Ok((out, None))
}

/// A date-time as .NET-style APIs accept it: RFC 3339, or without an offset (taken as UTC,
/// `T` or a space between date and time), or a bare date (midnight UTC).
pub fn parse_datetime(text: &str) -> Option<Timestamp> {
    use time::macros::format_description;
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Some(t);
    }
    let text = text.replacen(' ', "T", 1);
    let local = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    let short = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let date = format_description!("[year]-[month]-[day]");
    let utc = time::PrimitiveDateTime::parse(&text, local)
        .or_else(|_| time::PrimitiveDateTime::parse(&text, short))
        .or_else(|_| time::Date::parse(&text, date).map(|d| d.midnight()))
        .ok()?
        .assume_utc();
    Timestamp::parse(&utc.format(&time::format_description::well_known::Rfc3339).ok()?).ok()
}

/// `2024-05-04T09:42:00.5+00:00`: RFC 3339 with an explicit `+00:00` offset and only the
/// fractional digits needed (.NET's `DateTimeOffset` form).
pub fn rfc3339_offset(t: Timestamp) -> String {
    let d = t.to_offset();
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
    if d.microsecond() != 0 {
        let frac = format!("{:06}", d.microsecond());
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str("+00:00");
    out
}

/// The same wall-clock time `n` calendar months earlier (UTC; the day clamped to the
/// month's length, as .NET's `AddMonths(-n)`).
pub fn months_before(t: Timestamp, n: u32) -> Timestamp {
    let d = t.to_offset();
    let index = i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1 - i64::from(n);
    let (year, month) = (index.div_euclid(12) as i32, (index.rem_euclid(12) + 1) as u8);
    let Ok(month) = time::Month::try_from(month) else { return t };
    let day = d.day().min(month.length(year));
    match time::Date::from_calendar_date(year, month, day) {
        Ok(date) => {
            let shifted = d.replace_date(date);
            Timestamp::from_micros(t.as_micros() + (shifted - d).whole_microseconds() as i64)
        }
        Err(_) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_iso() {
        let t = Timestamp::parse("2016-06-13T04:00:00.123456Z").expect("time");
        assert_eq!(iso_millis(t), "2016-06-13T04:00:00.123Z");
        assert_eq!(
            iso_millis(Timestamp::from_unix_millis(1_465_790_400_000).expect("in range")),
            "2016-06-13T04:00:00.000Z"
        );
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("time")
    }

    #[test]
    fn loose_date_times() {
        assert_eq!(parse_datetime("2024-08-01T00:00:00Z"), Some(ts("2024-08-01T00:00:00Z")));
        assert_eq!(parse_datetime("2024-08-01T02:00:00+02:00"), Some(ts("2024-08-01T00:00:00Z")));
        assert_eq!(parse_datetime("2024-08-01T10:15:30"), Some(ts("2024-08-01T10:15:30Z")));
        assert_eq!(parse_datetime("2024-08-01 10:15:30.25"), Some(ts("2024-08-01T10:15:30.25Z")));
        assert_eq!(parse_datetime("2024-08-01T10:15"), Some(ts("2024-08-01T10:15:00Z")));
        assert_eq!(parse_datetime("2024-08-01"), Some(ts("2024-08-01T00:00:00Z")));
        for bad in ["", "yesterday", "2024-13-01", "2024-08-01T25:00:00Z", "1722470400"] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn offset_form_and_months() {
        assert_eq!(rfc3339_offset(ts("2024-05-04T09:42:00Z")), "2024-05-04T09:42:00+00:00");
        assert_eq!(rfc3339_offset(ts("2024-05-04T09:42:00.120000Z")), "2024-05-04T09:42:00.12+00:00");
        assert_eq!(months_before(ts("2024-03-31T10:00:00Z"), 1), ts("2024-02-29T10:00:00Z"));
        assert_eq!(months_before(ts("2024-01-15T00:00:00.5Z"), 1), ts("2023-12-15T00:00:00.5Z"));
    }
}
