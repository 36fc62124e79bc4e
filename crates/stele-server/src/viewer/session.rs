//! Signing in to the viewer: passwords, invites, server-side sessions, CSRF.
//!
//! - **Passwords** are argon2id (the `argon2` crate's defaults: m = 19 MiB, t = 2, p = 1),
//!   hashed and verified on the blocking pool; only the PHC string is stored. An unknown
//!   email is verified against a dummy hash, so its answer takes as long as a wrong password.
//! - **Invites** (`invite.rs`) set the first password; see there.
//! - **Sessions** are rows (`stele_store::sessions`) keyed by the SHA-256 of a 256-bit
//!   random token; the cookie `stele_session=<tenant>.<token>` is `HttpOnly; SameSite=Lax;
//!   Path=/`, and `Secure` behind `X-Forwarded-Proto: https` or with `viewer.secure_cookies`.
//!   Every request reads the session with its member and refuses it unless the member is
//!   active, so a member deactivated (SCIM, admin API) or deleted loses every session at once.
//! - **CSRF**: every form carries `csrf`, the SHA-256 of a secret only the browser's cookie
//!   holds — the session token once signed in, else a pre-session `stele_csrf` cookie
//!   (`SameSite=Strict`) — compared in constant time. A request without it changes nothing.
//! - **Limits**: sign-in attempts per account (tenant + email) and per client IP are token
//!   buckets (`rate::Limiter`); every answered 401 also spends the IP's failed-auth budget.
//! - **Audit**: sign-in (`stele.viewer.signed_in`), failed sign-in
//!   (`stele.viewer.sign_in_failed`, with the reason), sign-out (`stele.viewer.signed_out`),
//!   invite (`stele.member.invited`) and password set (`stele.member.password_set`) are events
//!   of the tenant's log, in the same transaction as the change they describe.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::Instant;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use stele_core::{Actor, KeyId, NewEvent, Origin, SecretHash, Status, Target, TenantId, Timestamp, ViewFilter};
use stele_store::directory::{effective_role, Member, MemberLookup, RecordChange, Role};
use stele_store::sessions::Session;
use stele_store::{StoreError, Tenant};
use stele_viewer::views::{Chrome, LoginView, SsoButton};
use subtle::ConstantTimeEq;

use super::{error_page, render, PageError};
use crate::error::ApiError;
use crate::rate::Limiter;
use crate::state::AppState;

const SESSION_COOKIE: &str = "stele_session";
/// The cookie of an embed link's read-only session (`viewer/link.rs`).
pub(super) const LINK_COOKIE: &str = "stele_link";
pub(super) const CSRF_COOKIE: &str = "stele_csrf";
/// Largest form body the viewer reads.
const MAX_FORM_BYTES: usize = 16 * 1024;
pub(super) const MIN_PASSWORD_CHARS: usize = 12;
/// Longer passwords are refused (argon2 hashes any length; this bounds the work).
pub(super) const MAX_PASSWORD_CHARS: usize = 256;

/// The viewer's settings and sign-in limiters.
pub struct ViewerState {
    pub settings: crate::config::Viewer,
    per_ip: Option<Limiter<IpAddr>>,
    per_account: Option<Limiter<String>>,
}

impl ViewerState {
    pub fn new(settings: &crate::config::Viewer) -> Self {
        let ip = f64::from(settings.login_attempts_per_ip_per_minute);
        let account = f64::from(settings.login_attempts_per_account_per_minute);
        Self {
            settings: settings.clone(),
            per_ip: Limiter::new(ip / 60.0, ip),
            per_account: Limiter::new(account / 60.0, account),
        }
    }
}

