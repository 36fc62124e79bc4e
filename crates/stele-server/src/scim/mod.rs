//! The SCIM 2.0 service provider (RFC 7644) for a tenant's members and groups, under
//! `/scim/v2/{connection}/`: `Users`, `Groups` (list with `filter`, `startIndex`, `count`,
//! `sortBy`, `sortOrder`, `attributes`, `excludedAttributes`; `.search`; get, create,
//! replace, patch, delete with `If-Match`), `Bulk`, `Me`, `ServiceProviderConfig`, `Schemas`,
//! `ResourceTypes`. The protocol logic (documents, PATCH, filters, Bulk plans) is
//! `stele-scim`'s; this module routes, authenticates, runs the store and logs.
//!
//! # The SCIM audit log
//!
//! Every request that names an existing connection — answered, refused for its token
//! (`scim.Unauthorized`), malformed or to an unknown route — becomes one event of the
//! connection's tenant's log (`profiles.md` A.0, built in [`log`]), durable before the answer
//! is sent: a change is stored in the same transaction as its event; anything else is
//! appended before answering, and if the event cannot be stored the client gets 503 instead
//! of an answer nobody recorded. A Bulk request records each operation it ran as that
//! operation's own event (in its change's transaction, `correlation_id` = the Bulk
//! request's id) and then itself as `scim.BulkOperation`. A request naming no known
//! connection cannot be attributed to a tenant: it is answered 401 and only counted and
//! traced.
//!
//! # Choices
//!
//! - The connection id in the path (rather than the tenant) lets a request with a wrong
//!   token be attributed to the connection's tenant.
//! - `/Me` answers 501: a connection's token authenticates an identity provider, not a
//!   member, so there is no "me" (RFC 7644 §3.11 allows 501).
//! - Lists scan the tenant's records (at most `MAX_MEMBERS`/`MAX_GROUPS`) unless the filter
//!   holds an indexed equality (`userName`, `externalId`, `id`, `displayName` `eq`), which is
//!   looked up; only the page's records are rendered in full.

mod bulk;
mod groups;
mod log;
mod users;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{Map, Value};
use stele_core::Target;
use stele_scim::{Operation, ResourceKind, ScimError, ServiceProviderConfig};
use stele_store::directory::{RecordChange, ScimConnection, ScimConnectionId};
use stele_store::StoreError;

use crate::state::AppState;

/// Largest SCIM request body, Bulk included (advertised as `bulk.maxPayloadSize`).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Most operations in one Bulk request (advertised as `bulk.maxOperations`).
pub const MAX_BULK_OPERATIONS: usize = 100;
/// Most resources in one page (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 200;
/// How often a change without `If-Match` is recomputed when the record changed under it.
const MAX_ATTEMPTS: usize = 5;

/// What Stele advertises in `ServiceProviderConfig`.
pub fn config() -> ServiceProviderConfig {
    ServiceProviderConfig {
        bulk_max_operations: MAX_BULK_OPERATIONS,
        bulk_max_payload_bytes: MAX_PAYLOAD_BYTES,
        filter_max_results: MAX_RESULTS,
        documentation_uri: None,
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim/v2", any(dispatch))
        .route("/scim/v2/", any(dispatch))
        .route("/scim/v2/{*rest}", any(dispatch))
}

/// One SCIM request (or one operation of a Bulk request), as its log event records it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub op: Operation,
    pub method: String,
    /// The full path (`/scim/v2/{connection}/Users/…`).
    pub path: String,
    /// The path after the connection (`/Users/…`).
    pub sub_path: String,
    pub query: Map<String, Value>,
    pub body: Option<Value>,
    /// The Bulk request a Bulk operation belongs to.
    pub correlation_id: Option<String>,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).and_then(Value::as_str)
    }
}

/// An answer, and what its log event says about it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    /// `ETag` (`W/"<version>"`).
    pub version: Option<u64>,
    pub location: Option<String>,
    /// The member or group the request was about.
    pub target: Option<Target>,
    pub message: Option<String>,
    /// The request's event is already stored (with its change).
    pub logged: bool,
}

impl Reply {
    pub fn ok(status: u16, body: Value) -> Reply {
        Reply { status, body: Some(body), version: None, location: None, target: None, message: None, logged: false }
    }

