//! Conformance: changing a tenant's aliases and JWT key.

use std::sync::Arc;

use stele_core::{Attr, Limit, Query, Sort, TenantId, Timestamp};

use super::event;
use crate::{JwtAlg, NewTenant, Store, StoreError, TenantJwt, TenantUpdate};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

async fn make(store: &dyn Store, id: &str, aliases: &[&str]) {
    let t = NewTenant {
        id: tenant(id),
        name: format!("Tenant {id}"),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        created_at: Timestamp::now(),
    };
    store.create_tenant(t, event("stele.tenant.created", 1)).await.expect("tenant created");
}

async fn actions(store: &dyn Store, id: &str) -> Vec<String> {
    let query = Query {
        sort: Sort { attr: Attr::Time, descending: false },
        limit: Limit::new(100).expect("limit"),
        ..Query::default()
    };
    let page = store.query(&tenant(id), &query).await.expect("query");
    page.events.iter().map(|e| e.event().expect("event").action).collect()
}

pub async fn tenant_updates(store: Arc<dyn Store>) {
    make(&*store, "acme", &["acme.example.com", "old.example.com"]).await;
    make(&*store, "globex", &["globex.example.com"]).await;
    assert_eq!(store.tenant_jwt(&tenant("acme")).await.expect("jwt"), None);

    // Replace the alias set: the old alias no longer finds the tenant, the new ones do.
    let update = TenantUpdate { aliases: Some(vec!["acme.example.com".into(), "new.example.com".into()]), jwt: None };
    let updated = store.update_tenant(&tenant("acme"), update, event("stele.tenant.updated", 2)).await.expect("update");
    assert_eq!(updated.aliases, vec!["acme.example.com", "new.example.com"]);
    assert_eq!(store.find_tenant("new.example.com").await.expect("find").map(|t| t.id), Some(tenant("acme")));
    assert!(store.find_tenant("old.example.com").await.expect("find").is_none(), "removed alias is gone");
    assert_eq!(store.get_tenant(&tenant("acme")).await.expect("get").expect("exists").aliases, updated.aliases);

    // An alias of another tenant, or another tenant's id: refused, nothing changes.
    for taken in ["globex.example.com", "globex"] {
        let update = TenantUpdate { aliases: Some(vec![taken.into()]), jwt: None };
        let r = store.update_tenant(&tenant("acme"), update, event("stele.tenant.updated", 3)).await;
        assert!(matches!(r, Err(StoreError::AliasTaken(ref a)) if a == taken), "{r:?}");
    }
    assert_eq!(store.get_tenant(&tenant("acme")).await.expect("get").expect("exists").aliases, updated.aliases);

    // Set, replace and remove the JWT key; the alias set stays.
    let hs = TenantJwt {
        alg: JwtAlg::Hs256,
        key: vec![1, 2, 3, 0, 255],
        issuer: Some("https://idp.example.com".into()),
        audience: Some("stele".into()),
    };
    let update = TenantUpdate { aliases: None, jwt: Some(Some(hs.clone())) };
    let r = store.update_tenant(&tenant("acme"), update, event("stele.tenant.updated", 4)).await.expect("set jwt");
    assert_eq!(r.aliases, updated.aliases, "aliases untouched");
    assert_eq!(store.tenant_jwt(&tenant("acme")).await.expect("jwt"), Some(hs));
    assert_eq!(store.tenant_jwt(&tenant("globex")).await.expect("jwt"), None, "per tenant");
    let ed =
        TenantJwt { alg: JwtAlg::EdDsa, key: b"-----BEGIN PUBLIC KEY-----".to_vec(), issuer: None, audience: None };
    let update = TenantUpdate { aliases: Some(vec![]), jwt: Some(Some(ed.clone())) };
    let r = store.update_tenant(&tenant("acme"), update, event("stele.tenant.updated", 5)).await.expect("both");
    assert!(r.aliases.is_empty());
    assert_eq!(store.tenant_jwt(&tenant("acme")).await.expect("jwt"), Some(ed));
    let update = TenantUpdate { aliases: None, jwt: Some(None) };
    store.update_tenant(&tenant("acme"), update, event("stele.tenant.updated", 6)).await.expect("clear");
    assert_eq!(store.tenant_jwt(&tenant("acme")).await.expect("jwt"), None);

    // Unknown tenants.
    let r = store.update_tenant(&tenant("nobody"), TenantUpdate::default(), event("stele.tenant.updated", 7)).await;
    assert!(matches!(r, Err(StoreError::UnknownTenant(_))), "{r:?}");
    let r = store.tenant_jwt(&tenant("nobody")).await;
    assert!(matches!(r, Err(StoreError::UnknownTenant(_))), "{r:?}");

    // Every successful update is one event of the tenant's log; refused ones none.
    let log = actions(&*store, "acme").await;
    assert_eq!(
        log,
        vec![
            "stele.tenant.created",
            "stele.tenant.updated",
            "stele.tenant.updated",
            "stele.tenant.updated",
            "stele.tenant.updated"
        ]
    );
    assert_eq!(actions(&*store, "globex").await, vec!["stele.tenant.created"]);
}

