//! The Admin pages' Streams tab (`/t/{tenant}/admin/streams`): the tenant's streams with
//! their delivery status, Edit, Pause/Resume and Delete, and a New stream form.
//!
//! Every change runs the `/v1/streams` API's own function (`routes::streams::create_stream_in`,
//! `update_stream_in`, `delete_stream_in`) with the member as the maker (`audit::By::Member`),
//! so the settings' checks, the sealing of secrets and the `stele.stream.*` events are the
//! API's; rows and the Edit form are built from the API's own answer (`routes::streams::dto`),
//! which carries no secret, so no secret can reach the page.
//!
//! Edit (`…/streams/{id}/edit`) is `PATCH /v1/streams/{id}` with the name, the filter and
//! the kind's complete settings (`Change::Edit`): its secret fields are always blank, and a
//! secret left blank is kept (the API fills it from the sealed one before
//! `stele_streams::parse` checks the whole). The form carries the version it was filled
//! from; an edit of an older version is refused (409) instead of overwriting a change made
//! meanwhile. A success redirects to the tab (303), so a reload posts nothing.
//!
//! The form has no script: the kind is chosen with links that reload the page with
//! `?kind=`, and the form then holds only that kind's fields (`SETTINGS`). The server builds
//! the API's JSON body from the chosen kind's fields alone: empty fields are left out (the
//! API's defaults apply), checkboxes are `true`/`false`, numbers are JSON numbers when they
//! parse (else the text, which the API refuses naming the field). A refusal shows the API's
//! message next to the form and keeps what was typed, except secrets.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};
use stele_streams::Kind;
use stele_viewer::views::{AdminStreamEditView, AdminStreamsView, KindChoice, StreamField, StreamRow};

use super::admin::{admin_form, admin_session};
use super::format::short_time;
use super::session::{see_other, SessionForm, SignedIn};
use super::{render, PageError};
use crate::error::ApiError;
use crate::routes::query_params;
use crate::routes::streams::{
    create_stream_in, delete_stream_in, dto, dtos, find, update_stream_in, Change, StreamDto, StreamPatch,
};
use crate::state::AppState;

/// How a setting is typed in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Text,
    Url,
    /// Never shown back.
    Secret,
    Number,
    Flag,
    Pem,
}

/// One setting of a kind, as `stele_streams::parse` reads it.
struct Setting {
    name: &'static str,
    label: &'static str,
    input: Input,
    required: bool,
    hint: &'static str,
    placeholder: &'static str,
}

const fn setting(name: &'static str, label: &'static str, input: Input, required: bool) -> Setting {
    Setting { name, label, input, required, hint: "", placeholder: "" }
}

const fn with(s: Setting, hint: &'static str, placeholder: &'static str) -> Setting {
    Setting { hint, placeholder, ..s }
}

const WEBHOOK: &[Setting] = &[
    with(setting("url", "URL", Input::Url, true), "", "e.g. https://siem.example.com/stele"),
    with(
        setting("secret", "Signing secret", Input::Secret, true),
        "At least 16 characters; each request carries its HMAC-SHA256 in Stele-Signature.",
        "",
    ),
];

const SPLUNK: &[Setting] = &[
    with(
        setting("url", "HEC URL", Input::Url, true),
        "The HTTP Event Collector's base URL.",
        "e.g. https://splunk.example.com:8088",
    ),
    setting("token", "HEC token", Input::Secret, true),
    setting("index", "Index", Input::Text, false),
    with(setting("source", "Source", Input::Text, false), "Empty: stele.", ""),
    with(setting("sourcetype", "Source type", Input::Text, false), "Empty: stele:audit.", ""),
    with(setting("host", "Host", Input::Text, false), "Empty: the tenant's id.", ""),
];

const DATADOG: &[Setting] = &[
    with(
        setting("url", "Logs intake URL", Input::Url, false),
        "Empty: Datadog's US1 site.",
        "e.g. https://http-intake.logs.datadoghq.eu",
    ),
    setting("api_key", "API key", Input::Secret, true),
    with(setting("service", "Service", Input::Text, false), "Empty: stele.", ""),
    with(setting("ddsource", "Source", Input::Text, false), "Empty: stele.", ""),
    with(setting("ddtags", "Tags", Input::Text, false), "", "e.g. env:prod,team:security"),
];