    pub fn error(e: &ScimError, target: Option<Target>) -> Reply {
        Reply { message: Some(e.detail.clone()), target, ..Reply::ok(e.status, e.to_json()) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match &self.body {
            Some(body) => (status, body.to_string()).into_response(),
            None => status.into_response(),
        };
        let headers = response.headers_mut();
        if self.body.is_some() {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/scim+json"));
        }
        if let Some(v) = self.version.and_then(|v| HeaderValue::from_str(&stele_scim::etag(v)).ok()) {
            headers.insert(header::ETAG, v);
        }
        if let Some(l) = self.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert(header::LOCATION, l);
        }
        if self.status == 401 {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"stele-scim\""));
        }
        response
    }
}

/// A failed handler: the SCIM error and, when known, the member or group it was about.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: ScimError,
    pub target: Option<Target>,
}

impl From<ScimError> for Failure {
    fn from(error: ScimError) -> Self {
        Failure { error, target: None }
    }
}

impl Failure {
    pub fn about(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }
}

/// Every record a keyset listing yields, read `page_size` at a time, stopping after `cap`
/// records (the tenant's bound on that record type).
pub(crate) async fn scan_all<T, F, Fut>(
    cap: u64,
    page_size: u32,
    key: impl Fn(&T) -> stele_store::directory::ListAfter,
    mut page: F,
) -> Result<Vec<T>, ScimError>
where
    F: FnMut(Option<stele_store::directory::ListAfter>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let records = page(after).await.map_err(store_error)?;
        after = records.last().map(&key);
        let full = records.len() == page_size as usize;
        all.extend(records);
        if !full || all.len() as u64 > cap {
            return Ok(all);
        }
    }
}

/// A store failure as a SCIM error (internal details only in the server's log).
pub(crate) fn store_error(e: StoreError) -> ScimError {
    match e {
        StoreError::Conflict(field) => ScimError::uniqueness(format!("another resource has the same {field}")),
        StoreError::RecordNotFound(kind, id) => ScimError::not_found(format!("{kind} {id} does not exist")),
        StoreError::VersionMismatch { current } => ScimError::precondition_failed(format!(
            "the resource has changed: its version is {}",
            stele_scim::etag(current)
        )),
        StoreError::UnknownMember(id) => {
            ScimError::invalid_value(format!("members: {id} is not a user of this tenant"))
        }
        StoreError::StorageFull(_) | StoreError::QueryTimeout | StoreError::Closed => {
            ScimError::new(503, None, "the service is temporarily unavailable; retry later")
        }
        other => {
            tracing::error!(error = %other, "SCIM store error");
            ScimError::internal("internal error")
        }
    }
}

/// The state of one authenticated request.
pub(crate) struct Ctx {
    pub state: AppState,
    pub conn: ScimConnection,
    /// `http(s)://host/scim/v2/{connection}`.
    pub base: String,
    pub request_id: String,
}

impl Ctx {
    /// Stores `change` with the event of `req` answered by `reply`, in one transaction.
    pub async fn commit(&self, req: &Req, change: RecordChange, mut reply: Reply) -> Result<Reply, StoreError> {
        let events = if self.state.scim_log { vec![log::event(self, req, &reply)] } else { Vec::new() };
        self.state.store.change(&self.conn.tenant, change, events).await?;
        reply.logged = true;
        Ok(reply)
    }

    pub fn location(&self, kind: ResourceKind, id: &str) -> String {
        format!("{}/{}/{id}", self.base, kind.endpoint().trim_start_matches('/'))
    }
}

