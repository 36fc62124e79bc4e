//! Tamper evidence: the signing key, signed tree heads, inclusion and consistency proofs,
//! and redaction (operator only).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use stele_core::integrity::{Hash, SignedTreeHead};
use stele_core::{Scope, Target, TenantId, Timestamp};
use stele_store::{proofs, Redaction};

use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::events::{json_response, visible_event};
use crate::routes::query_params;
use crate::state::AppState;

/// Most heads one `GET /v1/integrity/heads` returns.
const MAX_HEADS: u32 = 1000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    /// Always `Ed25519`.
    pub alg: &'static str,
    /// First 16 hex digits of SHA-256 of the raw key; every head names the key that signed it.
    pub key_id: String,
    /// The raw 32-byte public key, base64.
    pub public_key: String,
}

/// The public key that verifies this deployment's tree heads.
#[utoipa::path(get, path = "/v1/integrity/key", tag = "integrity",
    responses((status = 200, body = PublicKey)), security(("bearer" = [])))]
pub async fn public_key(State(state): State<AppState>, principal: Principal) -> Result<Json<PublicKey>, ApiError> {
    principal.require(Scope::EventsRead)?;
    Ok(Json(PublicKey::of(&state)))
}

impl PublicKey {
    /// This deployment's head-verification key (the API's and the viewer's Integrity page's).
    pub(crate) fn of(state: &AppState) -> Self {
        let key = state.signer.public();
        PublicKey { alg: "Ed25519", key_id: key.id(), public_key: key.to_base64() }
    }
}

pub(crate) async fn latest(state: &AppState, tenant: &TenantId) -> Result<SignedTreeHead, ApiError> {
    state.store.latest_head(tenant).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-signed-head",
            "No signed head yet",
            "no tree head is signed yet; retry in a second",
        )
    })
}

/// Longest a `GET /v1/integrity/head?min_size=` waits.
const MAX_WAIT_MS: u64 = 10_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HeadParams {
    /// Wait (long poll) until a head of at least this size is signed.
    pub min_size: Option<u64>,
    /// How long to wait for `min_size`, in milliseconds (0-10000, default 10000).
    #[param(maximum = 10000)]
    pub wait_ms: Option<u64>,
}

/// The latest signed tree head of the caller's tenant; with `min_size`, the first one that
/// covers that many events (waiting for it up to `wait_ms`).
#[utoipa::path(get, path = "/v1/integrity/head", tag = "integrity", params(HeadParams),
    responses((status = 200, body = SignedTreeHead), (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn head(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<SignedTreeHead>, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: HeadParams = query_params(&uri)?;
    let wait_ms = p.wait_ms.unwrap_or(MAX_WAIT_MS);
    if wait_ms > MAX_WAIT_MS {
        return Err(ApiError::invalid_parameter("wait_ms", format!("must be at most {MAX_WAIT_MS}")));
    }
    let Some(min) = p.min_size else {
        return Ok(Json(latest(&state, &tenant).await?));
    };
    let wait = std::time::Duration::from_millis(wait_ms);
    let deadline = tokio::time::Instant::now() + wait;
    let mut signed = state.heads_signed.subscribe();
    loop {
        signed.borrow_and_update();
        if let Some(head) = state.store.latest_head(&tenant).await? {
            if head.head.size >= min {
                return Ok(Json(head));
            }
        }
        if tokio::time::timeout_at(deadline, signed.changed()).await.is_err() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not-yet-covered",
                "Not yet covered",
                format!("no head of size {min} or more was signed within {} ms", wait.as_millis()),
            ));
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HeadsParams {
    /// Smallest tree size (default 0).
    pub from: Option<u64>,
    /// Largest tree size (default: no bound).
    pub to: Option<u64>,
    /// At most this many heads, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeadList {
    pub heads: Vec<SignedTreeHead>,
}

/// Signed heads with `from <= size <= to`, by size: every head ever signed is kept.
#[utoipa::path(get, path = "/v1/integrity/heads", tag = "integrity", params(HeadsParams),
    responses((status = 200, body = HeadList), (status = 400, body = crate::dto::Problem)), security(("bearer" = [])))]
pub async fn heads(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<HeadList>, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: HeadsParams = query_params(&uri)?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_HEADS).contains(&limit) {
        return Err(ApiError::invalid_parameter("limit", format!("must be 1-{MAX_HEADS}")));
    }
    let (from, to) = (p.from.unwrap_or(0), p.to.unwrap_or(u64::MAX));
    if from > to {
        return Err(ApiError::invalid_parameter("from", "must not be larger than to"));
    }
    Ok(Json(HeadList { heads: state.store.heads(&tenant, from, to, limit).await? }))
}

/// The signed head of exactly `size`, if there is one.
async fn head_at(state: &AppState, tenant: &TenantId, size: u64) -> Result<Option<SignedTreeHead>, ApiError> {
    Ok(state.store.heads(tenant, size, size, 1).await?.pop())
}

