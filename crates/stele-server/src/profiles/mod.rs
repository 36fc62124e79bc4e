//! API profiles: thin adapters that reproduce other audit-log APIs over Stele's one query
//! model (`../shared/contracts/profiles.md`). Each parses its own parameters into a
//! `stele_core::Query`, runs it through the `Store`, and renders its documented JSON; none
//! has SQL or filtering of its own.

pub mod cloudcockpit;
pub mod common;
pub mod configcat;
pub mod losant;
pub mod oneuptime;
pub mod retraced;
pub mod stream;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every profile's routes, merged into the main router (and so into `/openapi.json`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(oneuptime::router())
        .merge(cloudcockpit::router())
        .merge(configcat::router())
        .merge(losant::router())
        .merge(retraced::router())
}
