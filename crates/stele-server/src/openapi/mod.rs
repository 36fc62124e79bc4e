//! The OpenAPI document, collected from the handlers' annotations by `utoipa-axum`, then
//! completed by rule (`complete.rs`: the statuses the layers in front of the handlers answer,
//! each family's error shape and credentials), given the request-member bounds the attributes
//! cannot spell (`bounds.rs`) and its stateful links (`links.rs`). Serving the completed
//! document rather than the collected one costs nothing per request: it is built once, at start.
//! `tests/it/contract.rs` checks the document's properties and runs schemathesis against it.

mod bounds;
mod complete;
mod links;

use complete::{TENANT_HEADER, TENANT_ID_PATTERN};

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::{
    events, export, health, integrity, keys, members, oidc_provider, query, retention, scim_connections, scim_log,
    stats, streams, tail, tenant_update, tenants, viewer_links,
};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Stele", description = "Tamper-evident, multi-tenant audit log service"),
    modifiers(&BearerAuth),
    tags((name = "events", description = "Ingest and read audit events"), (name = "integrity", description = "Signed tree heads, proofs, export, redaction"), (name = "admin", description = "Tenants and keys"), (name = "directory", description = "Members, groups and SCIM connections of a tenant"), (name = "streams", description = "Streams of the log to SIEMs and archives"), (name = "retention", description = "Retention periods and legal holds"), (name = "operations", description = "Health and metrics"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
            // ConfigCat profile: the key id and secret as HTTP Basic credentials.
            components.add_security_scheme(
                "basic",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
            );
        }
    }
}

/// The served document: what the handlers documented, completed by rule, with links.
pub fn document(api: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(api).unwrap_or_else(|_| serde_json::json!({}));
    complete::complete(&mut doc);
    bounds::add(&mut doc);
    links::add(&mut doc);
    doc
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenant_update::update_tenant))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(events::ingest, query::list_events))
        .routes(routes!(query::search_events))
        .routes(routes!(query::count_events))
        .routes(routes!(stats::histogram))
        .routes(routes!(stats::facets))
        .routes(routes!(export::export))
        .routes(routes!(tail::tail))
        .routes(routes!(events::get_event))
        .routes(routes!(integrity::inclusion_proof))
        .routes(routes!(integrity::redact))
        .routes(routes!(integrity::public_key))
        .routes(routes!(integrity::head))
        .routes(routes!(integrity::heads))
        .routes(routes!(integrity::consistency_proof))
        .routes(routes!(members::create_member, members::list_members))
        .routes(routes!(members::get_member, members::update_member, members::delete_member))
        .routes(routes!(members::invite_member))
        .routes(routes!(members::create_group, members::list_groups))
        .routes(routes!(members::get_group, members::update_group, members::delete_group))
        .routes(routes!(scim_connections::create_scim_connection, scim_connections::list_scim_connections))
        .routes(routes!(scim_connections::rotate_scim_connection))
        .routes(routes!(scim_connections::revoke_scim_connection))
        .routes(routes!(scim_log::scim_log))
        .routes(routes!(viewer_links::create_viewer_link))
        .routes(routes!(
            oidc_provider::put_oidc_provider,
            oidc_provider::get_oidc_provider,
            oidc_provider::delete_oidc_provider
        ))
        .routes(routes!(streams::create_stream, streams::list_streams))
        .routes(routes!(streams::get_stream, streams::update_stream, streams::delete_stream))
        .routes(routes!(streams::pause_stream))
        .routes(routes!(streams::resume_stream))
        .routes(routes!(retention::put_retention, retention::get_retention))
        .routes(routes!(retention::run_retention))
        .routes(routes!(retention::put_legal_hold, retention::delete_legal_hold))
        .merge(crate::profiles::router())
}