/// Checks `size` against the tree as it is now.
async fn check_size(state: &AppState, tenant: &TenantId, name: &str, size: u64) -> Result<(), ApiError> {
    let current = state.store.tree(tenant).await?.size;
    if size > current {
        return Err(ApiError::invalid_parameter(name, format!("the log has only {current} events")));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProofParams {
    /// Tree size to prove inclusion in (default: the latest signed head's).
    pub size: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub seq: u64,
    /// `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    #[schema(value_type = String)]
    pub leaf_hash: Hash,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3).
    #[schema(value_type = Vec<String>)]
    pub proof: Vec<Hash>,
    /// The signed head of `tree_size`, when one was signed at exactly that size.
    pub head: Option<SignedTreeHead>,
}

/// Proof that an event is in its tenant's tree (of the latest signed head by default).
#[utoipa::path(get, path = "/v1/events/{id}/proof", tag = "integrity", params(("id" = String, Path), ProofParams),
    responses((status = 200, body = InclusionProof), (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: ProofParams = query_params(&uri)?;
    let event = visible_event(&state, &principal, &tenant, &id).await?;
    Ok(Json(prove(&state, &tenant, &event, p.size).await?).into_response())
}

/// The inclusion proof of `event` (one the caller may see) in `tenant`'s tree of `size`
/// (default: the latest signed head's), with that head when one was signed at exactly that
/// size. `GET /v1/events/{id}/proof` and the viewer's Verify button answer it.
pub(crate) async fn prove(
    state: &AppState,
    tenant: &TenantId,
    event: &stele_core::StoredEvent,
    size: Option<u64>,
) -> Result<InclusionProof, ApiError> {
    let seq = event.seq.get();
    let (size, head, asked) = match size {
        Some(size) => {
            check_size(state, tenant, "size", size).await?;
            (size, head_at(state, tenant, size).await?, true)
        }
        None => {
            let head = latest(state, tenant).await?;
            (head.head.size, Some(head), false)
        }
    };
    if seq > size && asked {
        // A tree of this size can never hold the event: waiting will not help.
        return Err(ApiError::invalid_parameter(
            "size",
            format!("event {seq} can never be in the tree of size {size}; ask for a size of at least {seq}"),
        ));
    }
    if seq > size {
        let mut err = ApiError::new(
            StatusCode::CONFLICT,
            "not-yet-covered",
            "Not yet covered",
            format!("event {seq} is not in the tree of size {size} yet; a signed head will cover it within a second"),
        );
        err.extra = Some(serde_json::json!({"seq": seq, "size": size}));
        return Err(err.with_retry_after(1));
    }
    let proof = proofs::inclusion(&*state.store, tenant, seq - 1, size).await?;
    let stored: serde_json::Value = serde_json::from_str(&event.json).map_err(|_| ApiError::internal())?;
    let leaf_hash =
        stored.get("hash").and_then(|h| h.as_str()).and_then(|h| Hash::from_hex(h).ok()).ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no-leaf",
                "Event not hashed",
                "this event was stored without integrity",
            )
        })?;
    Ok(InclusionProof { seq, leaf_index: seq - 1, tree_size: size, leaf_hash, proof, head })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The earlier tree size.
    pub from: u64,
    /// The later tree size (default: the latest signed head's).
    pub to: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// RFC 9162 §2.1.4 consistency proof.
    #[schema(value_type = Vec<String>)]
    pub proof: Vec<Hash>,
    /// Signed heads at exactly `from` and `to`, when they exist.
    pub from_head: Option<SignedTreeHead>,
    pub to_head: Option<SignedTreeHead>,
}

/// Proof that the tree of size `from` is a prefix of the tree of size `to`.
#[utoipa::path(get, path = "/v1/integrity/consistency", tag = "integrity", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = crate::dto::Problem)), security(("bearer" = [])))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<ConsistencyProof>, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: ConsistencyParams = query_params(&uri)?;
    let to = match p.to {
        Some(to) => {
            check_size(&state, &tenant, "to", to).await?;
            to
        }
        None => latest(&state, &tenant).await?.head.size,
    };
    if p.from > to {
        return Err(ApiError::invalid_parameter("from", format!("must not be larger than to ({to})")));
    }
    let proof = proofs::consistency(&*state.store, &tenant, p.from, to).await?;
    let from_head = head_at(&state, &tenant, p.from).await?;
    let to_head = head_at(&state, &tenant, to).await?;
    Ok(Json(ConsistencyProof { from: p.from, to, proof, from_head, to_head }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactRequest {
    /// Why (recorded in the tombstone and in the redaction's own event).
    pub reason: String,
}

/// Redacts an event (operator only): its content is replaced by a tombstone that keeps its
/// id, time, action, status and leaf hash, so the log still verifies and shows the gap; the
/// redaction is itself an event (`stele.event.redacted`).
#[utoipa::path(post, path = "/v1/events/{id}/redact", tag = "integrity", params(("id" = String, Path)),
    request_body = RedactRequest,
    responses((status = 200, description = "the tombstone", body = crate::dto::StoredEventDoc), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn redact(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    principal.require_operator()?;
    let tenant = principal.tenant(&headers)?;
    let request: RedactRequest = json_body(&headers, body).await?;
    let reason = request.reason.trim().to_owned();
    // Characters, as the detail says (it had counted bytes), and prose like every reason.
    if reason.is_empty() || reason.chars().count() > 1000 || stele_core::text::check_prose(&reason).is_err() {
        return Err(ApiError::invalid_parameter("reason", "must be 1-1000 characters of text"));
    }
    let event = visible_event(&state, &principal, &tenant, &id).await?;
    let event_id = stele_core::EventId::parse(&id).map_err(|_| ApiError::not_found("no such event"))?;
    let by = principal.actor().name.unwrap_or_else(|| "operator".into());
    let redaction = Redaction { reason: reason.clone(), by, at: Timestamp::now() };
    let target = Target { kind: Some("event".into()), id: Some(id.clone()), ..Target::default() };
    let mut audit = crate::audit::audit_event(
        &principal,
        "stele.event.redacted",
        target,
        format!("redacted event {id} (seq {})", event.seq.get()),
    );
    audit.event.reason = Some(reason);
    let audit = if state.integrity {
        stele_core::NewEvent::new(audit.event)
    } else {
        stele_core::NewEvent::without_integrity(audit.event)
    };
    let stone = state.store.redact(&tenant, &event_id, redaction, audit).await?;
    Ok(json_response(StatusCode::OK, stone.to_json()))
}
