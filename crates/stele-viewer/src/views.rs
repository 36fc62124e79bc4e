//! View models: plain structs of already-formatted text, one per page. `stele-server`
//! fills them from the answers of its query path; the templates only lay them out.

use serde::Serialize;

use crate::Page;

mod ops;
pub use ops::*;

/// What every signed-in page shows around its content.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Chrome {
    /// The tenant's id (used in every link).
    pub tenant: String,
    /// The tenant's display name.
    pub tenant_name: String,
    /// Who is signed in (display name, else email or user name).
    pub member: String,
    pub member_email: String,
    pub role: String,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// Which navigation entry is current: `events`, `live`, `scim`, `export`, `integrity`
    /// or `admin`.
    pub nav: &'static str,
    /// The session may export (shows the Export entry).
    pub may_export: bool,
    /// The session may manage the tenant (shows the Admin entry).
    pub may_manage: bool,
}

/// `/login`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LoginView {
    pub tenant: String,
    /// The tenant's single sign-on: ("Sign in with <name>", its start URL).
    pub sso: Option<SsoButton>,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub csrf: String,
}

/// The login page's single sign-on button.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SsoButton {
    pub name: String,
    pub href: String,
}

impl Page for LoginView {
    const TEMPLATE: &'static str = "login.html";
}

/// The page an invite URL opens: sets the member's password.
#[derive(Debug, Clone, Serialize, Default)]
pub struct InviteView {
    pub tenant: String,
    pub tenant_name: String,
    pub email: String,
    /// Where the form posts (the invite URL itself).
    pub action: String,
    pub error: Option<String>,
    pub csrf: String,
}

impl Page for InviteView {
    const TEMPLATE: &'static str = "invite.html";
}

/// A filter parse error, split at its position so the page can mark it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FilterError {
    pub message: String,
    pub before: String,
    pub at: String,
    pub after: String,
    /// 1-based column for the message.
    pub column: usize,
}

/// A quick filter chip (a link that sets or clears one parameter).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Chip {
    pub label: String,
    pub href: String,
    pub active: bool,
}

/// One row of the events table.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EventRow {
    pub href: String,
    pub time: String,
    pub time_iso: String,
    pub action: String,
    pub actor: String,
    pub target: String,
    pub status: String,
    /// `ok`, `fail`, `warn` or `pending` (the badge's colour).
    pub status_class: String,
    pub message: String,
}

/// One bar of the histogram (SVG user units of a 1000 × 100 box).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    /// Zooms the page to the bar's time range.
    pub href: String,
    /// `2026-11-29 10:00 – 11:00 UTC: 12 events`.
    pub label: String,
}

/// The histogram of the current filter.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HistogramView {
    pub bars: Vec<Bar>,
    pub from: String,
    pub to: String,
    /// `1 h per bar · 1,234 events`.
    pub caption: String,
}

/// One value of a facet.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FacetItem {
    pub label: String,
    pub count: String,
    /// Adds `attribute eq "value"` to the filter.
    pub href: String,
    pub active: bool,
}

/// The top values of one attribute under the current filter.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FacetView {
    pub title: String,
    pub items: Vec<FacetItem>,
}

/// `/t/{tenant}/events`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EventsView {
    pub chrome: Chrome,
    pub filter: String,
    pub q: String,
    pub from: String,
    pub to: String,
    pub filter_error: Option<FilterError>,
    /// `date` while `from` is a day (or empty), else `text` (an instant from a zoom).
    pub from_type: String,
    pub to_type: String,
    /// The histogram and facets, when the page holds them (`summary=inline`); otherwise
    /// the page's script loads them from `summary_href`.
    pub summary: Option<EventsSummary>,
    pub summary_href: Option<String>,
    /// The page with the summary inline (the no-script link).
    pub summary_inline_href: Option<String>,
    /// Another parameter was refused (names it).
    pub error: Option<String>,
    pub status_chips: Vec<Chip>,
    pub action_chips: Vec<Chip>,
    pub rows: Vec<EventRow>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub reset_href: String,
    /// This view on the Export page (absent when the session may not export).
    pub export_href: Option<String>,
}