/// Tenant ids and aliases are one namespace: no tenant may take a name (id or alias) another
/// tenant holds, at creation or by changing its aliases; a refused change stores nothing.
pub async fn ids_and_aliases_share_one_namespace(store: Arc<dyn Store>) {
    make(&*store, "acme", &["acme-eu", "acme.example.com"]).await;
    // A new tenant whose id is another tenant's alias.
    let t = NewTenant { id: tenant("acme-eu"), name: "Squatter".into(), aliases: vec![], created_at: Timestamp::now() };
    let r = store.create_tenant(t, event("stele.tenant.created", 1)).await;
    assert!(matches!(r, Err(StoreError::AliasTaken(ref a)) if a == "acme-eu"), "{r:?}");
    assert!(store.get_tenant(&tenant("acme-eu")).await.expect("get").is_none(), "refused creation stored nothing");
    assert_eq!(store.find_tenant("acme-eu").await.expect("find").map(|t| t.id), Some(tenant("acme")));
    // A new tenant whose alias is another tenant's id.
    let t = NewTenant {
        id: tenant("globex"),
        name: "Globex".into(),
        aliases: vec!["acme".into()],
        created_at: Timestamp::now(),
    };
    let r = store.create_tenant(t, event("stele.tenant.created", 1)).await;
    assert!(matches!(r, Err(StoreError::AliasTaken(ref a)) if a == "acme"), "{r:?}");
    assert!(store.get_tenant(&tenant("globex")).await.expect("get").is_none());
    // Positive control: a free id, then an alias change onto a name the first tenant let go.
    make(&*store, "globex", &["globex.example.com"]).await;
    let update = TenantUpdate { aliases: Some(vec!["acme.example.com".into()]), jwt: None };
    store.update_tenant(&tenant("acme"), update, event("stele.tenant.updated", 2)).await.expect("drop acme-eu");
    let update = TenantUpdate { aliases: Some(vec!["acme-eu".into()]), jwt: None };
    store.update_tenant(&tenant("globex"), update, event("stele.tenant.updated", 3)).await.expect("free name");
    assert_eq!(store.find_tenant("acme-eu").await.expect("find").map(|t| t.id), Some(tenant("globex")));
    // The id a tenant holds stays its own after its aliases change, and nobody may take it.
    let t = NewTenant {
        id: tenant("initech"),
        name: "Initech".into(),
        aliases: vec!["globex".into()],
        created_at: Timestamp::now(),
    };
    let r = store.create_tenant(t, event("stele.tenant.created", 1)).await;
    assert!(matches!(r, Err(StoreError::AliasTaken(ref a)) if a == "globex"), "{r:?}");
    let t = NewTenant {
        id: tenant("initech"),
        name: "Initech".into(),
        aliases: vec!["acme-eu".into()],
        created_at: Timestamp::now(),
    };
    let r = store.create_tenant(t, event("stele.tenant.created", 1)).await;
    assert!(matches!(r, Err(StoreError::AliasTaken(ref a)) if a == "acme-eu"), "{r:?}");
    let t = NewTenant { id: tenant("acme"), name: "Again".into(), aliases: vec![], created_at: Timestamp::now() };
    let r = store.create_tenant(t, event("stele.tenant.created", 1)).await;
    assert!(matches!(r, Err(StoreError::TenantExists(_))), "{r:?}");
}