/// Spends one of the client address's sign-in attempts (`[viewer]
/// login_attempts_per_ip_per_minute`) for a way in other than the login form (an embed link,
/// a single sign-on start or callback); the 429 page when none is left.
pub(super) fn over_ip_budget(state: &AppState, ip: Option<IpAddr>) -> Option<Response> {
    let (ip, limiter) = (ip?, state.viewer.per_ip.as_ref()?);
    let wait = limiter.take(&ip, Instant::now()).err()?;
    let seconds = crate::rate::retry_after(wait);
    let mut page = error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("Too many sign-in attempts from your address. Try again in {seconds} seconds."),
        "/login",
    );
    page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    Some(page)
}

/// 256 random bits, base64url.
pub(crate) fn new_token() -> String {
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
}

pub(super) fn is_token(text: &str) -> bool {
    text.len() == 43 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSRF token of forms rendered for a browser holding `secret`.
pub(super) fn csrf_of(secret: &str) -> String {
    hex::encode(Sha256::new().chain_update(b"stele-csrf\0").chain_update(secret.as_bytes()).finalize())
}

pub(super) fn csrf_matches(secret: &str, presented: Option<&String>) -> bool {
    presented.is_some_and(|p| bool::from(csrf_of(secret).as_bytes().ct_eq(p.as_bytes())))
}

/// A cookie's value from the request's `Cookie` headers.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(super) fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.viewer.settings.secure_cookies
        || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p == "https")
}

pub(super) fn set_cookie(name: &str, value: &str, max_age: i64, same_site: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"))
        .ok()
}

pub(super) fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub(super) fn login_href(tenant: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("tenant", tenant).finish();
    format!("/login?{q}")
}

/// Who holds a viewer session.
pub(crate) enum Holder {
    /// A signed-in member, acting with its effective role (its own, raised by its groups').
    Member { member: Member, role: Role },
    /// An embed link's read-only session: the tenant as seen through `view` (the creating
    /// key's view AND the link's own), with export only if that key may export.
    // Made by the embed-link sign-in (`POST /v1/viewer-links`), which lands on its own branch.
    Link { key: KeyId, view: Option<ViewFilter>, export: bool },
}

/// A viewer session, for one request.
pub(crate) struct SignedIn {
    pub tenant: Tenant,
    pub holder: Holder,
    pub csrf: String,
}

impl SignedIn {
    /// The signed-in member (`None` for an embed link's session).
    pub fn member(&self) -> Option<&Member> {
        match &self.holder {
            Holder::Member { member, .. } => Some(member),
            Holder::Link { .. } => None,
        }
    }

    /// What the session may read: the whole tenant for a member, the link's view otherwise.
    /// Every page passes it to the read it shares with the JSON API.
    pub fn view(&self) -> Option<ViewFilter> {
        match &self.holder {
            Holder::Member { .. } => None,
            Holder::Link { view, .. } => view.clone(),
        }
    }

    /// Admins and owners manage keys, members, SCIM connections and the tenant's settings.
    pub fn may_manage(&self) -> bool {
        matches!(&self.holder, Holder::Member { role, .. } if *role >= Role::Admin)
    }

    /// The role the member acts with (`None` for an embed link's session).
    pub fn role(&self) -> Option<Role> {
        match &self.holder {
            Holder::Member { role, .. } => Some(*role),
            Holder::Link { .. } => None,
        }
    }

    /// The actor of what the session does: its member, or the embed link (named by the key
    /// that made it).
    pub fn actor(&self, ip: Option<IpAddr>) -> Actor {
        match &self.holder {
            Holder::Member { member, .. } => member_actor(member, ip),
            Holder::Link { key, .. } => link_actor(key, ip),
        }
    }

