//! The Integrity page (`/t/{tenant}/integrity`: the signing key and its fingerprint, the
//! latest signed heads, prefilled `stele verify` commands) and the JSON proof behind the
//! event page's Verify button (`/t/{tenant}/events/{id}/proof`).
//!
//! The proof answer is the API's (`routes::integrity::prove`: leaf hash, RFC 9162 inclusion
//! proof, the signed head it leads to) plus the deployment's public key for reference. The
//! browser does not trust that key: `assets/verify.js` checks the head's signature with the
//! key the event page was rendered with (its `data-public-key`), so a forged proof answer
//! cannot bring its own key.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use stele_core::integrity::SignedTreeHead;
use stele_viewer::views::{CommandView, HeadRow, IntegrityView};

use super::format;
use super::pages::href;
use super::session::{signed_in, signed_in_script};
use super::{render, PageError};
use crate::error::ApiError;
use crate::routes::integrity::{prove, InclusionProof, PublicKey};
use crate::state::AppState;

/// Heads the page lists.
const HEADS_SHOWN: usize = 10;

/// The newest signed heads of a tenant, newest first. Heads are listed by size upwards from a
/// lower bound, so the bound goes down (×16 each time) until the range holds enough; a range
/// is read in pages of 1000, keeping the last few (the range before held fewer than
/// [`HEADS_SHOWN`], so it is at most 16 × that many sizes wide).
async fn newest_heads(state: &AppState, tenant: &stele_core::TenantId) -> Result<Vec<SignedTreeHead>, ApiError> {
    const PAGE: u32 = 1000;
    let Some(latest) = state.store.latest_head(tenant).await? else { return Ok(Vec::new()) };
    let top = latest.head.size;
    let mut span: u64 = 16;
    loop {
        let from = top.saturating_sub(span);
        let mut kept: Vec<SignedTreeHead> = Vec::new();
        let mut next = from;
        loop {
            let page = state.store.heads(tenant, next, top, PAGE).await?;
            let full = page.len() == PAGE as usize;
            next = page.last().map_or(top, |h| h.head.size.saturating_add(1));
            kept.extend(page);
            let drop = kept.len().saturating_sub(HEADS_SHOWN);
            kept.drain(..drop);
            if !full || next > top {
                break;
            }
        }
        if kept.len() >= HEADS_SHOWN || from == 0 {
            kept.reverse();
            return Ok(kept);
        }
        span = span.saturating_mul(16);
    }
}

/// `GET /t/{tenant}/integrity`.
pub(crate) async fn integrity_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let me = signed_in(&state, &tenant, &headers).await?;
    let t = me.tenant.id.to_string();
    let key = PublicKey::of(&state);
    let server = crate::public_url::base(&state, &headers);
    let heads = newest_heads(&state, &me.tenant.id).await?;
    let log_size = state.store.tree(&me.tenant.id).await?.size;
    let commands = vec![
        CommandView {
            title: "Check an NDJSON export (from the Export page) against this key".into(),
            text: format!("stele verify --export events.ndjson --public-key {}", key.public_key),
        },
        CommandView {
            title: "Monitor the live log: each run checks the new head is consistent with the last one seen, and samples inclusion proofs (needs an API key with events:read)".into(),
            text: format!(
                "STELE_KEY=<api key> stele verify --server {server} --public-key {} --state stele-monitor-{t}.json",
                key.public_key
            ),
        },
        CommandView {
            title: "Fetch the latest signed head yourself".into(),
            text: format!("curl -H \"Authorization: Bearer $STELE_KEY\" {server}/v1/integrity/head"),
        },
    ];
    let view = IntegrityView {
        chrome: me.chrome("integrity"),
        alg: key.alg.into(),
        key_id: key.key_id,
        public_key: key.public_key,
        heads: heads
            .iter()
            .map(|h| {
                let time = h.head.time.to_string();
                HeadRow {
                    size: h.head.size.to_string(),
                    root: h.head.root.to_hex(),
                    time: format::short_time(&time),
                    time_iso: time,
                    key_id: h.key_id.clone(),
                    signature: h.signature.clone(),
                }
            })
            .collect(),
        log_size: log_size.to_string(),
        commands,
        export_href: me.may_export().then(|| href(&format!("/t/{t}/export"), &[])),
    };
    Ok(render(StatusCode::OK, &view))
}

/// What the Verify button reads.
#[derive(Debug, Serialize)]
struct ViewerProof {
    #[serde(flatten)]
    proof: InclusionProof,
    /// This deployment's key, for reference (the page trusts the key it was rendered with).
    public_key: PublicKey,
}

/// `GET /t/{tenant}/events/{id}/proof`: JSON errors (problem+json), since a script reads it;
/// an event outside the session's view or tenant is 404 like an unknown one.
pub(crate) async fn event_proof(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match proof_of(&state, &tenant, &id, &headers).await {
        Ok(proof) => {
            let mut r = Json(proof).into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn proof_of(state: &AppState, tenant: &str, id: &str, headers: &HeaderMap) -> Result<ViewerProof, ApiError> {
    let me = signed_in_script(state, tenant, headers).await?;
    let event = crate::routes::events::visible_event_in(state, me.view(), &me.tenant.id, id).await?;
    // The newest signed head covers the event (signed now if the signer has not caught up:
    // the button should not fail for an event appended a moment ago).
    let covered = state.store.latest_head(&me.tenant.id).await?.is_some_and(|h| h.head.size >= event.seq.get());
    if !covered {
        crate::integrity::head_covering_now(&*state.store, &state.signer, &state.heads_signed, &me.tenant.id).await?;
    }
    let proof = prove(state, &me.tenant.id, &event, None).await?;
    Ok(ViewerProof { proof, public_key: PublicKey::of(state) })
}
