//! Single sign-on to the viewer through the tenant's OpenID Connect provider (issue #12):
//! the Authorization Code flow with PKCE, `state` and `nonce`, by the `openidconnect` crate.
//!
//! - `GET /oidc/{tenant}/start` discovers the provider (`<issuer>/.well-known/openid-configuration`
//!   and its JWKS), makes a PKCE verifier, a `state` and a `nonce`, keeps them in the
//!   `stele_oidc` cookie — sealed with the deployment secret key (XChaCha20-Poly1305, bound to
//!   the tenant), `HttpOnly`, `SameSite=Lax`, path `/oidc/`, 10 minutes — and redirects to the
//!   provider.
//! - `GET /oidc/{tenant}/callback?code=&state=` opens the cookie, compares `state` in constant
//!   time, exchanges the code (client secret + PKCE verifier), verifies the ID token (signature
//!   against the provider's JWKS, `iss`, `aud`, `exp`, `nonce`) and matches a member of the
//!   tenant: by the token's `email` (unless `email_verified` is false), else its
//!   `preferred_username`, against the members' email, then userName. A member that exists
//!   and is active gets a session exactly as a password sign-in does. An identity that
//!   matches no member, or a deactivated member, is refused (403) and logged as
//!   `stele.viewer.sign_in_failed`.
//!
//! The provider's HTTP requests follow no redirects (SSRF) and time out after 10 s; an issuer
//! must be `https` unless `[viewer] oidc_allow_http` is set (tests, a lab).

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use stele_core::{TenantId, Timestamp};
use stele_store::sessions::OidcProvider;
use subtle::ConstantTimeEq;

use super::session::{
    client_ip, find_member, over_ip_budget, record_failure, secure, see_other, set_cookie, start_session, with_cookie,
    Refusal,
};
use super::{error_page, PageError};
use crate::error::ApiError;
use crate::state::AppState;

const FLOW_COOKIE: &str = "stele_oidc";

/// A client made from discovery: authorization endpoint set, token and userinfo endpoints
/// as the provider's metadata has them.
type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;
/// How long a started sign-in may take at the provider.
const FLOW_SECONDS: i64 = 600;

/// The HTTP client for providers: no redirects (SSRF), bounded time.
static HTTP: LazyLock<Result<openidconnect::reqwest::Client, String>> = LazyLock::new(|| {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())
});

fn http() -> Result<&'static openidconnect::reqwest::Client, ApiError> {
    HTTP.as_ref().map_err(|e| {
        tracing::error!(error = %e, "the OpenID Connect HTTP client cannot be built");
        ApiError::internal()
    })
}

/// Why a provider cannot be used (shown to the admin who configures it; never secrets).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    #[error("issuer must be an absolute https URL without query or fragment")]
    BadIssuer,
    #[error("the provider's discovery document or keys cannot be read: {0}")]
    Discovery(String),
}

/// Checks an issuer URL's form: `https` (or `http` when allowed), no query or fragment.
pub(crate) fn check_issuer(issuer: &str, allow_http: bool) -> Result<IssuerUrl, ProviderError> {
    let url = IssuerUrl::new(issuer.to_owned()).map_err(|_| ProviderError::BadIssuer)?;
    let parsed = url.url();
    let scheme_ok = parsed.scheme() == "https" || (allow_http && parsed.scheme() == "http");
    if !scheme_ok || parsed.query().is_some() || parsed.fragment().is_some() || parsed.host().is_none() {
        return Err(ProviderError::BadIssuer);
    }
    Ok(url)
}