async fn dispatch(State(state): State<AppState>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let path = uri.path().to_owned();
    let rest = path.strip_prefix("/scim/v2").unwrap_or_default().trim_start_matches('/');
    let (conn_text, sub) = rest.split_once('/').unwrap_or((rest, ""));
    let sub_path = format!("/{sub}");
    let unattributed = |detail: &str| {
        crate::metrics::scim_unattributed();
        tracing::info!(path = %path, "SCIM request for no known connection");
        Reply::error(&ScimError::unauthorized(detail), None).into_response()
    };
    let Ok(id) = conn_text.parse::<ScimConnectionId>() else {
        return unattributed("the URL names no SCIM connection: use the base URL the connection was created with");
    };
    let conn = match state.store.get_scim_connection(&id).await {
        Ok(Some(c)) => c,
        Ok(None) => return unattributed("no such SCIM connection"),
        Err(e) => return Reply::error(&store_error(e), None).into_response(),
    };
    let mut req = Req {
        op: Operation::classify(method.as_str(), &sub_path),
        method: method.as_str().to_owned(),
        path: path.clone(),
        sub_path,
        query: log::query_map(&uri),
        body: None,
        correlation_id: None,
    };
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && stele_core::text::check_label(v).is_ok())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()));
    let ctx = Ctx { base: base_url(&state, &headers, &conn.id), state, conn, request_id };

    let bytes = to_bytes(body, MAX_PAYLOAD_BYTES).await;
    let reply = match bytes {
        Err(_) => Reply::error(
            &ScimError::payload_too_large(None, format!("the request body is larger than {MAX_PAYLOAD_BYTES} bytes")),
            None,
        ),
        Ok(bytes) => {
            let parsed = log::parse_body(&bytes);
            req.body = match &parsed {
                Ok(v) => v.clone(),
                Err(_) => Some(Value::String(String::from_utf8_lossy(&bytes).chars().take(4096).collect())),
            };
            if !authorized(&headers, &ctx.conn) {
                req.op = Operation::Unauthorized;
                let e = ScimError::unauthorized("the bearer token is missing, wrong or revoked");
                Reply::error(&e, None)
            } else {
                match parsed {
                    Err(e) => Reply::error(&e, None),
                    Ok(body) => route(&ctx, &req, &headers, body).await,
                }
            }
        }
    };
    crate::metrics::scim_request(req.op.name(), reply.status);
    if reply.logged || !ctx.state.scim_log {
        return reply.into_response();
    }
    let event = log::event(&ctx, &req, &reply);
    match ctx.state.store.append(&ctx.conn.tenant, vec![event], None).await {
        Ok(_) => reply.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the SCIM request could not be logged; answering 503");
            Reply::error(&ScimError::new(503, None, "the request could not be recorded; retry later"), None)
                .into_response()
        }
    }
}

/// Whether the request carries the connection's token (and the connection is not revoked).
fn authorized(headers: &HeaderMap, conn: &ScimConnection) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    conn.revoked_at.is_none() && presented.is_some_and(|t| conn.token_hash.matches(t))
}

/// The connection's SCIM base URL as the caller reached this server (or `[viewer] public_url`).
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap, id: &ScimConnectionId) -> String {
    format!("{}/scim/v2/{id}", crate::public_url::base(state, headers))
}

fn if_match(headers: &HeaderMap) -> Option<stele_scim::IfMatch> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(stele_scim::parse_if_match)
}

/// The second path segment (`/Users/{id}` → `id`).
fn resource_id(req: &Req) -> &str {
    req.sub_path.trim_matches('/').split('/').nth(1).unwrap_or_default()
}

/// A list of one resource type: every match counted, one page rendered in full.
async fn list(ctx: &Ctx, kind: ResourceKind, params: &stele_scim::ListParams) -> Result<Reply, Failure> {
    let matched = match kind {
        ResourceKind::User => users::matching(ctx, params).await?,
        ResourceKind::Group => groups::matching(ctx, params).await?,
    };
    let mut page = Vec::new();
    for resource in matched.iter().skip(params.offset()).take(params.count) {
        page.push(match kind {
            ResourceKind::User => users::page_item(ctx, resource, params).await?,
            ResourceKind::Group => groups::page_item(ctx, resource, params).await?,
        });
    }
    Ok(Reply::ok(200, stele_scim::list_response(matched.len(), params.start_index, page)))
}

