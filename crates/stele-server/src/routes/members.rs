//! `/v1/tenants/{tenant}/members` and `/v1/tenants/{tenant}/groups`: the tenant's directory
//! through the admin API (the SCIM endpoints manage the same records for an IdP).
//!
//! Only the operator or an unfiltered tenant key with the `admin` scope may manage a
//! directory: a directory change is tenant-wide, so a key whose view is narrower than the
//! tenant cannot make one. Every change is an event of the tenant's log (`stele.member.*`,
//! `stele.group.*`), stored in the same transaction; secrets never appear in it.
//!
//! A member made here gets a SCIM User document (`userName` = the email unless given,
//! `displayName`, one primary work email, `active`), so the SCIM endpoints serve it like one
//! an IdP made. Changes read the record, compute the new one and write it with the version
//! read; a concurrent change makes the write retry ([`MAX_ATTEMPTS`]).
//!
//! Creating a member also answers its one-time viewer `invite_url` (`viewer::session::invite`,
//! recorded as `stele.member.invited`); only the invite token's hash is stored.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stele_core::{Changes, FreeJson, NewEvent, Scope, Target, TenantId, Timestamp};
use stele_store::directory::{
    effective_role, Group, GroupId, GroupMember, GroupOrder, Listing, Member, MemberId, MemberOrder, RecordChange, Role,
};
use stele_store::StoreError;
use utoipa::ToSchema;

use crate::audit::{audit_event, By};
use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::query_params;
use crate::state::AppState;

/// How often a change is tried again when the record changed under it.
pub(crate) const MAX_ATTEMPTS: usize = 5;
/// Most members one tenant may have (bounds every listing and group).
pub const MAX_MEMBERS: u64 = 100_000;
/// Most groups one tenant may have.
pub const MAX_GROUPS: u64 = 10_000;

/// The tenant whose directory the caller manages.
pub(crate) fn directory_admin(principal: &Principal, tenant: &str) -> Result<TenantId, ApiError> {
    principal.require(Scope::Admin)?;
    let id = TenantId::parse(tenant).map_err(|_| ApiError::not_found(format!("tenant {tenant} does not exist")))?;
    match principal {
        Principal::Operator => Ok(id),
        Principal::Key(k) if k.tenant != id => {
            Err(ApiError::forbidden(format!("key {} manages only its own tenant's directory", k.id)))
        }
        Principal::Key(k) if k.view_filter.is_some() => Err(ApiError::forbidden(format!(
            "key {} has a view filter; only an unfiltered admin key manages the directory",
            k.id
        ))),
        Principal::Key(_) => Ok(id),
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::invalid_body(detail)
}

fn role_of(text: &str, field: &str) -> Result<Role, ApiError> {
    Role::parse(text).ok_or_else(|| invalid(format!("{field}: must be one of owner, admin, auditor, member")))
}

/// A short text field: 1-256 characters, no control or bidi-override characters.
pub(crate) fn check_name(value: &str, field: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > 256 {
        return Err(invalid(format!("{field}: must be 1-256 characters")));
    }
    stele_core::text::check_label(value).map_err(|e| invalid(format!("{field}: {e}")))
}

fn check_email(value: &str) -> Result<(), ApiError> {
    check_name(value, "email")?;
    let ok = value.split_once('@').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !value.contains(' '));
    if !ok {
        return Err(invalid("email: must be an address like ana@example.com"));
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Sign-in name; the email when absent. Unique in the tenant, case-insensitively.
    #[serde(default)]
    pub user_name: Option<String>,
    /// `owner`, `admin`, `auditor` or `member` (default).
    #[serde(default)]
    pub role: Option<String>,
}

/// What to change; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupRefDto {
    pub id: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub id: String,
    pub user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub active: bool,
    /// The member's own role.
    pub role: String,
    /// The role it acts with: the highest of its own and its groups' (only on single reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_role: Option<String>,
    /// Its groups (only on single reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupRefDto>>,
    pub version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Only when the member is created: the one-time URL (valid 7 days) at which the member
    /// sets a password for the viewer. Shown once; only its hash is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_url: Option<String>,
}

impl From<&Member> for MemberDto {
    fn from(m: &Member) -> Self {
        MemberDto {
            id: m.id.to_string(),
            user_name: m.user_name.clone(),
            email: m.email.clone(),
            display_name: m.display_name.clone(),
            external_id: m.external_id.clone(),
            active: m.active,
            role: m.role.as_str().into(),
            effective_role: None,
            groups: None,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            invite_url: None,
        }
    }
}