/// The provider's metadata and keys (discovery).
pub(crate) async fn discover(issuer: IssuerUrl) -> Result<CoreProviderMetadata, ProviderError> {
    let http = http().map_err(|_| ProviderError::Discovery("no HTTP client".into()))?;
    CoreProviderMetadata::discover_async(issuer, http).await.map_err(|e| {
        tracing::warn!(error = %error_chain(&e), "OpenID Connect discovery failed");
        // What the admin is told names the kind of failure, not the server's network view
        // (which would make the check a probe of internal addresses).
        use openidconnect::DiscoveryError as D;
        ProviderError::Discovery(match e {
            D::Request(_) => "the issuer cannot be reached".into(),
            D::Response(status, _, _) => format!("the issuer answered HTTP {}", status.as_u16()),
            D::Parse(_) => "the answer is not a discovery document or key set".into(),
            D::Validation(_) => "the discovery document names another issuer".into(),
            _ => "the discovery document cannot be used".into(),
        })
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(300).collect()
}

/// Where the provider sends the browser back.
pub(crate) fn redirect_uri(state: &AppState, headers: &HeaderMap, tenant: &TenantId) -> String {
    let base = crate::public_url::base(state, headers);
    format!("{base}/oidc/{tenant}/callback")
}

/// The context a tenant's sealed client secret is bound to.
pub(crate) fn secret_context(tenant: &TenantId) -> Vec<u8> {
    format!("oidc-client-secret:{tenant}").into_bytes()
}

fn flow_context(tenant: &TenantId) -> Vec<u8> {
    format!("oidc-flow:{tenant}").into_bytes()
}

/// What the flow cookie keeps between start and callback.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    expires: i64,
}

fn unavailable(detail: &str) -> Response {
    error_page(StatusCode::SERVICE_UNAVAILABLE, "Single sign-on is unavailable", detail, "/login")
}

async fn client_of(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &TenantId,
) -> Result<Result<(OidcProvider, Client), Response>, PageError> {
    let not_set =
        || error_page(StatusCode::NOT_FOUND, "No single sign-on", "This tenant has no sign-in provider.", "/login");
    let Some(provider) = state.store.oidc_provider(tenant).await? else { return Ok(Err(not_set())) };
    let secret = match state.secrets.open(&secret_context(tenant), &provider.client_secret_sealed) {
        Ok(s) => String::from_utf8(s).map_err(|_| ApiError::internal())?,
        Err(e) => {
            tracing::error!(tenant = %tenant, error = %e, "the tenant's OpenID Connect client secret cannot be opened");
            return Ok(Err(unavailable("The provider's settings cannot be read. Ask your administrator.")));
        }
    };
    let issuer = match check_issuer(&provider.issuer, state.viewer.settings.oidc_allow_http) {
        Ok(i) => i,
        Err(e) => return Ok(Err(unavailable(&e.to_string()))),
    };
    let metadata = match discover(issuer).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "OpenID Connect discovery failed");
            return Ok(Err(unavailable("The sign-in provider cannot be reached. Try again later.")));
        }
    };
    let redirect = RedirectUrl::new(redirect_uri(state, headers, tenant)).map_err(|_| ApiError::internal())?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect);
    Ok(Ok((provider, client)))
}

/// `GET /oidc/{tenant}/start`.
pub(crate) async fn start(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    // Each start asks the provider for its discovery document: a sign-in attempt.
    if let Some(page) = over_ip_budget(&state, client_ip(&request)) {
        return Ok(page);
    }
    let headers = request.headers().clone();
    let Ok(tenant) = TenantId::parse(&tenant) else {
        return Ok(error_page(StatusCode::NOT_FOUND, "No such tenant", "There is no such tenant.", "/login"));
    };
    let client = match client_of(&state, &headers, &tenant).await? {
        Ok((_, c)) => c,
        Err(page) => return Ok(page),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let flow = Flow {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        expires: Timestamp::now().as_micros() / 1_000_000 + FLOW_SECONDS,
    };
    let plain = serde_json::to_vec(&flow).map_err(|_| ApiError::internal())?;
    let sealed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.secrets.seal(&flow_context(&tenant), &plain));
    let cookie = flow_cookie(&state, &headers, &sealed, FLOW_SECONDS);
    Ok(with_cookie(see_other(url.as_str()), cookie))
}