const SYSLOG: &[Setting] = &[
    with(setting("host", "Host", Input::Text, true), "", "e.g. syslog.example.com"),
    with(setting("port", "Port", Input::Number, false), "Empty: 514, or 6514 with TLS.", ""),
    with(setting("tls", "TLS", Input::Flag, false), "RFC 5425 syslog over TLS", ""),
    with(
        setting("ca_pem", "CA certificate (PEM)", Input::Pem, false),
        "Only with TLS: the one CA trusted for the server's certificate. Empty: the web's CAs.",
        "",
    ),
    with(setting("app_name", "App name", Input::Text, false), "Empty: stele.", ""),
    with(setting("facility", "Facility", Input::Number, false), "0–23; empty: 13 (log audit).", ""),
];

const S3: &[Setting] = &[
    with(setting("endpoint", "Endpoint", Input::Url, true), "", "e.g. https://s3.eu-west-1.amazonaws.com"),
    with(setting("bucket", "Bucket", Input::Text, true), "", "e.g. acme-audit-archive"),
    with(setting("prefix", "Prefix", Input::Text, false), "Empty: the bucket's root.", "e.g. stele/"),
    with(setting("region", "Region", Input::Text, false), "Empty: us-east-1.", ""),
    with(setting("path_style", "Path-style URLs", Input::Flag, false), "for MinIO and other S3-compatible stores", ""),
    setting("access_key_id", "Access key ID", Input::Secret, true),
    setting("secret_access_key", "Secret access key", Input::Secret, true),
    with(setting("max_events", "Events per object", Input::Number, false), "Empty: 10 000.", ""),
    with(setting("max_seconds", "Seconds per object", Input::Number, false), "Empty: 60.", ""),
];

fn settings(kind: Kind) -> &'static [Setting] {
    match kind {
        Kind::Webhook => WEBHOOK,
        Kind::SplunkHec => SPLUNK,
        Kind::Datadog => DATADOG,
        Kind::Syslog => SYSLOG,
        Kind::S3 => S3,
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "webhook" => "Webhook",
        "splunk_hec" => "Splunk HEC",
        "datadog" => "Datadog",
        "syslog" => "Syslog",
        "s3" => "S3",
        _ => "Unknown",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamsParams {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    done: String,
}

fn notice(done: &str) -> Option<String> {
    let text = match done {
        "created" => "The stream is created; it starts delivering within seconds.",
        "updated" => "The stream is changed; it goes on from its cursor with the new settings.",
        "paused" => "The stream is paused; its cursor stays where it is.",
        "resumed" => "The stream is resumed where it stopped.",
        "deleted" => "The stream is deleted.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// `1 234 567` (thin groups keep long counts readable).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
fn human_duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min", secs / 60),
        3_600..=86_399 => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3_600),
    }
}

/// Where a stream delivers, from its (secret-free) destination settings.
fn destination(kind: &str, d: &Value) -> String {
    let text = |name: &str| d.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    match kind {
        "syslog" => {
            let port = d.get("port").and_then(Value::as_u64).unwrap_or_default();
            let tls = d.get("tls").and_then(Value::as_bool).unwrap_or_default();
            format!("{}:{port}{}", text("host"), if tls { " (TLS)" } else { "" })
        }
        "s3" => format!("s3://{}/{} at {}", text("bucket"), text("prefix"), text("endpoint")),
        "splunk_hec" if !text("index").is_empty() => format!("{} (index {})", text("url"), text("index")),
        _ => text("url"),
    }
}

fn stream_row(t: &str, s: StreamDto) -> StreamRow {
    let status = &s.status;
    StreamRow {
        kind: kind_label(&s.kind).to_owned(),
        destination: destination(&s.kind, &s.destination),
        filter: s.filter.clone().unwrap_or_default(),
        state: s.state.to_owned(),
        state_class: match s.state {
            "active" => "ok",
            "failing" => "fail",
            _ => "warn",
        }
        .to_owned(),
        lag_events: match status.lag_events {
            0 => "caught up".to_owned(),
            1 => "1 event".to_owned(),
            n => format!("{} events", grouped(n)),
        },
        lag_time: if status.lag_events > 0 { human_duration(status.lag_seconds) } else { String::new() },
        delivered: grouped(status.delivered),
        last_success: status.last_success.map_or_else(|| "never".to_owned(), |at| short_time(&at.to_string())),
        last_error: status.last_error.clone(),
        last_error_at: status.last_error_at.map(|at| short_time(&at.to_string())).unwrap_or_default(),
        holds_retention: status.holds_retention,
        paused: s.state == "paused",
        action: format!("/t/{t}/admin/streams/{}", s.id),
        id: s.id,
        name: s.name,
    }
}

