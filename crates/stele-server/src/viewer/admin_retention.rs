//! The Admin pages' Retention tab (`/t/{tenant}/admin/retention`): the period in force and
//! its cut-off, the legal hold, the streams retention waits for, and the forms that change
//! them.
//!
//! The page shows the retention API's own answer (`routes::retention::dto`), and each form
//! runs that API's function (`set_days_in`, `set_hold_in`) with the member as the maker, so
//! the bounds and the `stele.retention.set` / `stele.legal_hold.*` events are the API's.
//! "Apply now" is `POST …/retention/run`'s `crate::retention::apply_all`, then a redirect
//! (303) to the tab with what that run did in its query (`?done=applied&expired=3`, plus
//! `held=true` or `waiting=true`): a count and two flags, nothing secret and nothing
//! unbounded. The tab reads only those, so reloading it shows the same words and runs
//! nothing. The URL carries the run's own outcome rather than the tab reading the latest
//! `stele.retention.applied` event because a run that removes nothing (held, nothing due,
//! everything waiting for streams) writes no event.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use stele_core::Timestamp;
use stele_viewer::views::{AdminRetentionView, WaitingStream};

use super::admin::{admin_form, admin_session};
use super::format::short_time;
use super::session::{see_other, SignedIn};
use super::{render, PageError};
use crate::error::ApiError;
use crate::routes::query_params;
use crate::routes::retention::{dto, set_days_in, set_hold_in};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoneParams {
    #[serde(default)]
    done: String,
    /// After `done=applied`: what the run did.
    #[serde(default)]
    expired: u64,
    #[serde(default)]
    held: bool,
    #[serde(default)]
    waiting: bool,
}

fn notice(uri: &Uri) -> Option<String> {
    let p: DoneParams = query_params(uri).unwrap_or_default();
    let text = match p.done.as_str() {
        "period" => "The retention period is saved.",
        "held" => "The legal hold is set.",
        "lifted" => "The legal hold is lifted: retention applies again at its next run.",
        "applied" => return Some(applied_notice(&p)),
        _ => return None,
    };
    Some(text.to_owned())
}

/// What an Apply now run did, in words.
fn applied_notice(p: &DoneParams) -> String {
    let mut said = vec![match (p.held, p.expired) {
        (true, _) => "Nothing was removed: the log is under legal hold.".to_owned(),
        (false, 0) => "Applied: no event was past the period.".to_owned(),
        (false, 1) => "Applied: 1 event past the period is a tombstone now.".to_owned(),
        (false, n) => format!("Applied: {n} events past the period are tombstones now."),
    }];
    if p.waiting {
        said.push("Some events past the period wait for streams to deliver them.".to_owned());
    }
    said.join(" ")
}

/// Where Apply now sends the browser: the tab, with what `runs` did.
fn applied_href(t: &str, runs: &[crate::retention::Outcome]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("done", "applied");
    q.append_pair("expired", &runs.iter().map(|r| r.expired).sum::<u64>().to_string());
    if runs.iter().any(|r| r.held) {
        q.append_pair("held", "true");
    }
    if runs.iter().any(|r| r.waiting_for_streams) {
        q.append_pair("waiting", "true");
    }
    format!("/t/{t}/admin/retention?{}", q.finish())
}

fn days_text(days: Option<u32>) -> String {
    match days {
        Some(1) => "1 day".to_owned(),
        Some(d) => format!("{d} days"),
        None => "forever".to_owned(),
    }
}

async fn retention_view(state: &AppState, me: &SignedIn) -> Result<AdminRetentionView, PageError> {
    let tenant = &me.tenant.id;
    let t = tenant.to_string();
    let r = dto(state, tenant).await?;
    let names: Vec<(String, String)> =
        state.store.streams(tenant).await?.into_iter().map(|s| (s.record.id.to_string(), s.record.name)).collect();
    let in_force = match r.effective_days {
        Some(_) => days_text(r.effective_days),
        None => "Forever".to_owned(),
    };
    Ok(AdminRetentionView {
        chrome: me.chrome("admin"),
        tab: "retention",
        in_force,
        source: match (r.days, r.default_days) {
            (Some(_), _) => "this tenant's setting".to_owned(),
            (None, Some(_)) => "the deployment default".to_owned(),
            (None, None) => "no period is set here or for the deployment".to_owned(),
        },
        cutoff: r.cutoff.map(|c| short_time(&c.to_string())),
        hold: r.legal_hold.map(|h| h.reason),
        waiting: r
            .waiting_for_streams
            .iter()
            .map(|id| WaitingStream {
                name: names.iter().find(|(i, _)| i == id).map_or_else(|| id.clone(), |(_, n)| n.clone()),
                href: format!("/t/{t}/admin/streams#stream-{id}"),
            })
            .collect(),
        streams_href: format!("/t/{t}/admin/streams"),
        default_text: match r.default_days {
            Some(_) => days_text(r.default_days),
            None => "keep forever".to_owned(),
        },
        days: r.days.map(|d| d.to_string()).unwrap_or_default(),
        use_default: r.days.is_none(),
        ..AdminRetentionView::default()
    })
}