fn flow_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: i64) -> Option<HeaderValue> {
    // Path /oidc/: only the callback needs it. SameSite=Lax: the provider's redirect back is
    // a top-level GET, which carries Lax cookies.
    set_cookie(FLOW_COOKIE, value, max_age, "Lax", secure(state, headers))
        .and_then(|v| HeaderValue::from_str(&v.to_str().ok()?.replace("Path=/;", "Path=/oidc/;")).ok())
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn refused(title: &str, detail: &str, tenant: &TenantId) -> Response {
    error_page(StatusCode::FORBIDDEN, title, detail, &super::session::login_href(tenant.as_str()))
}

/// `GET /oidc/{tenant}/callback`.
pub(crate) async fn callback(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let ip = client_ip(&request);
    if let Some(page) = over_ip_budget(&state, ip) {
        return Ok(page);
    }
    let headers = request.headers().clone();
    let Ok(tenant) = TenantId::parse(&tenant) else {
        return Ok(error_page(StatusCode::NOT_FOUND, "No such tenant", "There is no such tenant.", "/login"));
    };
    let params: Callback =
        crate::routes::query_params(request.uri()).map_err(|e| PageError::Api(e, "/login".into()))?;
    // The flow cookie is used once, whatever happens next.
    let cleared = flow_cookie(&state, &headers, "", 0);
    let answer = |page: Response| with_cookie(page, cleared.clone());
    let again = "Start again from the sign-in page.";
    let flow = super::session::cookie(&headers, FLOW_COOKIE)
        .and_then(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|sealed| state.secrets.open(&flow_context(&tenant), &sealed).ok())
        .and_then(|plain| serde_json::from_slice::<Flow>(&plain).ok())
        .filter(|f| f.expires > Timestamp::now().as_micros() / 1_000_000);
    let Some(flow) = flow else {
        return Ok(answer(refused(
            "Sign-in expired",
            &format!("This sign-in was not started here or took too long. {again}"),
            &tenant,
        )));
    };
    let state_ok = params.state.as_deref().is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    if !state_ok {
        return Ok(answer(refused(
            "Sign-in refused",
            &format!("The answer does not belong to this sign-in. {again}"),
            &tenant,
        )));
    }
    if let Some(error) = params.error {
        let error: String = error.chars().take(100).collect();
        return Ok(answer(refused(
            "Sign-in refused",
            &format!("The provider refused the sign-in ({error}). {again}"),
            &tenant,
        )));
    }
    let Some(code) = params.code else {
        return Ok(answer(refused("Sign-in refused", &format!("The provider sent no code. {again}"), &tenant)));
    };
    let (provider, client) = match client_of(&state, &headers, &tenant).await? {
        Ok(c) => c,
        Err(page) => return Ok(answer(page)),
    };
    let exchanged = match client.exchange_code(AuthorizationCode::new(code)) {
        Ok(request) => request.set_pkce_verifier(PkceCodeVerifier::new(flow.verifier)).request_async(http()?).await,
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "the OpenID Connect provider has no token endpoint");
            return Ok(answer(unavailable("The sign-in provider has no token endpoint.")));
        }
    };
    let tokens = match exchanged {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %error_chain(&e), "OpenID Connect code exchange failed");
            return Ok(answer(refused(
                "Sign-in refused",
                &format!("The provider did not confirm the sign-in. {again}"),
                &tenant,
            )));
        }
    };
    let verifier = client.id_token_verifier();
    let claims = match tokens.id_token().map(|t| t.claims(&verifier, &Nonce::new(flow.nonce.clone()))) {
        Some(Ok(c)) => c.clone(),
        other => {
            let why = match other {
                Some(Err(e)) => error_chain(&e),
                _ => "no ID token".to_owned(),
            };
            tracing::warn!(tenant = %tenant, error = %why, "an OpenID Connect ID token was refused");
            return Ok(answer(refused(
                "Sign-in refused",
                &format!("The provider's ID token is not valid. {again}"),
                &tenant,
            )));
        }
    };
    // The identity: a verified email, else the preferred user name.
    let email = claims.email().filter(|_| claims.email_verified() != Some(false)).map(|e| e.as_str().to_owned());
    let username = claims.preferred_username().map(|u| u.as_str().to_owned());
    let mut member = None;
    let mut shown = String::new();
    for identity in [email, username].into_iter().flatten() {
        if shown.is_empty() {
            shown = identity.clone();
        }
        if let Some(m) = find_member(&state, &tenant, &identity).await? {
            member = Some(m);
            break;
        }
    }
    if shown.is_empty() {
        shown = claims.subject().as_str().to_owned();
    }
    let Some(member) = member else {
        record_failure(&state, &tenant, &shown, ip, Refusal::UnknownIdentity).await?;
        let detail = format!("No member of this tenant is {shown}. Ask your administrator to add you.");
        return Ok(answer(refused("Not a member", &detail, &tenant)));
    };
    if !member.active {
        record_failure(&state, &tenant, &shown, ip, Refusal::Deactivated).await?;
        return Ok(answer(refused("Account deactivated", "Your account in this tenant is deactivated.", &tenant)));
    }
    let how = format!("through {}", provider.name);
    match start_session(&state, &headers, &tenant, member, ip, &how).await? {
        Some(page) => Ok(answer(page)),
        None => {
            record_failure(&state, &tenant, &shown, ip, Refusal::Deactivated).await?;
            Ok(answer(refused("Account deactivated", "Your account in this tenant is deactivated.", &tenant)))
        }
    }
}