/// `/t/{tenant}/live`: the latest events, then new ones as they are appended (the page's
/// script follows `stream_href`, an SSE stream of rendered [`EventRow`]s).
#[derive(Debug, Clone, Serialize, Default)]
pub struct LiveView {
    pub chrome: Chrome,
    pub filter: String,
    pub q: String,
    /// The filter's parse error, or another refused parameter.
    pub error: Option<String>,
    /// Newest first, as the Events page shows them.
    pub rows: Vec<EventRow>,
    /// The stream of new rows, after the newest event shown.
    pub stream_href: String,
    /// The same view on the Events page (filters, histogram, paging).
    pub events_href: String,
}

impl Page for LiveView {
    const TEMPLATE: &'static str = "live.html";
}

impl Page for EventsView {
    const TEMPLATE: &'static str = "events.html";
}

/// A name and its formatted value.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Field {
    pub name: String,
    pub value: String,
    /// Shown in a monospace font.
    pub mono: bool,
}

/// One line of a before/after diff.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DiffRow {
    pub path: String,
    pub before: String,
    pub after: String,
    /// `added`, `removed`, `changed` or `same`.
    pub kind: String,
}

/// A titled block of formatted JSON.
#[derive(Debug, Clone, Serialize, Default)]
pub struct JsonBlock {
    pub title: String,
    pub json: String,
}

/// `/t/{tenant}/events/{id}`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EventView {
    pub chrome: Chrome,
    pub back_href: String,
    pub id: String,
    pub action: String,
    pub status: String,
    pub status_class: String,
    pub message: String,
    pub fields: Vec<Field>,
    pub diff: Vec<DiffRow>,
    pub bodies: Vec<JsonBlock>,
    pub leaf_hash: String,
    pub seq: String,
    pub raw: String,
    /// The session's JSON proof of this event (the Verify button reads it).
    pub proof_href: String,
    /// The key the Verify button trusts: this deployment's, as the page was rendered.
    pub public_key: String,
    pub key_id: String,
    /// The Integrity page (how to verify offline).
    pub integrity_href: String,
}

impl Page for EventView {
    const TEMPLATE: &'static str = "event.html";
}

/// An option of a select.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One row of the SCIM Audit Logs table.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ScimRow {
    /// A per-page number for element ids.
    pub n: usize,
    pub href: String,
    pub request_id: String,
    pub time: String,
    pub time_iso: String,
    /// `Success` or `Failed`.
    pub status: String,
    pub failed: bool,
    pub error: String,
    pub method: String,
    pub endpoint: String,
    pub query: String,
    pub status_code: String,
    pub response: String,
    pub request: String,
}

/// `/t/{tenant}/scim-logs` (seed 001, profiles.md A.2).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ScimLogsView {
    pub chrome: Chrome,
    pub start_date: String,
    pub end_date: String,
    pub endpoint: String,
    pub methods: Vec<Choice>,
    pub resource_types: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub error: Option<String>,
    pub rows: Vec<ScimRow>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub reset_href: String,
    /// The same rows as JSON from the native API (shown as a hint).
    pub api_href: String,
}

impl Page for ScimLogsView {
    const TEMPLATE: &'static str = "scim_logs.html";
}

/// An error page (404, 400, 403…).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ErrorView {
    pub status: u16,
    pub title: String,
    pub detail: String,
    pub home: String,
}

impl Page for ErrorView {
    const TEMPLATE: &'static str = "error.html";
}

/// `/t/{tenant}/export`: the Events page's view as a CSV or NDJSON download.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ExportView {
    pub chrome: Chrome,
    pub filter: String,
    pub q: String,
    pub from: String,
    pub to: String,
    /// `ndjson` or `csv` (the chosen one).
    pub format: String,
    /// How many events the view holds now (`None` when the view is refused).
    pub count: Option<String>,
    /// The same view on the Events page.
    pub events_href: String,
    /// The view's parameters were refused (names which).
    pub error: Option<String>,
    /// The deployment's public key (for the `stele verify` hint).
    pub public_key: String,
}

impl Page for ExportView {
    const TEMPLATE: &'static str = "export.html";
}

/// One signed tree head.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HeadRow {
    pub size: String,
    pub root: String,
    pub time: String,
    pub time_iso: String,
    pub key_id: String,
    pub signature: String,
}

/// A titled shell command to copy.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CommandView {
    pub title: String,
    pub text: String,
}