    /// Who the session's admin changes are made by: the member, through the viewer.
    pub fn by(&self, ip: Option<IpAddr>) -> Option<crate::audit::By<'static>> {
        self.member().map(|m| crate::audit::By::Member(member_actor(m, ip)))
    }

    /// Auditors, admins and owners export; so does a link made by a key that may.
    pub fn may_export(&self) -> bool {
        match &self.holder {
            Holder::Member { role, .. } => *role >= Role::Auditor,
            Holder::Link { export, .. } => *export,
        }
    }

    pub fn chrome(&self, nav: &'static str) -> Chrome {
        let (member, member_email, role) = match &self.holder {
            Holder::Member { member, role } => (
                member
                    .display_name
                    .clone()
                    .or_else(|| member.email.clone())
                    .unwrap_or_else(|| member.user_name.clone()),
                member.email.clone().unwrap_or_default(),
                role.as_str().to_owned(),
            ),
            Holder::Link { .. } => ("Shared view".to_owned(), String::new(), "read-only".to_owned()),
        };
        Chrome {
            tenant: self.tenant.id.to_string(),
            tenant_name: self.tenant.name.clone(),
            member,
            member_email,
            role,
            csrf: self.csrf.clone(),
            nav,
            may_export: self.may_export(),
            may_manage: self.may_manage(),
        }
    }
}

/// A session cookie's tenant and token (`<tenant>.<token>`), if it has that shape.
fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<(TenantId, &'a str)> {
    let (tenant, token) = cookie(headers, name)?.split_once('.')?;
    if !is_token(token) {
        return None;
    }
    Some((TenantId::parse(tenant).ok()?, token))
}

/// Who is signed in for `tenant` (the URL's): a member's session, else an embed link's.
/// No session: a redirect to sign in; a session of another tenant only: 404, as if the page
/// did not exist.
pub(crate) async fn signed_in(state: &AppState, tenant: &str, headers: &HeaderMap) -> Result<SignedIn, PageError> {
    let to_login = || PageError::Answer(see_other(&login_href(tenant)));
    let member = session_cookie(headers, SESSION_COOKIE);
    let link = session_cookie(headers, LINK_COOKIE);
    let (cookie_tenant, token, is_link) = if let Some((t, token)) = member.clone().filter(|(t, _)| t.as_str() == tenant)
    {
        (t, token, false)
    } else if let Some((t, token)) = link.clone().filter(|(t, _)| t.as_str() == tenant) {
        (t, token, true)
    } else if let Some((other, _)) = member.or(link) {
        return Err(not_found(&other));
    } else {
        return Err(to_login());
    };
    let Some(t) = state.store.get_tenant(&cookie_tenant).await? else { return Err(to_login()) };
    let hash = SecretHash::of(token);
    let now = Timestamp::now();
    let csrf = csrf_of(token);
    if is_link {
        let Some(link) = state.store.link_session(&cookie_tenant, &hash, now).await? else { return Err(to_login()) };
        let view = link.view_filter.as_deref().map(crate::view_filter::stored).transpose().map_err(|e| {
            tracing::error!(error = %e, "a stored viewer link's view filter is unreadable");
            ApiError::internal()
        })?;
        let holder = Holder::Link { key: link.key, view, export: link.export };
        return Ok(SignedIn { tenant: t, holder, csrf });
    }
    match state.store.session(&cookie_tenant, &hash, now).await? {
        Some((_, member)) if member.active => {
            let groups = state.store.member_groups(&cookie_tenant, &member.id).await?;
            let role = effective_role(&member, &groups);
            Ok(SignedIn { tenant: t, holder: Holder::Member { member, role }, csrf })
        }
        _ => Err(to_login()),
    }
}