/// Where a form's values come from.
enum FormValues<'a> {
    /// What was posted (a refused form), or nothing (a fresh New stream form).
    Typed(Option<&'a SessionForm>),
    /// The stream's stored, secret-free settings (a fresh Edit form).
    Stored(&'a Value),
}

impl FormValues<'_> {
    /// The text of setting `name`, and whether its checkbox is on.
    fn value(&self, name: &str) -> (String, bool) {
        match self {
            FormValues::Typed(None) => (String::new(), false),
            FormValues::Typed(Some(form)) => (form.field(name), form.fields.contains_key(name)),
            FormValues::Stored(destination) => match destination.get(name) {
                Some(Value::String(s)) => (s.clone(), false),
                Some(Value::Number(n)) => (n.to_string(), false),
                Some(Value::Bool(b)) => (String::new(), *b),
                _ => (String::new(), false),
            },
        }
    }
}

/// The form fields of `kind`'s settings. A secret's value is never sent back, not even the
/// one just typed; on the Edit form (`editing`) a secret may stay blank, which keeps it.
fn form_fields(kind: Kind, shown: FormValues<'_>, editing: bool) -> Vec<StreamField> {
    settings(kind)
        .iter()
        .map(|s| {
            let (value, checked) = shown.value(s.name);
            let secret = s.input == Input::Secret;
            let hint = match (secret && editing, s.hint) {
                (true, "") => KEEP_SECRET.to_owned(),
                (true, hint) => format!("{KEEP_SECRET} {hint}"),
                (false, hint) => hint.to_owned(),
            };
            StreamField {
                name: s.name.into(),
                label: s.label.into(),
                input: match s.input {
                    Input::Text => "text",
                    Input::Url => "url",
                    Input::Secret => "password",
                    Input::Number => "number",
                    Input::Flag => "checkbox",
                    Input::Pem => "textarea",
                }
                .into(),
                value: if secret || s.input == Input::Flag { String::new() } else { value },
                checked: s.input == Input::Flag && checked,
                required: s.required && !(secret && editing),
                hint,
                placeholder: s.placeholder.into(),
                invalid: false,
            }
        })
        .collect()
}

/// The hint of every secret field on the Edit form.
const KEEP_SECRET: &str = "Leave blank to keep the current secret.";

/// The field a refusal names (`url: must be …` names `url`), if it is one of the form's.
fn named_field(e: &ApiError) -> Option<&str> {
    let (field, _) = e.detail.split_once(": ")?;
    field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_').then_some(field)
}

/// Marks the field `e` names as invalid (of the settings, `name` or `filter`), only it.
fn mark_invalid(e: &ApiError, fields: &mut [StreamField], name: &mut bool, filter: &mut bool) {
    let named = named_field(e).unwrap_or_default();
    for f in fields.iter_mut() {
        f.invalid = f.name == named;
    }
    *name = named == "name";
    *filter = named == "filter";
}

/// The page for `kind`'s form, with the form's values from `typed` (a refused post).
async fn streams_view(
    state: &AppState,
    me: &SignedIn,
    kind: Kind,
    typed: Option<&SessionForm>,
) -> Result<AdminStreamsView, PageError> {
    let tenant = &me.tenant.id;
    let t = tenant.to_string();
    let records = state.store.streams(tenant).await?;
    let streams = dtos(state, tenant, &records).await?.into_iter().map(|d| stream_row(&t, d)).collect();
    let value = |name: &str| typed.map(|f| f.field(name)).unwrap_or_default();
    let fields = form_fields(kind, FormValues::Typed(typed), false);
    Ok(AdminStreamsView {
        chrome: me.chrome("admin"),
        tab: "streams",
        streams,
        kinds: Kind::ALL
            .into_iter()
            .map(|k| KindChoice {
                value: k.as_str().into(),
                label: kind_label(k.as_str()).into(),
                href: format!("/t/{t}/admin/streams?kind={}#new", k.as_str()),
                current: k == kind,
            })
            .collect(),
        kind: kind.as_str().into(),
        kind_label: kind_label(kind.as_str()).into(),
        fields,
        name: value("name"),
        filter: value("filter"),
        start_beginning: value("start") == "beginning",
        retention_href: format!("/t/{t}/admin/retention"),
        ..AdminStreamsView::default()
    })
}

/// `GET /t/{tenant}/admin/streams[?kind=]`.
pub(crate) async fn streams_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let p: StreamsParams = query_params(&uri).unwrap_or_default();
    let kind = p.kind.parse().unwrap_or(Kind::Webhook);
    let view = AdminStreamsView { notice: notice(&p.done), ..streams_view(&state, &me, kind, None).await? };
    Ok(render(StatusCode::OK, &view))
}