/// `/t/{tenant}/integrity`: the signing key, the latest signed heads, and how to verify.
#[derive(Debug, Clone, Serialize, Default)]
pub struct IntegrityView {
    pub chrome: Chrome,
    pub alg: String,
    /// First 16 hex digits of SHA-256 of the raw key (as `GET /v1/integrity/key` shows it).
    pub key_id: String,
    /// The raw key, base64.
    pub public_key: String,
    /// Newest first.
    pub heads: Vec<HeadRow>,
    /// Events in the log now (a head may not cover the newest yet).
    pub log_size: String,
    pub commands: Vec<CommandView>,
    /// The Export page (absent when the session may not export).
    pub export_href: Option<String>,
}

impl Page for IntegrityView {
    const TEMPLATE: &'static str = "integrity.html";
}

/// One member on the admin members page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MemberRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub active: bool,
    /// `SCIM` when an identity provider manages the member, else empty.
    pub source: String,
    /// Roles this admin may set on the member (empty: it may not change the member).
    pub roles: Vec<Choice>,
    /// Why the row has no controls ("you", "owner").
    pub locked: Option<String>,
    /// Where the row's forms post.
    pub action: String,
}

/// A secret shown once, in the answer of the form that made it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Shown {
    /// What it is: `Invite URL for ana@acme.io`, `Secret of key "CI"`.
    pub title: String,
    pub secret: String,
    /// More lines to show with it (a SCIM base URL).
    pub extra: Vec<Field>,
}

/// `/t/{tenant}/admin/members`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminMembersView {
    pub chrome: Chrome,
    /// Which admin tab is current: `members`, `keys`, `scim`.
    pub tab: &'static str,
    pub members: Vec<MemberRow>,
    /// More members than listed.
    pub more: Option<String>,
    /// Roles the invite form offers (at most the admin's own).
    pub roles: Vec<Choice>,
    pub email: String,
    pub name: String,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page for AdminMembersView {
    const TEMPLATE: &'static str = "admin_members.html";
}

/// One key on the admin keys page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub view_filter: String,
    pub created: String,
    pub revoked: Option<String>,
    pub action: String,
}

/// A checkbox.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Check {
    pub value: String,
    pub label: String,
    pub hint: String,
    pub checked: bool,
}

/// `/t/{tenant}/admin/keys`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminKeysView {
    pub chrome: Chrome,
    pub tab: &'static str,
    pub keys: Vec<KeyRow>,
    pub scopes: Vec<Check>,
    pub name: String,
    pub view_filter: String,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page for AdminKeysView {
    const TEMPLATE: &'static str = "admin_keys.html";
}

/// One SCIM connection on the admin SCIM page.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub created: String,
    pub updated: String,
    pub revoked: Option<String>,
    pub action: String,
}

/// `/t/{tenant}/admin/scim`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminScimView {
    pub chrome: Chrome,
    pub tab: &'static str,
    pub connections: Vec<ConnectionRow>,
    pub name: String,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Page for AdminScimView {
    const TEMPLATE: &'static str = "admin_scim.html";
}

/// `/t/{tenant}/admin/sso`: the tenant's OpenID Connect provider.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AdminSsoView {
    pub chrome: Chrome,
    pub tab: &'static str,
    /// The provider as stored (never its secret), if one is set.
    pub current: Option<SsoSettings>,
    /// The redirect URI to register with the provider.
    pub redirect_uri: String,
    /// The form's values (the current ones, or what was posted).
    pub issuer: String,
    pub client_id: String,
    pub name: String,
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A stored OpenID Connect provider, for showing.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SsoSettings {
    pub issuer: String,
    pub client_id: String,
    pub name: String,
    pub updated: String,
}

impl Page for AdminSsoView {
    const TEMPLATE: &'static str = "admin_sso.html";
}

/// The Events page's histogram and facets (also served alone, as the fragment
/// `/t/{tenant}/events/summary` that the page's script puts in place).
#[derive(Debug, Clone, Serialize, Default)]
pub struct EventsSummary {
    pub histogram: Option<HistogramView>,
    pub facets: Vec<FacetView>,
}

impl Page for EventsSummary {
    const TEMPLATE: &'static str = "events_summary.html";
}