/// [`signed_in`] for a script's request (a fetch, an EventSource): a lost session is a 401
/// problem rather than a redirect to the sign-in page, which a script cannot follow.
pub(crate) async fn signed_in_script(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<SignedIn, ApiError> {
    signed_in(state, tenant, headers).await.map_err(|e| match e {
        PageError::Answer(_) => ApiError::unauthorized("sign in again"),
        PageError::Api(e, _) => e,
    })
}

/// The 404 page of a signed-in member.
pub(crate) fn not_found(home_tenant: &TenantId) -> PageError {
    PageError::Api(
        ApiError::not_found("There is no such page, or it is not yours to see."),
        format!("/t/{home_tenant}/events"),
    )
}

/// The 403 page of a session that may not do something.
pub(crate) fn forbidden(me: &SignedIn, detail: &str) -> PageError {
    PageError::Api(ApiError::forbidden(detail), format!("/t/{}/events", me.tenant.id))
}

/// A form posted by a signed-in session, once its CSRF token matched: the session, the
/// request's headers, the fields and the client's address.
pub(crate) struct SessionForm {
    pub me: SignedIn,
    pub headers: HeaderMap,
    pub fields: HashMap<String, String>,
    pub ip: Option<IpAddr>,
}

impl SessionForm {
    /// A field, trimmed ("" when absent).
    pub fn field(&self, name: &str) -> String {
        self.fields.get(name).map(|v| v.trim().to_owned()).unwrap_or_default()
    }
}

/// Reads a form posted to a page of `tenant`: no session → sign in; another tenant's → 404;
/// a CSRF token that is missing or does not match the session's → the refusal page, and
/// nothing else is read or changed.
pub(crate) async fn session_form(state: &AppState, tenant: &str, request: Request) -> Result<SessionForm, PageError> {
    let ip = client_ip(&request);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let me = signed_in(state, tenant, &headers).await?;
    let home = format!("/t/{}/events", me.tenant.id);
    let fields = read_form(&headers, body).await.map_err(|e| PageError::Api(e, home.clone()))?;
    let matches = fields.get("csrf").is_some_and(|p| bool::from(me.csrf.as_bytes().ct_eq(p.as_bytes())));
    if !matches {
        return Err(PageError::Answer(csrf_refused(&home)));
    }
    Ok(SessionForm { me, headers, fields, ip })
}

/// Reads an `application/x-www-form-urlencoded` body of at most [`MAX_FORM_BYTES`].
pub(super) async fn read_form(headers: &HeaderMap, body: Body) -> Result<HashMap<String, String>, ApiError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim() == "application/x-www-form-urlencoded"));
    if !form_type {
        return Err(ApiError::unsupported_media_type("send the form as application/x-www-form-urlencoded"));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ApiError::too_large(format!("a form body is at most {MAX_FORM_BYTES} bytes")))?;
    let mut fields = HashMap::new();
    for (k, v) in form_urlencoded::parse(&bytes) {
        if fields.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(ApiError::bad_request("invalid-body", "a form field appears twice"));
        }
    }
    Ok(fields)
}

/// A form posted before a session exists (sign-in, invite), once its CSRF token matches the
/// browser's pre-session cookie: its headers, its fields and that cookie's secret.
pub(super) struct PreSessionForm {
    pub(super) headers: HeaderMap,
    pub(super) fields: HashMap<String, String>,
    pub(super) secret: String,
}

/// Reads a pre-session form; `Err` holds the refusal page when its CSRF token is missing or
/// does not match.
pub(super) async fn pre_session_form(request: Request) -> Result<Result<PreSessionForm, Response>, PageError> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let fields = read_form(&headers, body).await?;
    match cookie(&headers, CSRF_COOKIE).filter(|c| is_token(c)).map(str::to_owned) {
        Some(secret) if csrf_matches(&secret, fields.get("csrf")) => Ok(Ok(PreSessionForm { headers, fields, secret })),
        _ => Ok(Err(csrf_refused("/login"))),
    }
}

pub(super) fn csrf_refused(home: &str) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form's security token is missing or does not match. Reload the page and try again.",
        home,
    )
}

/// The pre-session CSRF secret of a browser: its cookie, or a new one to set.
pub(super) fn pre_session_secret(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|c| is_token(c)) {
        Some(c) => (c.to_owned(), false),
        None => (new_token(), true),
    }
}

pub(super) fn page_with_csrf_cookie(
    state: &AppState,
    headers: &HeaderMap,
    secret: &str,
    fresh: bool,
    page: Response,
) -> Response {
    let cookie = fresh.then(|| set_cookie(CSRF_COOKIE, secret, 86_400, "Strict", secure(state, headers))).flatten();
    with_cookie(page, cookie)
}

