//! `/Users`: members as SCIM User resources. A member's stored document is the canonical
//! document `stele-scim` makes; the indexed columns come from it; `groups` is derived.
//! Members made through SCIM get the `member` role (groups may raise it).

use serde_json::Value;
use stele_core::{Target, Timestamp};
use stele_scim::{
    apply_patch, normalize, project, render_user, user_fields, GroupRef, IfMatch, ListParams, Lookup, Meta,
    ResourceKind, ScimError,
};
use stele_store::directory::{Listing, Member, MemberId, MemberLookup, MemberOrder, RecordChange, Role};
use stele_store::StoreError;

use super::{store_error, Ctx, Failure, Reply, Req, MAX_ATTEMPTS};
use crate::routes::members::MAX_MEMBERS;

/// Records read per page while scanning.
const SCAN_PAGE: u32 = 500;

pub(crate) fn target(m: &Member) -> Target {
    Target {
        kind: Some("User".into()),
        id: Some(m.id.to_string()),
        name: Some(m.user_name.clone()),
        email: m.email.clone(),
    }
}

fn meta(ctx: &Ctx, m: &Member) -> Meta {
    Meta {
        id: m.id.to_string(),
        created: m.created_at,
        last_modified: m.updated_at,
        version: m.version,
        location: ctx.location(ResourceKind::User, &m.id.to_string()),
    }
}

fn doc(m: &Member) -> Value {
    serde_json::from_str(&m.resource).unwrap_or_else(|_| serde_json::json!({"userName": m.user_name}))
}

/// The full resource, with its groups.
async fn render(ctx: &Ctx, m: &Member) -> Result<Value, ScimError> {
    let groups = ctx.state.store.member_groups(&ctx.conn.tenant, &m.id).await.map_err(store_error)?;
    let refs: Vec<GroupRef> = groups
        .iter()
        .map(|g| GroupRef {
            value: g.id.to_string(),
            display: Some(g.display_name.clone()),
            location: Some(ctx.location(ResourceKind::Group, &g.id.to_string())),
        })
        .collect();
    Ok(render_user(&doc(m), &meta(ctx, m), &refs))
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no User {id}"))
}

async fn find(ctx: &Ctx, id: &str) -> Result<Member, ScimError> {
    let Ok(member_id) = id.parse::<MemberId>() else { return Err(not_found(id)) };
    ctx.state.store.get_member(&ctx.conn.tenant, &member_id).await.map_err(store_error)?.ok_or_else(|| not_found(id))
}

/// The members a filter can match: those of an indexed equality, else all (scanned).
async fn candidates(ctx: &Ctx, params: &ListParams) -> Result<Vec<Member>, ScimError> {
    let store = &ctx.state.store;
    let tenant = &ctx.conn.tenant;
    let lookup = params.filter.as_ref().and_then(|f| f.lookup());
    let found = match lookup {
        Some(Lookup::UserName(v)) => store.find_members(tenant, &MemberLookup::UserName(v)).await,
        Some(Lookup::ExternalId(v)) => store.find_members(tenant, &MemberLookup::ExternalId(v)).await,
        Some(Lookup::Id(v)) => match v.parse::<MemberId>() {
            Ok(id) => store.get_member(tenant, &id).await.map(|m| m.into_iter().collect()),
            Err(_) => Ok(Vec::new()),
        },
        Some(Lookup::DisplayName(_)) | None => {
            let key = |m: &Member| stele_store::directory::member_key(m, MemberOrder::Id);
            return super::scan_all(MAX_MEMBERS, SCAN_PAGE, key, |after| async move {
                let listing = Listing { order: MemberOrder::Id, descending: false, after, limit: SCAN_PAGE };
                store.list_members(tenant, &listing).await
            })
            .await;
        }
    };
    found.map_err(store_error)
}

/// The resources (without `groups`: filtering on groups is not offered) a list request
/// matches, sorted as asked.
pub(crate) async fn matching(ctx: &Ctx, params: &ListParams) -> Result<Vec<Value>, Failure> {
    let mut matched = Vec::new();
    for m in candidates(ctx, params).await? {
        let resource = render_user(&doc(&m), &meta(ctx, &m), &[]);
        if params.filter.as_ref().is_none_or(|f| f.matches(&resource)) {
            matched.push(resource);
        }
    }
    if let Some(path) = &params.sort_by {
        stele_scim::list::sort_resources(&mut matched, path, params.sort_order);
    }
    Ok(matched)
}

/// A matched resource as a page shows it: read again with its groups, then projected.
pub(crate) async fn page_item(ctx: &Ctx, resource: &Value, params: &ListParams) -> Result<Value, Failure> {
    let id = resource["id"].as_str().unwrap_or_default();
    let full = render(ctx, &find(ctx, id).await?).await?;
    Ok(project(&full, ResourceKind::User, &params.attributes, &params.excluded_attributes))
}