/// The public fields of a member, as `changes.before`/`after` record them.
pub(crate) fn member_state(m: &Member) -> FreeJson {
    FreeJson::from_value(&json!({"user_name": m.user_name, "email": m.email, "display_name": m.display_name,
           "external_id": m.external_id, "active": m.active, "role": m.role.as_str()}))
}

pub(crate) fn member_target(m: &Member) -> Target {
    Target {
        kind: Some("member".into()),
        id: Some(m.id.to_string()),
        name: m.display_name.clone().or_else(|| Some(m.user_name.clone())),
        email: m.email.clone(),
    }
}

/// The `stele.member.*` event of an admin change.
fn member_event(by: &By<'_>, action: &str, before: Option<&Member>, after: Option<&Member>) -> NewEvent {
    let subject = after.or(before).map(member_target).unwrap_or_default();
    let verb = action.rsplit('.').next().unwrap_or(action);
    let who = subject.email.clone().or(subject.name.clone()).unwrap_or_default();
    let mut audit = by.event(action, subject, format!("Member {who} {verb}"));
    audit.event.changes = Some(Changes { before: before.map(member_state), after: after.map(member_state) });
    NewEvent::new(audit.event)
}

/// Create a member (its SCIM User document is made from the fields).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/members", tag = "directory", request_body = CreateMember,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 201, body = MemberDto), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MemberDto>), ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: CreateMember = json_body(&headers, body).await?;
    let (member, invite_url) = create_member_in(&state, &headers, &By::Api(&principal), &tenant, input).await?;
    Ok((StatusCode::CREATED, Json(MemberDto { invite_url, ..MemberDto::from(&member) })))
}

/// Creates a member of `tenant` made by `by` (the API and the viewer's members page) with its
/// `stele.member.created` event, then its invite (`stele.member.invited`): answers the member
/// and its one-time invite URL (`None` if storing the invite failed; the member exists).
pub(crate) async fn create_member_in(
    state: &AppState,
    headers: &HeaderMap,
    by: &By<'_>,
    tenant: &TenantId,
    input: CreateMember,
) -> Result<(Member, Option<String>), ApiError> {
    check_email(&input.email)?;
    let user_name = input.user_name.unwrap_or_else(|| input.email.clone());
    check_name(&user_name, "user_name")?;
    if let Some(name) = &input.name {
        check_name(name, "name")?;
    }
    let role = input.role.as_deref().map(|r| role_of(r, "role")).transpose()?.unwrap_or(Role::Member);
    if state.store.count_members(tenant).await? >= MAX_MEMBERS {
        return Err(ApiError::conflict(format!("the tenant already has {MAX_MEMBERS} members, the most it may have")));
    }
    let mut resource = json!({
        "userName": user_name,
        "emails": [{"value": input.email, "type": "work", "primary": true}],
        "active": true,
    });
    if let Some(name) = &input.name {
        resource["displayName"] = json!(name);
        resource["name"] = json!({"formatted": name});
    }
    let now = Timestamp::now();
    let member = Member {
        id: MemberId::generate(),
        user_name,
        external_id: None,
        display_name: input.name,
        email: Some(input.email),
        active: true,
        role,
        resource: resource.to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let audit = member_event(by, "stele.member.created", None, Some(&member));
    let change = RecordChange::PutMember { member: member.clone(), previous: None };
    state.store.change(tenant, change, vec![audit]).await.map_err(user_name_taken)?;
    // The invite is a second write: if it fails, the member still exists (answered without
    // `invite_url`) and `POST …/members/{id}/invite` makes one.
    let invite_url = match crate::viewer::invite::invite(state, headers, tenant, &member, by).await {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::error!(member = %member.id, detail = %e.detail, "storing a new member's invite failed");
            None
        }
    };
    Ok((member, invite_url))
}

fn user_name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(field) if field == "userName" => {
            ApiError::conflict("user_name: another member of this tenant has it (compared case-insensitively)")
        }
        other => other.into(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub members: Vec<MemberDto>,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total: u64,
}

/// The opaque cursor of a listing: the last record's order key and id.
fn encode_cursor(after: &stele_store::directory::ListAfter) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\u{0}{}", after.key, after.id))
}

fn decode_cursor(text: &str) -> Result<stele_store::directory::ListAfter, ApiError> {
    use base64::Engine;
    let bad = || ApiError::invalid_parameter("cursor", "not a cursor this listing returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (key, id) = text.split_once('\u{0}').ok_or_else(bad)?;
    Ok(stele_store::directory::ListAfter { key: key.into(), id: id.into() })
}

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(100) {
        n @ 1..=1000 => Ok(n),
        _ => Err(ApiError::invalid_parameter("limit", "must be 1-1000")),
    }
}

