//! Conformance: members, groups and SCIM connections — each change stored with its audit
//! event in one transaction, optimistic versions, case-insensitive unique user names,
//! keyset listings, and tenant isolation.

use std::sync::Arc;

use stele_core::{Attr, Limit, Query, SecretHash, Sort, TenantId, Timestamp};

use super::event;
use crate::directory::{
    effective_role, member_key, Group, GroupLookup, GroupMember, GroupOrder, Listing, Member, MemberLookup,
    MemberOrder, RecordChange, Role, ScimConnection, ScimConnectionId,
};
use crate::directory::{GroupId, MemberId};
use crate::{NewTenant, Store, StoreError};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

async fn make(store: &dyn Store, id: &str) {
    let t = NewTenant { id: tenant(id), name: id.into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(t, event("stele.tenant.created", 1)).await.expect("tenant created");
}

async fn log(store: &dyn Store, id: &str) -> Vec<String> {
    let query = Query {
        sort: Sort { attr: Attr::Seq, descending: false },
        limit: Limit::new(1000).expect("limit"),
        ..Query::default()
    };
    let page = store.query(&tenant(id), &query).await.expect("query");
    page.events.iter().map(|e| e.event().expect("event").action).collect()
}

/// A member as a caller would build it (version 1, created now).
pub fn member(user_name: &str, created_micros: i64) -> Member {
    Member {
        id: MemberId::generate(),
        user_name: user_name.into(),
        external_id: Some(format!("ext-{user_name}")),
        display_name: Some(format!("Name {user_name}")),
        email: Some(format!("{user_name}@Example.com")),
        active: true,
        role: Role::Member,
        resource: format!(r#"{{"userName":"{user_name}"}}"#),
        version: 1,
        created_at: Timestamp::from_micros(created_micros),
        updated_at: Timestamp::from_micros(created_micros),
    }
}

fn group(name: &str, members: &[&Member]) -> Group {
    Group {
        id: GroupId::generate(),
        display_name: name.into(),
        external_id: None,
        role: None,
        resource: format!(r#"{{"displayName":"{name}"}}"#),
        members: members.iter().map(|m| GroupMember { id: m.id, display: None }).collect(),
        version: 1,
        created_at: Timestamp::from_micros(10),
        updated_at: Timestamp::from_micros(10),
    }
}

async fn put(store: &dyn Store, t: &str, m: &Member, previous: Option<u64>, action: &str) -> Result<(), StoreError> {
    let change = RecordChange::PutMember { member: m.clone(), previous };
    store.change(&tenant(t), change, vec![event(action, 5)]).await
}

pub async fn directory_members(store: Arc<dyn Store>) {
    make(&*store, "acme").await;
    make(&*store, "globex").await;
    let ana = member("Ana", 100);
    put(&*store, "acme", &ana, None, "stele.member.created").await.expect("created");
    assert_eq!(store.get_member(&tenant("acme"), &ana.id).await.expect("get"), Some(ana.clone()));
    // Another tenant does not see it, and may use the same user name.
    assert_eq!(store.get_member(&tenant("globex"), &ana.id).await.expect("get"), None);
    put(&*store, "globex", &member("ana", 100), None, "stele.member.created").await.expect("other tenant");

    // userName is unique per tenant, case-insensitively; the refused change logs nothing.
    let before = log(&*store, "acme").await;
    let clash = put(&*store, "acme", &member("ANA", 101), None, "stele.member.created").await;
    assert!(matches!(clash, Err(StoreError::Conflict(ref f)) if f == "userName"), "{clash:?}");
    assert_eq!(log(&*store, "acme").await, before, "a refused change appends nothing");
    // Creating an existing id is a conflict too.
    let again = put(&*store, "acme", &ana, None, "stele.member.created").await;
    assert!(matches!(again, Err(StoreError::Conflict(ref f)) if f == "id"), "{again:?}");

    // Lookups.
    let by_name = store.find_members(&tenant("acme"), &MemberLookup::UserName("aNa".into())).await.expect("find");
    assert_eq!(by_name, vec![ana.clone()]);
    let by_email =
        store.find_members(&tenant("acme"), &MemberLookup::Email("ana@example.COM".into())).await.expect("find");
    assert_eq!(by_email, vec![ana.clone()]);
    let by_ext = store.find_members(&tenant("acme"), &MemberLookup::ExternalId("ext-Ana".into())).await.expect("find");
    assert_eq!(by_ext, vec![ana.clone()]);
    let exact = store.find_members(&tenant("acme"), &MemberLookup::ExternalId("EXT-ANA".into())).await.expect("find");
    assert!(exact.is_empty(), "externalId is compared exactly");

    // Replace with the right version; a stale version changes nothing.
    let renamed = Member { user_name: "ana.b".into(), active: false, version: 2, ..ana.clone() };
    put(&*store, "acme", &renamed, Some(1), "stele.member.updated").await.expect("updated");
    let stale = put(&*store, "acme", &Member { version: 2, ..ana.clone() }, Some(1), "stele.member.updated").await;
    assert!(matches!(stale, Err(StoreError::VersionMismatch { current: 2 })), "{stale:?}");
    assert_eq!(store.get_member(&tenant("acme"), &ana.id).await.expect("get"), Some(renamed.clone()));
    // The old user name is free again.
    put(&*store, "acme", &member("ana", 102), None, "stele.member.created").await.expect("old name reused");

    // Delete: a wrong version refuses, the right one removes; deleting again is not found.
    let wrong = RecordChange::DeleteMember { id: ana.id, previous: 1 };
    let r = store.change(&tenant("acme"), wrong, vec![event("stele.member.deleted", 6)]).await;
    assert!(matches!(r, Err(StoreError::VersionMismatch { current: 2 })), "{r:?}");
    let delete = RecordChange::DeleteMember { id: ana.id, previous: 2 };
    store.change(&tenant("acme"), delete.clone(), vec![event("stele.member.deleted", 6)]).await.expect("deleted");
    assert_eq!(store.get_member(&tenant("acme"), &ana.id).await.expect("get"), None);
    let r = store.change(&tenant("acme"), delete, vec![event("stele.member.deleted", 6)]).await;
    assert!(matches!(r, Err(StoreError::RecordNotFound("member", _))), "{r:?}");

    let actions = log(&*store, "acme").await;
    let expected = [
        "stele.tenant.created",
        "stele.member.created",
        "stele.member.updated",
        "stele.member.created",
        "stele.member.deleted",
    ];
    assert_eq!(actions, expected, "each applied change appended its event, refused ones nothing");
    let unknown = put(&*store, "nobody", &member("x", 1), None, "stele.member.created").await;
    assert!(matches!(unknown, Err(StoreError::UnknownTenant(_))), "{unknown:?}");
}

pub async fn directory_listings(store: Arc<dyn Store>) {
    make(&*store, "acme").await;
    make(&*store, "globex").await;
    let names = ["delta", "Alpha", "charlie", "bravo", "Echo"];
    let mut made = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let m = member(n, 1000 - i as i64);
        put(&*store, "acme", &m, None, "stele.member.created").await.expect("created");
        made.push(m);
    }
    put(&*store, "globex", &member("zulu", 1), None, "stele.member.created").await.expect("created");
    assert_eq!(store.count_members(&tenant("acme")).await.expect("count"), 5);

    for (order, descending, expected) in [
        (MemberOrder::UserName, false, vec!["Alpha", "bravo", "charlie", "delta", "Echo"]),
        (MemberOrder::UserName, true, vec!["Echo", "delta", "charlie", "bravo", "Alpha"]),
        (MemberOrder::Created, false, vec!["Echo", "bravo", "charlie", "Alpha", "delta"]),
    ] {
        // Pages of two, each starting after the previous page's last record.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let listing = Listing { order, descending, after: after.clone(), limit: 2 };
            let page = store.list_members(&tenant("acme"), &listing).await.expect("list");
            if page.is_empty() {
                break;
            }
            after = page.last().map(|m| member_key(m, order));
            seen.extend(page.into_iter().map(|m| m.user_name));
        }
        assert_eq!(seen, expected, "{order:?} descending={descending}");
    }
    let by_id = Listing { order: MemberOrder::Id, descending: false, after: None, limit: 10 };
    let ids: Vec<_> = store.list_members(&tenant("acme"), &by_id).await.expect("list").iter().map(|m| m.id).collect();
    let mut sorted: Vec<_> = made.iter().map(|m| m.id).collect();
    sorted.sort_by_key(|id| id.to_string());
    assert_eq!(ids, sorted);
}

pub async fn directory_groups(store: Arc<dyn Store>) {
    make(&*store, "acme").await;
    make(&*store, "globex").await;
    let (ana, bo) = (member("ana", 1), member("bo", 2));
    for m in [&ana, &bo] {
        put(&*store, "acme", m, None, "stele.member.created").await.expect("member");
    }
    let stranger = member("stranger", 3);
    put(&*store, "globex", &stranger, None, "stele.member.created").await.expect("member");

    let mut admins = group("Admins", &[&ana, &bo]);
    admins.role = Some(Role::Admin);
    let create = |g: &Group, previous| RecordChange::PutGroup { group: g.clone(), previous };
    store.change(&tenant("acme"), create(&admins, None), vec![event("stele.group.created", 7)]).await.expect("group");
    let stored = store.get_group(&tenant("acme"), &admins.id).await.expect("get").expect("exists");
    assert_eq!(stored.members.iter().map(|m| m.id).collect::<Vec<_>>(), {
        let mut ids = vec![ana.id, bo.id];
        ids.sort_by_key(|id| id.to_string());
        ids
    });
    assert_eq!(stored.members.iter().find(|m| m.id == ana.id).and_then(|m| m.display.clone()), ana.display_name);
    let groups = store.member_groups(&tenant("acme"), &ana.id).await.expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(effective_role(&ana, &groups), Role::Admin, "the group's role raises the member's");

    // A member of another tenant (or none) cannot join; nothing changes.
    let mut foreign = admins.clone();
    foreign.members.push(GroupMember { id: stranger.id, display: None });
    foreign.version = 2;
    let r = store.change(&tenant("acme"), create(&foreign, Some(1)), vec![event("stele.group.updated", 8)]).await;
    assert!(matches!(r, Err(StoreError::UnknownMember(ref id)) if *id == stranger.id.to_string()), "{r:?}");
    assert_eq!(store.get_group(&tenant("acme"), &admins.id).await.expect("get").expect("exists").version, 1);

    // Replace membership; deleting a member removes it from its groups.
    admins.members.retain(|m| m.id == ana.id);
    admins.version = 2;
    store.change(&tenant("acme"), create(&admins, Some(1)), vec![event("stele.group.updated", 8)]).await.expect("put");
    assert!(store.member_groups(&tenant("acme"), &bo.id).await.expect("groups").is_empty());
    let delete = RecordChange::DeleteMember { id: ana.id, previous: 1 };
    store.change(&tenant("acme"), delete, vec![event("stele.member.deleted", 9)]).await.expect("deleted");
    assert!(store.get_group(&tenant("acme"), &admins.id).await.expect("get").expect("exists").members.is_empty());

    // Lookups and listings; another tenant sees nothing.
    let found = store.find_groups(&tenant("acme"), &GroupLookup::DisplayName("ADMINS".into())).await.expect("find");
    assert_eq!(found.iter().map(|g| g.id).collect::<Vec<_>>(), vec![admins.id]);
    let users = group("users", &[&bo]);
    store.change(&tenant("acme"), create(&users, None), vec![event("stele.group.created", 10)]).await.expect("group");
    let listing = Listing { order: GroupOrder::DisplayName, descending: false, after: None, limit: 10 };
    let listed = store.list_groups(&tenant("acme"), &listing, false).await.expect("list");
    assert_eq!(listed.iter().map(|g| g.display_name.as_str()).collect::<Vec<_>>(), ["Admins", "users"]);
    assert!(listed.iter().all(|g| g.members.is_empty()), "members left out when not asked for");
    let with = store.list_groups(&tenant("acme"), &listing, true).await.expect("list");
    assert_eq!(with[1].members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![bo.id]);
    assert_eq!(store.count_groups(&tenant("acme")).await.expect("count"), 2);
    assert_eq!(store.count_groups(&tenant("globex")).await.expect("count"), 0);
    assert_eq!(store.get_group(&tenant("globex"), &admins.id).await.expect("get"), None);

    let delete = RecordChange::DeleteGroup { id: users.id, previous: 1 };
    store.change(&tenant("acme"), delete, vec![event("stele.group.deleted", 11)]).await.expect("deleted");
    assert!(store.member_groups(&tenant("acme"), &bo.id).await.expect("groups").is_empty());
}

pub async fn scim_connections(store: Arc<dyn Store>) {
    make(&*store, "acme").await;
    make(&*store, "globex").await;
    let mut c = ScimConnection {
        id: ScimConnectionId::generate(),
        tenant: tenant("acme"),
        name: "Okta".into(),
        token_hash: SecretHash::of("first token"),
        version: 1,
        created_at: Timestamp::from_micros(5),
        updated_at: Timestamp::from_micros(5),
        revoked_at: None,
    };
    let put = |c: &ScimConnection, previous| RecordChange::PutScimConnection { connection: c.clone(), previous };
    store.change(&tenant("acme"), put(&c, None), vec![event("stele.scim_connection.created", 5)]).await.expect("made");
    assert_eq!(store.get_scim_connection(&c.id).await.expect("get"), Some(c.clone()));
    // Rotation replaces the hash.
    c.token_hash = SecretHash::of("second token");
    c.version = 2;
    store
        .change(&tenant("acme"), put(&c, Some(1)), vec![event("stele.scim_connection.rotated", 6)])
        .await
        .expect("put");
    let stored = store.get_scim_connection(&c.id).await.expect("get").expect("exists");
    assert!(stored.token_hash.matches("second token") && !stored.token_hash.matches("first token"));
    // Another tenant cannot take it over.
    let mut theft = c.clone();
    theft.tenant = tenant("globex");
    let r = store.change(&tenant("globex"), put(&theft, None), vec![event("stele.scim_connection.created", 7)]).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(store.get_scim_connection(&c.id).await.expect("get").expect("exists").tenant, tenant("acme"));
    assert_eq!(store.list_scim_connections(&tenant("acme")).await.expect("list").len(), 1);
    assert!(store.list_scim_connections(&tenant("globex")).await.expect("list").is_empty());
    assert_eq!(store.get_scim_connection(&ScimConnectionId::generate()).await.expect("get"), None);
}

/// Writes that fail (here: a taken user name) share groups with writes that succeed: the
/// failing ones change nothing, the others are all stored, and `seq` stays gapless.
pub async fn failing_writes_leave_their_group_intact(store: Arc<dyn Store>) {
    make(&*store, "acme").await;
    put(&*store, "acme", &member("ana", 1), None, "stele.member.created").await.expect("first");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 5 == 0 {
                let clash = put(&*store, "acme", &member("ANA", 2), None, "stele.member.created").await;
                matches!(clash, Err(StoreError::Conflict(_)))
            } else {
                store.append(&tenant("acme"), vec![event("app.event", 3)], None).await.is_ok()
            }
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task"), "each append succeeds and each clash is refused");
    }
    let actions = log(&*store, "acme").await;
    assert_eq!(actions.len(), 2 + 32, "tenant and member events, then the 32 appends: {actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "app.event").count(), 32);
    let tree = store.tree(&tenant("acme")).await.expect("tree");
    assert_eq!(tree.size, 34, "seq is gapless");
}