pub(crate) async fn get(ctx: &Ctx, req: &Req, id: &str) -> Result<Reply, Failure> {
    let m = find(ctx, id).await?;
    let full = render(ctx, &m).await?;
    let names = |p: &str| -> Vec<String> {
        req.param(p)
            .map(|l| l.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    };
    let body = project(&full, ResourceKind::User, &names("attributes"), &names("excludedAttributes"));
    Ok(Reply { version: Some(m.version), target: Some(target(&m)), ..Reply::ok(200, body) })
}

fn member_from(id: MemberId, document: &Value, role: Role, version: u64, created: Timestamp) -> Member {
    let f = user_fields(document);
    Member {
        id,
        user_name: f.user_name,
        external_id: f.external_id,
        display_name: f.display_name,
        email: f.primary_email,
        active: f.active,
        role,
        resource: document.to_string(),
        version,
        created_at: created,
        updated_at: Timestamp::now(),
    }
}

fn taken(e: StoreError, m: &Member) -> Failure {
    let error = match e {
        StoreError::Conflict(field) if field == "userName" => {
            ScimError::uniqueness(format!("userName {:?} is already taken in this tenant", m.user_name))
        }
        other => store_error(other),
    };
    Failure::from(error).about(target(m))
}

pub(crate) async fn create(ctx: &Ctx, req: &Req, body: Option<&Value>) -> Result<Reply, Failure> {
    let body = body.ok_or_else(|| ScimError::invalid_syntax("a User body is required"))?;
    let document = normalize(ResourceKind::User, body)?;
    let now = Timestamp::now();
    let m = member_from(MemberId::generate(), &document, Role::Member, 1, now);
    if ctx.state.store.count_members(&ctx.conn.tenant).await.map_err(store_error)? >= MAX_MEMBERS {
        let e =
            ScimError::new(409, None, format!("the tenant already has {MAX_MEMBERS} members, the most it may have"));
        return Err(Failure::from(e).about(target(&m)));
    }
    let resource = render_user(&document, &meta(ctx, &m), &[]);
    let reply = Reply {
        version: Some(1),
        location: Some(ctx.location(ResourceKind::User, &m.id.to_string())),
        target: Some(target(&m)),
        message: Some(format!("Created user {}", m.user_name)),
        ..Reply::ok(201, resource)
    };
    ctx.commit(req, RecordChange::PutMember { member: m.clone(), previous: None }, reply)
        .await
        .map_err(|e| taken(e, &m))
}

/// PUT (replace) or PATCH; without `If-Match`, a concurrent change makes it start over.
pub(crate) async fn update(
    ctx: &Ctx,
    req: &Req,
    id: &str,
    body: Option<&Value>,
    condition: Option<IfMatch>,
) -> Result<Reply, Failure> {
    let body = body.ok_or_else(|| ScimError::invalid_syntax("a request body is required"))?;
    for _ in 0..MAX_ATTEMPTS {
        let before = find(ctx, id).await?;
        if let Some(c) = &condition {
            c.check(before.version).map_err(|e| Failure::from(e).about(target(&before)))?;
        }
        let document = if req.method.eq_ignore_ascii_case("PATCH") {
            let mut document = doc(&before);
            let effect = apply_patch(&mut document, ResourceKind::User, body)
                .map_err(|e| Failure::from(e).about(target(&before)))?;
            if !effect.changed {
                let full = render(ctx, &before).await?;
                return Ok(Reply {
                    version: Some(before.version),
                    target: Some(target(&before)),
                    ..Reply::ok(200, full)
                });
            }
            document
        } else {
            normalize(ResourceKind::User, body).map_err(|e| Failure::from(e).about(target(&before)))?
        };
        let after = member_from(before.id, &document, before.role, before.version + 1, before.created_at);
        let full = render(ctx, &after).await?;
        let verb = if before.active && !after.active { "Deactivated" } else { "Updated" };
        let reply = Reply {
            version: Some(after.version),
            target: Some(target(&after)),
            message: Some(format!("{verb} user {}", after.user_name)),
            ..Reply::ok(200, full)
        };
        let change = RecordChange::PutMember { member: after.clone(), previous: Some(before.version) };
        match ctx.commit(req, change, reply).await {
            Ok(reply) => return Ok(reply),
            Err(StoreError::VersionMismatch { .. }) if condition.is_none() => continue,
            Err(e) => return Err(taken(e, &after)),
        }
    }
    Err(ScimError::new(409, None, "the resource kept changing meanwhile; retry").into())
}

pub(crate) async fn delete(ctx: &Ctx, req: &Req, id: &str, condition: Option<IfMatch>) -> Result<Reply, Failure> {
    for _ in 0..MAX_ATTEMPTS {
        let before = find(ctx, id).await?;
        if let Some(c) = &condition {
            c.check(before.version).map_err(|e| Failure::from(e).about(target(&before)))?;
        }
        let reply = Reply {
            body: None,
            target: Some(target(&before)),
            message: Some(format!("Deleted user {}", before.user_name)),
            ..Reply::ok(204, Value::Null)
        };
        let change = RecordChange::DeleteMember { id: before.id, previous: before.version };
        match ctx.commit(req, change, reply).await {
            Ok(reply) => return Ok(reply),
            Err(StoreError::VersionMismatch { .. }) if condition.is_none() => continue,
            Err(e) => return Err(Failure::from(store_error(e)).about(target(&before))),
        }
    }
    Err(ScimError::new(409, None, "the resource kept changing meanwhile; retry").into())
}