/// `POST /.search`: Users, then Groups, each filtered and sorted with the request's terms
/// as that resource type reads them (a type whose schema lacks an attribute the filter
/// names contributes nothing), paged together.
async fn search(ctx: &Ctx, body: Option<&Value>) -> Result<Reply, Failure> {
    let body = body.ok_or_else(|| ScimError::invalid_syntax("a .search request needs a SearchRequest body"))?;
    let users = stele_scim::ListParams::from_search_body(ResourceKind::User, body, MAX_RESULTS);
    let groups = stele_scim::ListParams::from_search_body(ResourceKind::Group, body, MAX_RESULTS);
    let (users, groups) = match (users, groups) {
        (Err(e), Err(_)) => return Err(e.into()),
        (u, g) => (u.ok(), g.ok()),
    };
    let mut matched: Vec<(ResourceKind, Value)> = Vec::new();
    if let Some(p) = &users {
        matched.extend(users::matching(ctx, p).await?.into_iter().map(|r| (ResourceKind::User, r)));
    }
    if let Some(p) = &groups {
        matched.extend(groups::matching(ctx, p).await?.into_iter().map(|r| (ResourceKind::Group, r)));
    }
    let Some(first) = users.as_ref().or(groups.as_ref()) else {
        return Err(ScimError::internal("no parameters").into());
    };
    let (offset, count, start_index) = (first.offset(), first.count, first.start_index);
    let mut page = Vec::new();
    for (kind, resource) in matched.iter().skip(offset).take(count) {
        let item = match (kind, &users, &groups) {
            (ResourceKind::User, Some(p), _) => users::page_item(ctx, resource, p).await?,
            (ResourceKind::Group, _, Some(p)) => groups::page_item(ctx, resource, p).await?,
            _ => continue,
        };
        page.push(item);
    }
    Ok(Reply::ok(200, stele_scim::list_response(matched.len(), start_index, page)))
}

async fn route(ctx: &Ctx, req: &Req, headers: &HeaderMap, body: Option<Value>) -> Reply {
    let result = match req.op {
        Operation::ListUsers | Operation::ListGroups => {
            let kind = if req.op == Operation::ListUsers { ResourceKind::User } else { ResourceKind::Group };
            let params = match (req.method.as_str(), &body) {
                ("POST", Some(b)) => stele_scim::ListParams::from_search_body(kind, b, MAX_RESULTS),
                ("POST", None) => Err(ScimError::invalid_syntax("a .search request needs a SearchRequest body")),
                _ => stele_scim::ListParams::parse(kind, &log::list_query(req), MAX_RESULTS),
            };
            match params {
                Err(e) => Err(e.into()),
                Ok(p) => list(ctx, kind, &p).await,
            }
        }
        Operation::GetUser => users::get(ctx, req, resource_id(req)).await,
        Operation::GetGroup => groups::get(ctx, req, resource_id(req)).await,
        Operation::CreateUser => users::create(ctx, req, body.as_ref()).await,
        Operation::CreateGroup => groups::create(ctx, req, body.as_ref()).await,
        Operation::UpdateUser => users::update(ctx, req, resource_id(req), body.as_ref(), if_match(headers)).await,
        Operation::UpdateGroup => groups::update(ctx, req, resource_id(req), body.as_ref(), if_match(headers)).await,
        Operation::DeleteUser => users::delete(ctx, req, resource_id(req), if_match(headers)).await,
        Operation::DeleteGroup => groups::delete(ctx, req, resource_id(req), if_match(headers)).await,
        Operation::BulkOperation => bulk::run(ctx, req, body.as_ref()).await,
        Operation::GetMe => Err(ScimError::not_implemented(
            "/Me is not offered: a SCIM connection's token authenticates an identity provider, not a member",
        )
        .into()),
        Operation::GetServiceProviderConfig => Ok(Reply::ok(200, config().to_json(&ctx.base))),
        Operation::GetSchemas => match resource_id(req) {
            "" => Ok(Reply::ok(200, stele_scim::discovery::schemas_json(&ctx.base))),
            id => stele_scim::discovery::schema_by_id(id, &ctx.base)
                .map(|s| Reply::ok(200, s))
                .ok_or_else(|| ScimError::not_found(format!("no schema {id}")).into()),
        },
        Operation::GetResourceTypes => match resource_id(req) {
            "" => Ok(Reply::ok(200, stele_scim::discovery::resource_types_json(&ctx.base))),
            name => stele_scim::discovery::resource_type_by_name(name, &ctx.base)
                .map(|s| Reply::ok(200, s))
                .ok_or_else(|| ScimError::not_found(format!("no resource type {name}")).into()),
        },
        Operation::Search => search(ctx, body.as_ref()).await,
        Operation::Unknown if stele_scim::operation::resource_type(&req.sub_path).is_some() => {
            Err(ScimError::new(405, None, format!("{} does not accept {}", req.sub_path, req.method)).into())
        }
        Operation::Unauthorized | Operation::Unknown => {
            Err(ScimError::not_found(format!("no SCIM endpoint {} {}", req.method, req.sub_path)).into())
        }
    };
    result.unwrap_or_else(|f| Reply::error(&f.error, f.target))
}
