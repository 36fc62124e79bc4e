//! View models of the Admin page's Streams and Retention tabs (issue #14's viewer side):
//! kept apart from `views.rs` so each file stays readable. As everywhere, the server fills
//! them with already-formatted text from the `/v1/streams` and retention API answers.

use serde::Serialize;

use super::{Chrome, Shown};
use crate::Page;

/// One stream on the Streams tab (never its secrets: the API's answer carries none).
#[derive(Debug, Clone, Serialize, Default)]
pub struct StreamRow {
    pub id: String,
    pub name: String,
    /// The kind's label (`Splunk HEC`).
    pub kind: String,
    /// Where it delivers: a URL, `host:port`, or `bucket/prefix at endpoint`.
    pub destination: String,
    /// The filter, or empty for every event.
    pub filter: String,
    /// `active`, `failing` or `paused`.
    pub state: String,
    /// The badge class of the state: `ok`, `fail` or `warn`.
    pub state_class: String,
    /// Events after the cursor (`0`, `1 event`, `1,204 events`).
    pub lag_events: String,
    /// How long the oldest of them has waited (`3 min`), empty when caught up.
    pub lag_time: String,
    pub delivered: String,
    /// The last acknowledged delivery (`—` when none yet).
    pub last_success: String,
    /// The last failure's text, with its time.
    pub last_error: Option<String>,
    pub last_error_at: String,
    /// Retention waits for this stream.
    pub holds_retention: bool,
    pub paused: bool,
    /// Where the row's forms post (`…/pause`, `…/resume`, `…/delete` are appended) and its
    /// Edit link goes (`…/edit`).
    pub action: String,
}

/// A kind the New stream form offers (a link that reloads the page with `?kind=`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct KindChoice {
    pub value: String,
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// One field of the chosen kind's settings.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StreamField {
    /// The form field's name (the API's setting name).
    pub name: String,
    pub label: String,
    /// `text`, `url`, `password`, `number`, `checkbox` or `textarea`.
    pub input: String,
    /// What was typed (never a secret's value).
    pub value: String,
    pub checked: bool,
    pub required: bool,
    pub hint: String,
    pub placeholder: String,
    /// The refusal shown with the form names this field.
    pub invalid: bool,
}

/// `/t/{tenant}/admin/streams`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminStreamsView {
    pub chrome: Chrome,
    pub tab: &'static str,
    pub streams: Vec<StreamRow>,
    pub kinds: Vec<KindChoice>,
    /// The chosen kind (`webhook`) and its label.
    pub kind: String,
    pub kind_label: String,
    pub fields: Vec<StreamField>,
    /// The form's common values (what was typed, on a refusal).
    pub name: String,
    pub filter: String,
    pub start_beginning: bool,
    /// Where the Retention tab is (streams hold retention back).
    pub retention_href: String,
    /// The API's refusal of the New stream form, shown next to it.
    pub form_error: Option<String>,
    /// The refusal names the name or the filter field.
    pub name_invalid: bool,
    pub filter_invalid: bool,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page for AdminStreamsView {
    const TEMPLATE: &'static str = "admin_streams.html";
}

/// `/t/{tenant}/admin/streams/{id}/edit`: one stream's name, filter and its kind's settings,
/// filled from the stored record, secrets always blank (left blank, they are kept).
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminStreamEditView {
    pub chrome: Chrome,
    pub tab: &'static str,
    /// The stream's stored name (the heading), whatever was typed.
    pub stream_name: String,
    /// The kind's label (`Splunk HEC`): a stream keeps its kind.
    pub kind_label: String,
    /// Where the form posts, and where Cancel goes back to.
    pub action: String,
    pub cancel_href: String,
    /// The record's version the form was filled from (an edit of an older one is refused).
    pub version: String,
    pub fields: Vec<StreamField>,
    /// The form's common values.
    pub name: String,
    pub filter: String,
    /// The API's refusal, shown above the form.
    pub form_error: Option<String>,
    pub name_invalid: bool,
    pub filter_invalid: bool,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page for AdminStreamEditView {
    const TEMPLATE: &'static str = "admin_stream_edit.html";
}

/// A stream retention waits for.
#[derive(Debug, Clone, Serialize, Default)]
pub struct WaitingStream {
    pub name: String,
    pub href: String,
}

/// `/t/{tenant}/admin/retention`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminRetentionView {
    pub chrome: Chrome,
    pub tab: &'static str,
    /// The period in force, in words (`90 days`, `Forever`).
    pub in_force: String,
    /// Where it comes from (`this tenant's setting`, `the deployment default`).
    pub source: String,
    /// Events whose time is before this are past the period (absent: kept forever).
    pub cutoff: Option<String>,
    /// The legal hold's reason, if the log is under one.
    pub hold: Option<String>,
    pub waiting: Vec<WaitingStream>,
    pub streams_href: String,
    /// The deployment default in words, for the form (`365 days`, `keep forever`).
    pub default_text: String,
    /// The form's values: the tenant's own days ("" = the default) and a hold's reason.
    pub days: String,
    pub use_default: bool,
    pub reason: String,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page for AdminRetentionView {
    const TEMPLATE: &'static str = "admin_retention.html";
}