/// The API's body from the form: the common members and the chosen kind's fields only.
fn stream_body(form: &SessionForm, kind: Option<Kind>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("name".into(), Value::String(form.field("name")));
    body.insert("kind".into(), Value::String(form.field("kind")));
    for common in ["filter", "start"] {
        let v = form.field(common);
        if !v.is_empty() {
            body.insert(common.into(), Value::String(v));
        }
    }
    if let Some(kind) = kind {
        body.extend(settings_body(form, kind));
    }
    body
}

/// The kind's settings from the form: empty fields are left out (the API's defaults apply;
/// a secret left out on the Edit form is kept), checkboxes are `true`/`false`, numbers are
/// JSON numbers when they parse.
fn settings_body(form: &SessionForm, kind: Kind) -> Map<String, Value> {
    let mut body = Map::new();
    for s in settings(kind) {
        let v = form.field(s.name);
        let value = match s.input {
            Input::Flag => Value::Bool(form.fields.contains_key(s.name)),
            _ if v.is_empty() => continue,
            Input::Number => v.parse::<i64>().map_or(Value::String(v), Value::from),
            _ => Value::String(v),
        };
        body.insert(s.name.into(), value);
    }
    body
}

/// `POST /t/{tenant}/admin/streams`: makes a stream, then back to the list.
pub(crate) async fn create_stream(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let kind: Option<Kind> = form.field("kind").parse().ok();
    match create_stream_in(&state, &by, &me.tenant.id, stream_body(&form, kind)).await {
        Ok(_) => Ok(see_other(&format!("/t/{}/admin/streams?done=created", me.tenant.id))),
        Err(e) => {
            let mut view = streams_view(&state, me, kind.unwrap_or(Kind::Webhook), Some(&form)).await?;
            mark_invalid(&e, &mut view.fields, &mut view.name_invalid, &mut view.filter_invalid);
            Ok(super::pages::refused(e, &mut view, |v| &mut v.form_error))
        }
    }
}