/// The "Sign in with <provider>" button of a tenant with single sign-on.
async fn sso_button(state: &AppState, tenant: &str) -> Option<SsoButton> {
    let id = TenantId::parse(tenant).ok()?;
    let provider = state.store.oidc_provider(&id).await.ok().flatten()?;
    Some(SsoButton { name: provider.name, href: format!("/oidc/{id}/start") })
}

/// `GET /login`.
pub(crate) async fn login_page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let params: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let (secret, fresh) = pre_session_secret(&headers);
    let notice = match params.get("done").map(String::as_str) {
        Some("password") => Some("Your password is set. Sign in with it.".to_owned()),
        Some("out") => Some("You are signed out.".to_owned()),
        _ => None,
    };
    let tenant = params.get("tenant").cloned().unwrap_or_default();
    let sso = sso_button(&state, &tenant).await;
    let view = LoginView { tenant, sso, csrf: csrf_of(&secret), notice, ..LoginView::default() };
    page_with_csrf_cookie(&state, &headers, &secret, fresh, render(StatusCode::OK, &view))
}

pub(super) fn client_ip(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The actor of an event an embed link's session causes (its opening included).
pub(super) fn link_actor(key: &KeyId, ip: Option<IpAddr>) -> Actor {
    Actor {
        kind: Some("viewer_link".into()),
        id: Some(key.to_string()),
        ip: ip.map(|i| i.to_string()),
        ..Actor::default()
    }
}

/// The actor of an event a member causes in the viewer.
pub(super) fn member_actor(m: &Member, ip: Option<IpAddr>) -> Actor {
    Actor {
        kind: Some("member".into()),
        id: Some(m.id.to_string()),
        name: m.display_name.clone().or_else(|| Some(m.user_name.clone())),
        email: m.email.clone(),
        ip: ip.map(|i| i.to_string()),
        user_agent: None,
    }
}

pub(super) fn event(
    action: &str,
    status: Status,
    actor: Actor,
    target: Target,
    message: String,
    reason: Option<String>,
) -> NewEvent {
    crate::audit::event(actor, Origin::User, crate::audit::What { action, status, target, message, reason })
}

/// A hash that verifies nothing, so that an unknown email costs one argon2 verification too.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_password("not the password of anybody").ok());

pub(super) fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ApiError::internal())
}

/// Why a sign-in failed (recorded in the tenant's log; the page says only "incorrect").
#[derive(Debug, Clone, Copy)]
pub(super) enum Refusal {
    UnknownEmail,
    /// Single sign-on: the provider's identity matches no member.
    UnknownIdentity,
    NoPassword,
    WrongPassword,
    Deactivated,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::UnknownEmail => "no member has this email",
            Refusal::UnknownIdentity => "the identity provider's user matches no member",
            Refusal::NoPassword => "the member has not set a password yet",
            Refusal::WrongPassword => "wrong password",
            Refusal::Deactivated => "the member is deactivated",
        }
    }
}

fn login_again(view: LoginView, status: StatusCode, secret: &str) -> Response {
    render(status, &LoginView { csrf: csrf_of(secret), ..view })
}

