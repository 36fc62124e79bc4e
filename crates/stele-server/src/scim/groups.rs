//! `/Groups`: groups as SCIM Group resources. The stored document leaves `members` out (the
//! store keeps memberships as rows); a PATCH gets them put back in, applies, and takes the
//! new member set out again. Members must be Users of the tenant (nested groups are not
//! offered: a Group member is 400 `invalidValue`).

use serde_json::{json, Value};
use stele_core::{Target, Timestamp};
use stele_scim::{
    apply_patch, group_fields, normalize, project, render_group, IfMatch, ListParams, Lookup, MemberKind, MemberRef,
    Meta, ResourceKind, ScimError,
};
use stele_store::directory::{Group, GroupId, GroupLookup, GroupMember, GroupOrder, Listing, MemberId, RecordChange};
use stele_store::StoreError;

use super::{store_error, Ctx, Failure, Reply, Req, MAX_ATTEMPTS};
use crate::routes::members::{MAX_GROUPS, MAX_MEMBERS};

const SCAN_PAGE: u32 = 200;

pub(crate) fn target(g: &Group) -> Target {
    Target { kind: Some("Group".into()), id: Some(g.id.to_string()), name: Some(g.display_name.clone()), email: None }
}

fn meta(ctx: &Ctx, g: &Group) -> Meta {
    Meta {
        id: g.id.to_string(),
        created: g.created_at,
        last_modified: g.updated_at,
        version: g.version,
        location: ctx.location(ResourceKind::Group, &g.id.to_string()),
    }
}

fn doc(g: &Group) -> Value {
    serde_json::from_str(&g.resource).unwrap_or_else(|_| json!({"displayName": g.display_name}))
}

fn member_refs(ctx: &Ctx, g: &Group) -> Vec<MemberRef> {
    g.members
        .iter()
        .map(|m| MemberRef {
            value: m.id.to_string(),
            // `display` is left out: clients compare members as they sent them, and a
            // display Stele made up would differ (scim2-tester checks exactly that).
            display: None,
            kind: MemberKind::User,
            location: Some(ctx.location(ResourceKind::User, &m.id.to_string())),
        })
        .collect()
}

fn render(ctx: &Ctx, g: &Group) -> Value {
    render_group(&doc(g), &meta(ctx, g), &member_refs(ctx, g))
}

fn not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("no Group {id}"))
}

async fn find(ctx: &Ctx, id: &str) -> Result<Group, ScimError> {
    let Ok(group_id) = id.parse::<GroupId>() else { return Err(not_found(id)) };
    ctx.state.store.get_group(&ctx.conn.tenant, &group_id).await.map_err(store_error)?.ok_or_else(|| not_found(id))
}

async fn candidates(ctx: &Ctx, params: &ListParams) -> Result<Vec<Group>, ScimError> {
    let store = &ctx.state.store;
    let tenant = &ctx.conn.tenant;
    let found = match params.filter.as_ref().and_then(|f| f.lookup()) {
        Some(Lookup::DisplayName(v)) => store.find_groups(tenant, &GroupLookup::DisplayName(v)).await,
        Some(Lookup::ExternalId(v)) => store.find_groups(tenant, &GroupLookup::ExternalId(v)).await,
        Some(Lookup::Id(v)) => match v.parse::<GroupId>() {
            Ok(id) => store.get_group(tenant, &id).await.map(|g| g.into_iter().collect()),
            Err(_) => Ok(Vec::new()),
        },
        Some(Lookup::UserName(_)) | None => {
            // Members are read only when a filter may look at them.
            let with_members = params.filter.is_some();
            let key = |g: &Group| stele_store::directory::group_key(g, GroupOrder::Id);
            return super::scan_all(MAX_GROUPS, SCAN_PAGE, key, |after| async move {
                let listing = Listing { order: GroupOrder::Id, descending: false, after, limit: SCAN_PAGE };
                store.list_groups(tenant, &listing, with_members).await
            })
            .await;
        }
    };
    found.map_err(store_error)
}

/// The resources a list request matches, sorted as asked (with members only when a filter
/// needed them).
pub(crate) async fn matching(ctx: &Ctx, params: &ListParams) -> Result<Vec<Value>, Failure> {
    let mut matched = Vec::new();
    for g in candidates(ctx, params).await? {
        let resource = render(ctx, &g);
        if params.filter.as_ref().is_none_or(|f| f.matches(&resource)) {
            matched.push(resource);
        }
    }
    if let Some(path) = &params.sort_by {
        stele_scim::list::sort_resources(&mut matched, path, params.sort_order);
    }
    Ok(matched)
}

/// A matched resource as a page shows it: with its members, projected.
pub(crate) async fn page_item(ctx: &Ctx, resource: &Value, params: &ListParams) -> Result<Value, Failure> {
    let id = resource["id"].as_str().unwrap_or_default();
    let full = render(ctx, &find(ctx, id).await?);
    Ok(project(&full, ResourceKind::Group, &params.attributes, &params.excluded_attributes))
}