/// List members by user name.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/members", tag = "directory", params(("tenant" = String, Path, description = "tenant id"), ListParams),
    responses((status = 200, body = MemberPage), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    uri: Uri,
) -> Result<Json<MemberPage>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let params: ListParams = query_params(&uri)?;
    let limit = page_limit(params.limit)?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let listing = Listing { order: MemberOrder::UserName, descending: false, after, limit: limit + 1 };
    let mut members = state.store.list_members(&tenant, &listing).await?;
    let more = members.len() > limit as usize;
    members.truncate(limit as usize);
    let next = members
        .last()
        .filter(|_| more)
        .map(|m| encode_cursor(&stele_store::directory::member_key(m, MemberOrder::UserName)));
    let total = state.store.count_members(&tenant).await?;
    Ok(Json(MemberPage { members: members.iter().map(MemberDto::from).collect(), next, total }))
}

fn member_id(text: &str) -> Result<MemberId, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(format!("member {text} does not exist")))
}

async fn member_or_404(state: &AppState, tenant: &TenantId, id: &MemberId) -> Result<Member, ApiError> {
    state.store.get_member(tenant, id).await?.ok_or_else(|| ApiError::not_found(format!("member {id} does not exist")))
}

/// One member, with its groups and effective role.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteDto {
    /// The one-time URL (valid 7 days) at which the member sets a new password. Any earlier
    /// invite of the member stops working; its current password works until this one is used.
    pub invite_url: String,
}

/// A new viewer invite for a member (a lost password, an expired invite). Recorded as
/// `stele.member.invited`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/members/{id}/invite", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "member id")),
    responses((status = 201, body = InviteDto), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem),
        (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn invite_member(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<InviteDto>), ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let invite_url = invite_member_in(&state, &headers, &By::Api(&principal), &tenant, &id).await?;
    Ok((StatusCode::CREATED, Json(InviteDto { invite_url })))
}

/// A new invite of member `id` of `tenant` by `by` (the API and the viewer's members page).
pub(crate) async fn invite_member_in(
    state: &AppState,
    headers: &HeaderMap,
    by: &By<'_>,
    tenant: &TenantId,
    id: &str,
) -> Result<String, ApiError> {
    let member = member_or_404(state, tenant, &member_id(id)?).await?;
    if !member.active {
        return Err(ApiError::conflict(format!("member {id} is deactivated; activate it before inviting it")));
    }
    crate::viewer::invite::invite(state, headers, tenant, &member, by).await
}