/// `POST /login`.
pub(crate) async fn login(State(state): State<AppState>, request: Request) -> Result<Response, PageError> {
    let ip = client_ip(&request);
    let PreSessionForm { headers, fields: form, secret } = match pre_session_form(request).await? {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let field = |name: &str| form.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (tenant_text, email) = (field("tenant"), field("email"));
    let password = form.get("password").cloned().unwrap_or_default();
    let sso = sso_button(&state, &tenant_text).await;
    let view = LoginView { tenant: tenant_text.clone(), email: email.clone(), sso, ..LoginView::default() };
    let missing = [("Tenant", &tenant_text), ("Email", &email), ("Password", &password)]
        .into_iter()
        .find(|(_, v)| v.is_empty() || v.chars().count() > MAX_PASSWORD_CHARS);
    if let Some((name, _)) = missing {
        let error = Some(format!("{name}: enter 1-{MAX_PASSWORD_CHARS} characters."));
        return Ok(login_again(LoginView { error, ..view }, StatusCode::BAD_REQUEST, &secret));
    }

    // Limits first: a refused attempt costs no lookup and no hashing.
    let now = Instant::now();
    let account = format!("{}\u{0}{}", tenant_text.to_lowercase(), email.to_lowercase());
    let waits = [
        ip.and_then(|ip| state.viewer.per_ip.as_ref().and_then(|l| l.take(&ip, now).err())),
        state.viewer.per_account.as_ref().and_then(|l| l.take(&account, now).err()),
    ];
    if let Some(wait) = waits.into_iter().flatten().max() {
        let seconds = crate::rate::retry_after(wait);
        let error = Some(format!("Too many sign-in attempts. Try again in {seconds} seconds."));
        let mut page = login_again(LoginView { error, ..view }, StatusCode::TOO_MANY_REQUESTS, &secret);
        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(page);
    }

    let incorrect = |view: LoginView| {
        let error = Some("The email or password is incorrect.".to_owned());
        login_again(LoginView { error, ..view }, StatusCode::UNAUTHORIZED, &secret)
    };
    let Some(tenant) = state.store.find_tenant(&tenant_text).await? else {
        let _ = blocking(move || DUMMY_HASH.as_deref().map(|h| verify_password(&password, h))).await;
        return Ok(incorrect(view));
    };
    let member = find_member(&state, &tenant.id, &email).await?;
    let credential = match &member {
        Some(m) => state.store.credential(&tenant.id, &m.id).await?,
        None => None,
    };
    let phc = credential.as_ref().and_then(|c| c.password_hash.clone());
    // The dummy hash is made (once) and checked on the blocking pool too.
    let stored = phc.clone();
    let verify = move || stored.or_else(|| DUMMY_HASH.clone()).is_some_and(|h| verify_password(&password, &h));
    let verified = blocking(verify).await? && phc.is_some();
    let refusal = match (&member, verified) {
        (None, _) => Some(Refusal::UnknownEmail),
        (Some(_), _) if phc.is_none() => Some(Refusal::NoPassword),
        (Some(_), false) => Some(Refusal::WrongPassword),
        (Some(m), true) if !m.active => Some(Refusal::Deactivated),
        (Some(_), true) => None,
    };
    let Some(member) = member.filter(|_| refusal.is_none()) else {
        let reason = refusal.unwrap_or(Refusal::WrongPassword);
        record_failure(&state, &tenant.id, &email, ip, reason).await?;
        return Ok(incorrect(view));
    };

    match start_session(&state, &headers, &tenant.id, member, ip, "with a password").await? {
        Some(page) => Ok(page),
        None => {
            record_failure(&state, &tenant.id, &email, ip, Refusal::Deactivated).await?;
            Ok(incorrect(view))
        }
    }
}

/// Makes a session of an active member (a sign-in `how`: "with a password", "through
/// Okta"), records `stele.viewer.signed_in`, and answers the redirect to the Events page
/// with the session cookie — or `None` when the member was deactivated meanwhile.
pub(super) async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &TenantId,
    member: Member,
    ip: Option<IpAddr>,
    how: &str,
) -> Result<Option<Response>, ApiError> {
    let token = new_token();
    let created = Timestamp::now();
    let ttl = i64::try_from(state.viewer.settings.session_ttl_seconds).unwrap_or(i64::MAX / 2_000_000);
    let expires = Timestamp::from_micros(created.as_micros().saturating_add(ttl.saturating_mul(1_000_000)));
    let session =
        Session { token_hash: SecretHash::of(&token), member: member.id, created_at: created, expires_at: expires };
    let who = member.email.clone().unwrap_or_else(|| member.user_name.clone());
    let audit = event(
        "stele.viewer.signed_in",
        Status::Success,
        member_actor(&member, ip),
        crate::routes::members::member_target(&member),
        format!("{who} signed in to the viewer {how}"),
        None,
    );
    match state.store.change(tenant, RecordChange::PutSession { session }, vec![audit]).await {
        Ok(()) => {}
        Err(StoreError::UnknownMember(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let value = format!("{tenant}.{token}");
    let cookie = set_cookie(SESSION_COOKIE, &value, ttl, "Lax", secure(state, headers));
    Ok(Some(with_cookie(see_other(&format!("/t/{tenant}/events")), cookie)))
}

/// The member an email (else a user name) signs in as.
pub(super) async fn find_member(
    state: &AppState,
    tenant: &TenantId,
    email: &str,
) -> Result<Option<Member>, StoreError> {
    let by_email = state.store.find_members(tenant, &MemberLookup::Email(email.to_owned())).await?;
    if by_email.len() == 1 {
        return Ok(by_email.into_iter().next());
    }
    Ok(state.store.find_members(tenant, &MemberLookup::UserName(email.to_owned())).await?.into_iter().next())
}

pub(super) async fn record_failure(
    state: &AppState,
    tenant: &TenantId,
    email: &str,
    ip: Option<IpAddr>,
    why: Refusal,
) -> Result<(), ApiError> {
    let email: String = email.chars().take(256).collect();
    let actor = Actor {
        kind: Some("anonymous".into()),
        email: Some(email.clone()),
        ip: ip.map(|i| i.to_string()),
        ..Actor::default()
    };
    let target = Target { kind: Some("member".into()), email: Some(email.clone()), ..Target::default() };
    let audit = event(
        "stele.viewer.sign_in_failed",
        Status::Failure,
        actor,
        target,
        format!("Failed sign-in as {email}"),
        Some(why.reason().to_owned()),
    );
    state.store.append(tenant, vec![audit], None).await?;
    Ok(())
}

/// `POST /logout`.
pub(crate) async fn logout(State(state): State<AppState>, request: Request) -> Result<Response, PageError> {
    let ip = client_ip(&request);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let form = read_form(&headers, body).await?;
    let secure = secure(&state, &headers);
    if let Some((tenant, token)) = session_cookie(&headers, LINK_COOKIE) {
        // An embed link's session: the cookie goes (the link itself was single-use).
        if !csrf_matches(token, form.get("csrf")) {
            return Ok(csrf_refused(&format!("/t/{tenant}/events")));
        }
        let cleared = set_cookie(LINK_COOKIE, "", 0, "Lax", secure);
        return Ok(with_cookie(see_other(&format!("{}&done=out", login_href(tenant.as_str()))), cleared));
    }
    let Some((tenant, token)) = session_cookie(&headers, SESSION_COOKIE) else { return Ok(see_other("/login")) };
    if !csrf_matches(token, form.get("csrf")) {
        return Ok(csrf_refused(&format!("/t/{tenant}/events")));
    }
    let hash = SecretHash::of(token);
    if let Some((session, member)) = state.store.session(&tenant, &hash, Timestamp::now()).await? {
        let who = member.email.clone().unwrap_or_else(|| member.user_name.clone());
        let audit = event(
            "stele.viewer.signed_out",
            Status::Success,
            member_actor(&member, ip),
            crate::routes::members::member_target(&member),
            format!("{who} signed out of the viewer"),
            None,
        );
        let change = RecordChange::DeleteSession { member: session.member, token_hash: hash };
        state.store.change(&tenant, change, vec![audit]).await?;
    }
    let cleared = set_cookie(SESSION_COOKIE, "", 0, "Lax", secure);
    let to = format!("{}&done=out", login_href(tenant.as_str()));
    Ok(with_cookie(see_other(&to), cleared))
}