/// `GET /t/{tenant}/admin/retention`.
pub(crate) async fn retention_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let view = AdminRetentionView { notice: notice(&uri), ..retention_view(&state, &me).await? };
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/admin/retention`: `mode` = `default` (the deployment's) or `days`.
pub(crate) async fn save_period(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let typed = form.field("days");
    let days = match form.field("mode").as_str() {
        "default" => Ok(None),
        _ if typed.is_empty() => Err(ApiError::bad_request("invalid-body", "days: required (or use the default)")),
        _ => typed
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ApiError::bad_request("invalid-body", "days: must be a whole number of days, 1–36500")),
    };
    let saved = match days {
        Ok(days) => set_days_in(&state, &by, &me.tenant.id, days).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => Ok(see_other(&format!("/t/{}/admin/retention?done=period", me.tenant.id))),
        Err(e) => {
            refused(&state, me, e, |v| {
                v.days = typed;
                v.use_default = false;
            })
            .await
        }
    }
}

/// The page with the API's refusal, after `keep` puts back what was typed.
async fn refused(
    state: &AppState,
    me: &SignedIn,
    e: ApiError,
    keep: impl FnOnce(&mut AdminRetentionView),
) -> Result<Response, PageError> {
    let mut view = retention_view(state, me).await?;
    keep(&mut view);
    Ok(super::pages::refused(e, &mut view, |v| &mut v.error))
}

/// `POST /t/{tenant}/admin/retention/hold`: sets the hold (or changes its reason).
pub(crate) async fn set_hold(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let reason = form.field("reason");
    match set_hold_in(&state, &by, &me.tenant.id, Some(reason.clone())).await {
        Ok(()) => Ok(see_other(&format!("/t/{}/admin/retention?done=held", me.tenant.id))),
        Err(e) => refused(&state, me, e, |v| v.reason = reason).await,
    }
}

/// `POST /t/{tenant}/admin/retention/lift`.
pub(crate) async fn lift_hold(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    match set_hold_in(&state, &by, &me.tenant.id, None).await {
        Ok(()) => Ok(see_other(&format!("/t/{}/admin/retention?done=lifted", me.tenant.id))),
        Err(e) => refused(&state, me, e, |_| {}).await,
    }
}

/// `POST /t/{tenant}/admin/retention/apply`: runs retention now, then back to the tab,
/// which says what the run did.
pub(crate) async fn apply_now(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, _, _) = admin_form(&state, &tenant, request).await?;
    let t = &form.me.tenant.id;
    let runs = crate::retention::apply_all(&state, t, Timestamp::now()).await?;
    Ok(see_other(&applied_href(t.as_str(), &runs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::Outcome;

    fn said(href: &str) -> Option<String> {
        notice(&href.parse().expect("uri"))
    }

    #[test]
    fn the_tab_says_what_the_run_in_its_url_did() {
        let run =
            |expired, held, waiting| Outcome { expired, held, waiting_for_streams: waiting, ..Outcome::default() };
        let cases = [
            (vec![run(3, false, false)], "Applied: 3 events past the period are tombstones now."),
            (vec![run(1, false, false)], "Applied: 1 event past the period is a tombstone now."),
            (vec![run(0, false, false)], "Applied: no event was past the period."),
            (vec![run(0, true, false)], "Nothing was removed: the log is under legal hold."),
            (
                vec![run(1000, false, false), run(2, false, true)],
                "Applied: 1002 events past the period are tombstones now. \
                 Some events past the period wait for streams to deliver them.",
            ),
        ];
        for (runs, words) in cases {
            let href = applied_href("acme", &runs);
            assert!(href.starts_with("/t/acme/admin/retention?done=applied&expired="), "{href}");
            assert_eq!(said(&href).as_deref(), Some(words), "{href}");
        }
        // Anything else in the query is no notice at all (never an error page).
        assert_eq!(said("/t/acme/admin/retention?done=applied&expired=many"), None);
        assert_eq!(said("/t/acme/admin/retention?done=applied&secret=x"), None);
    }
}