pub(crate) async fn get(ctx: &Ctx, req: &Req, id: &str) -> Result<Reply, Failure> {
    let g = find(ctx, id).await?;
    let names = |p: &str| -> Vec<String> {
        req.param(p)
            .map(|l| l.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    };
    let body = project(&render(ctx, &g), ResourceKind::Group, &names("attributes"), &names("excludedAttributes"));
    Ok(Reply { version: Some(g.version), target: Some(target(&g)), ..Reply::ok(200, body) })
}

/// A group from a canonical document (members taken out of it), or 400 for a member value
/// that is not a User id.
fn group_from(
    id: GroupId,
    mut document: Value,
    version: u64,
    created: Timestamp,
    role: Option<stele_store::directory::Role>,
) -> Result<Group, ScimError> {
    let f = group_fields(&document);
    if f.member_ids.len() as u64 > MAX_MEMBERS {
        return Err(ScimError::invalid_value(format!("members: at most {MAX_MEMBERS}")));
    }
    let mut members = Vec::with_capacity(f.member_ids.len());
    for value in &f.member_ids {
        let id: MemberId = value
            .parse()
            .map_err(|_| ScimError::invalid_value(format!("members: {value} is not a user of this tenant")))?;
        members.push(GroupMember { id, display: None });
    }
    if let Some(o) = document.as_object_mut() {
        o.remove("members");
    }
    Ok(Group {
        id,
        display_name: f.display_name,
        external_id: f.external_id,
        role,
        resource: document.to_string(),
        members,
        version,
        created_at: created,
        updated_at: Timestamp::now(),
    })
}

fn failed(e: StoreError, g: &Group) -> Failure {
    Failure::from(store_error(e)).about(target(g))
}

pub(crate) async fn create(ctx: &Ctx, req: &Req, body: Option<&Value>) -> Result<Reply, Failure> {
    let body = body.ok_or_else(|| ScimError::invalid_syntax("a Group body is required"))?;
    let document = normalize(ResourceKind::Group, body)?;
    let g = group_from(GroupId::generate(), document, 1, Timestamp::now(), None)?;
    if ctx.state.store.count_groups(&ctx.conn.tenant).await.map_err(store_error)? >= MAX_GROUPS {
        let e = ScimError::new(409, None, format!("the tenant already has {MAX_GROUPS} groups, the most it may have"));
        return Err(Failure::from(e).about(target(&g)));
    }
    let reply = |g: &Group| Reply {
        version: Some(g.version),
        location: Some(ctx.location(ResourceKind::Group, &g.id.to_string())),
        target: Some(target(g)),
        message: Some(format!("Created group {}", g.display_name)),
        ..Reply::ok(201, render(ctx, g))
    };
    let change = RecordChange::PutGroup { group: g.clone(), previous: None };
    ctx.commit(req, change, reply(&g)).await.map_err(|e| failed(e, &g))
}

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
        let about = |e: ScimError| Failure::from(e).about(target(&before));
        if let Some(c) = &condition {
            c.check(before.version).map_err(about)?;
        }
        let document = if req.method.eq_ignore_ascii_case("PATCH") {
            let mut document = doc(&before);
            let members: Vec<Value> = before.members.iter().map(|m| json!({"value": m.id.to_string()})).collect();
            document["members"] = Value::Array(members);
            let effect = apply_patch(&mut document, ResourceKind::Group, body).map_err(about)?;
            if !effect.changed {
                return Ok(Reply {
                    version: Some(before.version),
                    target: Some(target(&before)),
                    ..Reply::ok(200, render(ctx, &before))
                });
            }
            document
        } else {
            normalize(ResourceKind::Group, body).map_err(about)?
        };
        let after =
            group_from(before.id, document, before.version + 1, before.created_at, before.role).map_err(about)?;
        let reply = Reply {
            version: Some(after.version),
            target: Some(target(&after)),
            message: Some(format!("Updated group {}", after.display_name)),
            ..Reply::ok(200, render(ctx, &after))
        };
        let change = RecordChange::PutGroup { group: after.clone(), previous: Some(before.version) };
        match ctx.commit(req, change, reply).await {
            Ok(reply) => return Ok(reply),
            Err(StoreError::VersionMismatch { .. }) if condition.is_none() => continue,
            Err(e) => return Err(failed(e, &after)),
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
            message: Some(format!("Deleted group {}", before.display_name)),
            ..Reply::ok(204, Value::Null)
        };
        let change = RecordChange::DeleteGroup { id: before.id, previous: before.version };
        match ctx.commit(req, change, reply).await {
            Ok(reply) => return Ok(reply),
            Err(StoreError::VersionMismatch { .. }) if condition.is_none() => continue,
            Err(e) => return Err(failed(e, &before)),
        }
    }
    Err(ScimError::new(409, None, "the resource kept changing meanwhile; retry").into())
}