#[utoipa::path(get, path = "/v1/tenants/{tenant}/members/{id}", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "member id")),
    responses((status = 200, body = MemberDto), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn get_member(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<MemberDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let member = member_or_404(&state, &tenant, &member_id(&id)?).await?;
    let groups = state.store.member_groups(&tenant, &member.id).await?;
    let mut dto = MemberDto::from(&member);
    dto.effective_role = Some(effective_role(&member, &groups).as_str().into());
    dto.groups = Some(
        groups
            .into_iter()
            .map(|g| GroupRefDto {
                id: g.id.to_string(),
                display_name: g.display_name,
                role: g.role.map(|r| r.as_str().into()),
            })
            .collect(),
    );
    Ok(Json(dto))
}

/// Change a member's role, active flag or display name.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/members/{id}", tag = "directory", request_body = UpdateMember,
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "member id")),
    responses((status = 200, body = MemberDto), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn update_member(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MemberDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: UpdateMember = json_body(&headers, body).await?;
    let after = update_member_in(&state, &By::Api(&principal), &tenant, &id, input).await?;
    Ok(Json(MemberDto::from(&after)))
}

/// Changes member `id` of `tenant` (role, active flag, display name) by `by` (the API and
/// the viewer's members page) with its `stele.member.updated` event; answers the member.
pub(crate) async fn update_member_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    id: &str,
    input: UpdateMember,
) -> Result<Member, ApiError> {
    let id = member_id(id)?;
    if input.role.is_none() && input.active.is_none() && input.name.is_none() {
        return Err(invalid("name at least one of role, active, name"));
    }
    let role = input.role.as_deref().map(|r| role_of(r, "role")).transpose()?;
    if let Some(name) = &input.name {
        check_name(name, "name")?;
    }
    for _ in 0..MAX_ATTEMPTS {
        let before = member_or_404(state, tenant, &id).await?;
        let mut after = before.clone();
        let mut resource: Value = serde_json::from_str(&before.resource).unwrap_or_else(|_| json!({}));
        if let Some(role) = role {
            after.role = role;
        }
        if let Some(active) = input.active {
            after.active = active;
            resource["active"] = json!(active);
        }
        if let Some(name) = &input.name {
            after.display_name = Some(name.clone());
            resource["displayName"] = json!(name);
        }
        after.resource = resource.to_string();
        after.version = before.version + 1;
        after.updated_at = Timestamp::now();
        let audit = member_event(by, "stele.member.updated", Some(&before), Some(&after));
        let change = RecordChange::PutMember { member: after.clone(), previous: Some(before.version) };
        match state.store.change(tenant, change, vec![audit]).await {
            Ok(()) => return Ok(after),
            Err(StoreError::VersionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict("the member kept changing meanwhile; retry"))
}

/// Delete a member (it leaves every group).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/members/{id}", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "member id")),
    responses((status = 204), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn delete_member(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let id = member_id(&id)?;
    for _ in 0..MAX_ATTEMPTS {
        let before = member_or_404(&state, &tenant, &id).await?;
        let audit = member_event(&By::Api(&principal), "stele.member.deleted", Some(&before), None);
        let change = RecordChange::DeleteMember { id, previous: before.version };
        match state.store.change(&tenant, change, vec![audit]).await {
            Ok(()) => return Ok(StatusCode::NO_CONTENT),
            Err(StoreError::VersionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict("the member kept changing meanwhile; retry"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub display_name: String,
    /// The role the group gives its members (`owner`, `admin`, `auditor`, `member`).
    #[serde(default)]
    pub role: Option<String>,
    /// Member ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// What to change; absent fields stay. `role: null` removes the group's role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub role: Option<Option<String>>,
    /// The complete new member set.
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMemberDto {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDto {
    pub id: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub members: Vec<GroupMemberDto>,
    pub version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Group> for GroupDto {
    fn from(g: &Group) -> Self {
        GroupDto {
            id: g.id.to_string(),
            display_name: g.display_name.clone(),
            external_id: g.external_id.clone(),
            role: g.role.map(|r| r.as_str().into()),
            members: g
                .members
                .iter()
                .map(|m| GroupMemberDto { id: m.id.to_string(), display: m.display.clone() })
                .collect(),
            version: g.version,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

pub(crate) fn group_state(g: &Group) -> FreeJson {
    FreeJson::from_value(&json!({"display_name": g.display_name, "role": g.role.map(Role::as_str),
           "members": g.members.iter().map(|m| m.id.to_string()).collect::<Vec<_>>()}))
}

pub(crate) fn group_target(g: &Group) -> Target {
    Target { kind: Some("group".into()), id: Some(g.id.to_string()), name: Some(g.display_name.clone()), email: None }
}

fn group_event(principal: &Principal, action: &str, before: Option<&Group>, after: Option<&Group>) -> NewEvent {
    let subject = after.or(before).map(group_target).unwrap_or_default();
    let verb = action.rsplit('.').next().unwrap_or(action);
    let name = subject.name.clone().unwrap_or_default();
    let mut audit = audit_event(principal, action, subject, format!("Group {name} {verb}"));
    audit.event.changes = Some(Changes { before: before.map(group_state), after: after.map(group_state) });
    NewEvent::new(audit.event)
}

fn member_ids(ids: &[String]) -> Result<Vec<GroupMember>, ApiError> {
    if ids.len() as u64 > MAX_MEMBERS {
        return Err(invalid(format!("members: at most {MAX_MEMBERS}")));
    }
    let mut out: Vec<GroupMember> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let id: MemberId = id.parse().map_err(|_| invalid(format!("members[{i}]: not a member id")))?;
        if !out.iter().any(|m| m.id == id) {
            out.push(GroupMember { id, display: None });
        }
    }
    Ok(out)
}

fn group_store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::UnknownMember(id) => invalid(format!("members: member {id} does not exist in this tenant")),
        other => other.into(),
    }
}

/// Create a group.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/groups", tag = "directory", request_body = CreateGroup,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 201, body = GroupDto), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_group(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<GroupDto>), ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: CreateGroup = json_body(&headers, body).await?;
    check_name(&input.display_name, "display_name")?;
    let role = input.role.as_deref().map(|r| role_of(r, "role")).transpose()?;
    let members = member_ids(&input.members)?;
    if state.store.count_groups(&tenant).await? >= MAX_GROUPS {
        return Err(ApiError::conflict(format!("the tenant already has {MAX_GROUPS} groups, the most it may have")));
    }
    let now = Timestamp::now();
    let group = Group {
        id: GroupId::generate(),
        display_name: input.display_name.clone(),
        external_id: None,
        role,
        resource: json!({"displayName": input.display_name}).to_string(),
        members,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let audit = group_event(&principal, "stele.group.created", None, Some(&group));
    let change = RecordChange::PutGroup { group: group.clone(), previous: None };
    state.store.change(&tenant, change, vec![audit]).await.map_err(group_store_error)?;
    let stored = state.store.get_group(&tenant, &group.id).await?.unwrap_or(group);
    Ok((StatusCode::CREATED, Json(GroupDto::from(&stored))))
}

/// List groups by display name (with their members).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/groups", tag = "directory", params(("tenant" = String, Path, description = "tenant id"), ListParams),
    responses((status = 200, body = Vec<GroupDto>), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_groups(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    uri: Uri,
) -> Result<Json<Vec<GroupDto>>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let params: ListParams = query_params(&uri)?;
    let limit = page_limit(params.limit)?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let listing = Listing { order: GroupOrder::DisplayName, descending: false, after, limit };
    let groups = state.store.list_groups(&tenant, &listing, true).await?;
    Ok(Json(groups.iter().map(GroupDto::from).collect()))
}

fn group_id(text: &str) -> Result<GroupId, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(format!("group {text} does not exist")))
}

async fn group_or_404(state: &AppState, tenant: &TenantId, id: &GroupId) -> Result<Group, ApiError> {
    state.store.get_group(tenant, id).await?.ok_or_else(|| ApiError::not_found(format!("group {id} does not exist")))
}

/// One group with its members.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/groups/{id}", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "group id")),
    responses((status = 200, body = GroupDto), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn get_group(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<GroupDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    Ok(Json(GroupDto::from(&group_or_404(&state, &tenant, &group_id(&id)?).await?)))
}

/// Change a group's name, role (the group → role mapping) or member set.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/groups/{id}", tag = "directory", request_body = UpdateGroup,
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "group id")),
    responses((status = 200, body = GroupDto), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn update_group(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<GroupDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let id = group_id(&id)?;
    let input: UpdateGroup = json_body(&headers, body).await?;
    if input.display_name.is_none() && input.role.is_none() && input.members.is_none() {
        return Err(invalid("name at least one of display_name, role, members"));
    }
    if let Some(name) = &input.display_name {
        check_name(name, "display_name")?;
    }
    let role = match &input.role {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => Some(Some(role_of(r, "role")?)),
    };
    let members = input.members.as_deref().map(member_ids).transpose()?;
    for _ in 0..MAX_ATTEMPTS {
        let before = group_or_404(&state, &tenant, &id).await?;
        let mut after = before.clone();
        if let Some(name) = &input.display_name {
            after.display_name = name.clone();
            let mut resource: Value = serde_json::from_str(&before.resource).unwrap_or_else(|_| json!({}));
            resource["displayName"] = json!(name);
            after.resource = resource.to_string();
        }
        if let Some(role) = role {
            after.role = role;
        }
        if let Some(members) = &members {
            after.members = members.clone();
        }
        after.version = before.version + 1;
        after.updated_at = Timestamp::now();
        let audit = group_event(&principal, "stele.group.updated", Some(&before), Some(&after));
        let change = RecordChange::PutGroup { group: after.clone(), previous: Some(before.version) };
        match state.store.change(&tenant, change, vec![audit]).await {
            Ok(()) => return Ok(Json(GroupDto::from(&group_or_404(&state, &tenant, &id).await?))),
            Err(StoreError::VersionMismatch { .. }) => continue,
            Err(e) => return Err(group_store_error(e)),
        }
    }
    Err(ApiError::conflict("the group kept changing meanwhile; retry"))
}

/// Delete a group (its members stay).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/groups/{id}", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "group id")),
    responses((status = 204), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn delete_group(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let id = group_id(&id)?;
    for _ in 0..MAX_ATTEMPTS {
        let before = group_or_404(&state, &tenant, &id).await?;
        let audit = group_event(&principal, "stele.group.deleted", Some(&before), None);
        let change = RecordChange::DeleteGroup { id, previous: before.version };
        match state.store.change(&tenant, change, vec![audit]).await {
            Ok(()) => return Ok(StatusCode::NO_CONTENT),
            Err(StoreError::VersionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict("the group kept changing meanwhile; retry"))
}