/// `POST /t/{tenant}/admin/streams/{id}/{op}` with `op` = `pause`, `resume` or `delete`.
pub(crate) async fn change_stream(
    State(state): State<AppState>,
    Path((tenant, id, op)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let t = &me.tenant.id;
    let done = match op.as_str() {
        "pause" => update_stream_in(&state, &by, t, &id, Change::Pause(true)).await.map(|_| "paused"),
        "resume" => update_stream_in(&state, &by, t, &id, Change::Pause(false)).await.map(|_| "resumed"),
        "delete" => delete_stream_in(&state, &by, t, &id).await.map(|()| "deleted"),
        _ => Err(ApiError::not_found(format!("there is no stream action {op}"))),
    };
    match done {
        Ok(done) => Ok(see_other(&format!("/t/{t}/admin/streams?done={done}"))),
        Err(e) => {
            let mut view = streams_view(&state, me, Kind::Webhook, None).await?;
            Ok(super::pages::refused(e, &mut view, |v| &mut v.error))
        }
    }
}

/// The Edit form of stream `s`, filled from its stored settings or from `typed`.
fn edit_view(me: &SignedIn, s: &StreamDto, typed: Option<&SessionForm>) -> Result<AdminStreamEditView, ApiError> {
    let t = &me.tenant.id;
    let kind: Kind = s.kind.parse().map_err(|_| {
        tracing::error!(stream = %s.id, kind = %s.kind, "a stored stream of an unknown kind");
        ApiError::internal()
    })?;
    let shown = match typed {
        Some(form) => FormValues::Typed(Some(form)),
        None => FormValues::Stored(&s.destination),
    };
    let (name, filter, version) = match typed {
        Some(form) => (form.field("name"), form.field("filter"), form.field("version")),
        None => (s.name.clone(), s.filter.clone().unwrap_or_default(), s.version.to_string()),
    };
    Ok(AdminStreamEditView {
        chrome: me.chrome("admin"),
        tab: "streams",
        stream_name: s.name.clone(),
        kind_label: kind_label(&s.kind).into(),
        action: format!("/t/{t}/admin/streams/{}/edit", s.id),
        cancel_href: format!("/t/{t}/admin/streams#stream-{}", s.id),
        version,
        fields: form_fields(kind, shown, true),
        name,
        filter,
        ..AdminStreamEditView::default()
    })
}

/// `GET /t/{tenant}/admin/streams/{id}/edit`.
pub(crate) async fn edit_page(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let t = &me.tenant.id;
    let stream = find(&state, t, &id).await?;
    let view = edit_view(&me, &dto(&state, t, &stream).await?, None)?;
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/admin/streams/{id}/edit`: the API's PATCH, then back to the list; a
/// refusal shows the form again with the API's message, naming the field, and what was
/// typed (never a secret).
pub(crate) async fn edit_stream(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let t = &me.tenant.id;
    let stream = find(&state, t, &id).await?;
    let kind: Option<Kind> = stream.record.kind.parse().ok();
    let edited = match form.field("version").parse::<u64>() {
        Ok(version) => {
            let patch = StreamPatch {
                name: Some(form.field("name")),
                filter: Some(form.field("filter")),
                settings: kind.map(|k| settings_body(&form, k)),
            };
            update_stream_in(&state, &by, t, &id, Change::Edit { patch, version }).await
        }
        Err(_) => Err(ApiError::invalid_body("version: the form's version is missing; open the form again")),
    };
    match edited {
        Ok(_) => Ok(see_other(&format!("/t/{t}/admin/streams?done=updated"))),
        Err(e) => {
            let mut view = edit_view(me, &dto(&state, t, &stream).await?, Some(&form))?;
            mark_invalid(&e, &mut view.fields, &mut view.name_invalid, &mut view.filter_invalid);
            Ok(super::pages::refused(e, &mut view, |v| &mut v.form_error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_read_as_words() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234), "1,234");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(600), "10 min");
        assert_eq!(human_duration(3_600 + 300), "1 h 5 min");
        assert_eq!(human_duration(2 * 86_400 + 4 * 3_600), "2 d 4 h");
    }

    #[test]
    fn the_forms_secret_fields_are_the_kinds_secrets() {
        for kind in Kind::ALL {
            let ours: Vec<&str> = settings(kind).iter().filter(|s| s.input == Input::Secret).map(|s| s.name).collect();
            assert_eq!(ours, kind.secret_names(), "{kind}");
        }
    }

    #[test]
    fn the_edit_form_shows_the_stored_settings_but_never_a_secret() {
        // Even if a secret were in what it is filled from, the form would not show it.
        let stored = serde_json::json!({"kind": "s3", "endpoint": "https://s3.example", "bucket": "b-1",
            "prefix": "", "region": "eu-west-1", "path_style": true, "max_events": 500, "max_seconds": 60,
            "access_key_id": "AKIA-NEVER", "secret_access_key": "NEVER"});
        let fields = form_fields(Kind::S3, FormValues::Stored(&stored), true);
        let field = |name: &str| fields.iter().find(|f| f.name == name).expect(name);
        assert_eq!(field("endpoint").value, "https://s3.example");
        assert_eq!(field("max_events").value, "500");
        assert!(field("path_style").checked);
        for secret in ["access_key_id", "secret_access_key"] {
            let f = field(secret);
            assert!(f.value.is_empty() && !f.required, "{secret}: blank and optional");
            assert!(f.hint.starts_with(KEEP_SECRET), "{secret}: {}", f.hint);
        }
        // The New stream form requires them and says nothing of keeping.
        let fresh = form_fields(Kind::S3, FormValues::Typed(None), false);
        assert!(fresh.iter().filter(|f| f.input == "password").all(|f| f.required && !f.hint.contains("keep")));
    }

    #[test]
    fn a_refusal_marks_the_field_it_names() {
        let mut fields = form_fields(Kind::Webhook, FormValues::Typed(None), false);
        let (mut name, mut filter) = (false, false);
        mark_invalid(&ApiError::invalid_body("url: must be an absolute URL"), &mut fields, &mut name, &mut filter);
        assert_eq!(fields.iter().filter(|f| f.invalid).map(|f| f.name.as_str()).collect::<Vec<_>>(), ["url"]);
        mark_invalid(&ApiError::invalid_body("filter: unexpected end"), &mut fields, &mut name, &mut filter);
        assert!(filter && !name && fields.iter().all(|f| !f.invalid));
        mark_invalid(&ApiError::conflict("the stream changed meanwhile; retry"), &mut fields, &mut name, &mut filter);
        assert!(!filter && !name && fields.iter().all(|f| !f.invalid), "a refusal naming no field marks none");
    }

    #[test]
    fn every_kind_offers_exactly_the_settings_the_api_reads() {
        // A field the API does not know would be refused as unknown: each listed name must
        // be accepted by `stele_streams::parse` (it names an unknown field first).
        for kind in Kind::ALL {
            for s in settings(kind) {
                let mut body = Map::new();
                body.insert(s.name.into(), Value::String("x".into()));
                let options = stele_streams::ParseOptions { allow_http: true };
                let refused = stele_streams::parse(kind, &body, options).err().map(|e| e.message);
                assert!(!refused.unwrap_or_default().starts_with("unknown field"), "{kind} {}", s.name);
            }
        }
    }
}
