//! The conformance suite: behaviour every [`Store`] backend must show. A backend's tests
//! instantiate it with [`conformance_tests!`](crate::conformance_tests), giving a function
//! that makes a fresh, empty store (and a guard that keeps its resources alive).

mod delivery;
mod directory;
mod filters;
mod integrity;
mod retention;
mod sessions;
mod stats;
mod tenant_update;
pub use delivery::streams_and_delivery_progress;
pub use directory::{
    directory_groups, directory_listings, directory_members, failing_writes_leave_their_group_intact, member,
    scim_connections,
};
pub use filters::filter_table;
pub use integrity::{
    appends_report_grown_trees, merkle_tree_matches_the_leaves, redaction_keeps_the_leaf, signed_heads_are_kept,
    unsigned_tenants_are_listed,
};
pub use retention::retention_expires_into_tombstones;
pub use sessions::{credentials_and_sessions, viewer_links_and_oidc};
pub use stats::histogram_and_facets;
pub use tenant_update::{ids_and_aliases_share_one_namespace, tenant_updates};

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use stele_core::{
    parse_ingest_body, Attr, EventId, Filter, KeyId, KeySecret, Limit, Limits, NewEvent, PageRequest, Query, Scope,
    Sort, TenantId, TextQuery, TimeRange, Timestamp,
};

use crate::{AppendOutcome, Idempotency, NewKey, NewTenant, Store, StoreError, IDEMPOTENCY_WINDOW_MICROS};

/// A fresh store and whatever must live as long as it (a temp dir, a database).
pub type Fixture = (Arc<dyn Store>, Box<dyn std::any::Any + Send>);

/// Generates one `#[tokio::test]` per conformance case for a backend. `$make` gives a fresh
/// store, or `None` (after printing why) when the backend is not available to the tests.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            tenants_and_aliases, keys_lifecycle, append_assigns_gapless_seq, concurrent_appends_are_gapless,
            idempotency, query_order_range_and_pages, tenants_are_isolated, close_rejects_later_writes, filter_table,
            merkle_tree_matches_the_leaves, appends_report_grown_trees, signed_heads_are_kept, unsigned_tenants_are_listed,
            redaction_keeps_the_leaf,
            tenant_updates, ids_and_aliases_share_one_namespace, directory_members, directory_listings,
            directory_groups, scim_connections, failing_writes_leave_their_group_intact, credentials_and_sessions,
            viewer_links_and_oidc, histogram_and_facets, streams_and_delivery_progress,
            retention_expires_into_tombstones);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(fixture) = $make(stringify!($case)).await else { return };
                $crate::conformance::$case(fixture.0.clone()).await;
                fixture.0.close().await;
            }
        )*
    };
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

/// One event with the given action and time (micros), as ingest would build it (without
/// ingest's bound on future times: stores must hold whatever an older version accepted).
pub fn event(action: &str, time_micros: i64) -> NewEvent {
    let time = Timestamp::from_micros(time_micros);
    events_from(serde_json::json!({
        "action": action,
        "time": time.to_string(),
        "actor": {"id": "u_1", "email": "ana@acme.io"},
        "targets": [{"type": "User", "id": "u_7"}],
        "context": {"env": "prod"}
    }))
    .remove(0)
}

/// The events of an ingest body (one event, or `{"events": [...]}`), as ingest would build
/// them, without ingest's bounds on future times and batch sizes.
pub fn events_from(body: serde_json::Value) -> Vec<NewEvent> {
    let unbounded = Limits {
        max_future_skew_seconds: u64::MAX,
        max_batch_events: usize::MAX,
        max_batch_bytes: usize::MAX,
        ..Limits::default()
    };
    parse_ingest_body(body.to_string().as_bytes(), &unbounded, Timestamp::now()).expect("valid events").events
}

async fn make_tenant(store: &dyn Store, id: &str, aliases: &[&str]) {
    store
        .create_tenant(
            NewTenant {
                id: tenant(id),
                name: format!("Tenant {id}"),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
                created_at: Timestamp::now(),
            },
            event("stele.tenant.created", 1),
        )
        .await
        .expect("tenant created");
}

fn all_pages(limit: u32) -> Query {
    Query { limit: Limit::new(limit).expect("limit"), ..Query::default() }
}

pub async fn tenants_and_aliases(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &["acme.example.com", "5f0c1d2e3a4b5c6d7e8f9a0b"]).await;
    let dup = store
        .create_tenant(
            NewTenant { id: tenant("acme"), name: "again".into(), aliases: vec![], created_at: Timestamp::now() },
            event("stele.tenant.created", 1),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::TenantExists(_))), "{dup:?}");
    let taken = store
        .create_tenant(
            NewTenant {
                id: tenant("globex"),
                name: "Globex".into(),
                aliases: vec!["acme.example.com".into()],
                created_at: Timestamp::now(),
            },
            event("stele.tenant.created", 1),
        )
        .await;
    assert!(matches!(taken, Err(StoreError::AliasTaken(_))), "{taken:?}");
    assert!(store.get_tenant(&tenant("globex")).await.expect("get").is_none(), "failed create left a tenant");

    let found = store.find_tenant("5f0c1d2e3a4b5c6d7e8f9a0b").await.expect("find").expect("by alias");
    assert_eq!(found.id, tenant("acme"));
    assert_eq!(found.aliases.len(), 2);
    assert_eq!(store.find_tenant("acme").await.expect("find").map(|t| t.id), Some(tenant("acme")));
    assert!(store.find_tenant("nobody").await.expect("find").is_none());
    let list = store.list_tenants().await.expect("list");
    assert_eq!(list.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), vec!["acme"]);

    let page = store.query(&tenant("acme"), &all_pages(10)).await.expect("query");
    assert_eq!(page.events.len(), 1, "the creation event is in the tenant's log");
    assert_eq!(page.events[0].seq.get(), 1);
    assert_eq!(page.events[0].event().expect("event").action, "stele.tenant.created");
}

pub async fn keys_lifecycle(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    make_tenant(&*store, "globex", &[]).await;
    let id = KeyId::generate();
    let secret = KeySecret::generate(&id);
    let created = store
        .create_key(
            NewKey {
                id: id.clone(),
                tenant: tenant("acme"),
                name: "ci".into(),
                scopes: BTreeSet::from([Scope::EventsWrite, Scope::EventsRead]),
                view_filter: Some("action sw \"user.\"".into()),
                secret_hash: secret.hash(),
                created_at: Timestamp::now(),
            },
            event("stele.key.created", 2),
        )
        .await
        .expect("key created");
    assert_eq!(created.revoked_at, None);
    let got = store.get_key(&id).await.expect("get").expect("exists");
    assert!(got.secret_hash.matches(secret.expose()));
    assert_eq!(got.scopes, created.scopes);
    assert_eq!(got.view_filter.as_deref(), Some("action sw \"user.\""));
    assert_eq!(store.list_keys(Some(&tenant("acme"))).await.expect("list").len(), 1);
    assert_eq!(store.list_keys(Some(&tenant("globex"))).await.expect("list").len(), 0);
    assert_eq!(store.list_keys(None).await.expect("list").len(), 1);

    let wrong_tenant = store.revoke_key(&tenant("globex"), &id, event("stele.key.revoked", 3)).await;
    assert!(matches!(wrong_tenant, Err(StoreError::KeyNotFound(_))), "{wrong_tenant:?}");
    let revoked = store.revoke_key(&tenant("acme"), &id, event("stele.key.revoked", 3)).await.expect("revoked");
    assert!(revoked.revoked_at.is_some());
    assert!(store.get_key(&id).await.expect("get").expect("kept").revoked_at.is_some());
    let unknown = store.revoke_key(&tenant("acme"), &KeyId::generate(), event("stele.key.revoked", 3)).await;
    assert!(matches!(unknown, Err(StoreError::KeyNotFound(_))), "{unknown:?}");

    let actions: Vec<String> = store
        .query(&tenant("acme"), &Query { sort: Sort { attr: Attr::Time, descending: false }, ..all_pages(10) })
        .await
        .expect("query")
        .events
        .iter()
        .map(|e| e.event().expect("event").action)
        .collect();
    assert_eq!(actions, vec!["stele.tenant.created", "stele.key.created", "stele.key.revoked"]);
}

pub async fn append_assigns_gapless_seq(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    let batch: Vec<NewEvent> = (0..5).map(|i| event(&format!("a.{i}"), 1000 + i)).collect();
    let sent = batch.clone();
    let out = store.append(&tenant("acme"), batch, None).await.expect("append");
    let AppendOutcome::Appended(receipts) = out else { panic!("expected Appended") };
    assert_eq!(receipts.iter().map(|r| r.seq.get()).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
    for (r, e) in receipts.iter().zip(&sent) {
        assert_eq!(r.id, e.event.id);
        assert_eq!(r.time, e.event.time);
        let stored = store.get_event(&tenant("acme"), &r.id).await.expect("get").expect("stored");
        assert_eq!(stored.seq, r.seq);
        assert_eq!(stored.json, e.json, "stored JSON is exactly what was appended");
    }
    let missing = store.append(&tenant("nobody"), vec![event("a", 1)], None).await;
    assert!(matches!(missing, Err(StoreError::UnknownTenant(_))), "{missing:?}");
    assert!(store.get_event(&tenant("acme"), &EventId::new_v7()).await.expect("get").is_none());
}

pub async fn concurrent_appends_are_gapless(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    make_tenant(&*store, "globex", &[]).await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let t = if task % 2 == 0 { "acme" } else { "globex" };
            let mut seqs = Vec::new();
            for round in 0..10 {
                let batch: Vec<NewEvent> = (0..3).map(|i| event("c", task * 100 + round * 10 + i)).collect();
                let sent: Vec<EventId> = batch.iter().map(|e| e.event.id).collect();
                let out = store.append(&tenant(t), batch, None).await.expect("append");
                // Concurrent appends may share a commit: each caller still gets its own receipts.
                let ids: Vec<EventId> = out.receipts().iter().map(|r| r.id).collect();
                assert_eq!(ids, sent, "the receipts are of the events this caller sent, in its order");
                for r in out.receipts() {
                    let stored = store.get_event(&tenant(t), &r.id).await.expect("get").expect("stored");
                    assert_eq!(stored.seq, r.seq, "the receipt's seq is where the event is stored");
                }
                seqs.extend(out.receipts().iter().map(|r| r.seq.get()));
            }
            (t, seqs)
        }));
    }
    let mut by_tenant: std::collections::HashMap<&str, Vec<u64>> = Default::default();
    for task in tasks {
        let (t, seqs) = task.await.expect("task");
        by_tenant.entry(t).or_default().extend(seqs);
    }
    for (t, mut seqs) in by_tenant {
        seqs.sort_unstable();
        assert_eq!(seqs, (2..=241).collect::<Vec<u64>>(), "tenant {t}: gapless, unique, after the creation event");
        assert_eq!(store.count(&tenant(t), &Query::default()).await.expect("count"), 241);
    }
}

pub async fn idempotency(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    make_tenant(&*store, "globex", &[]).await;
    let now = Timestamp::now();
    let idem = |fp: u8, at: Timestamp| Idempotency { key: "req-1".into(), fingerprint: [fp; 32], now: at };
    let first =
        store.append(&tenant("acme"), vec![event("a", 1), event("b", 2)], Some(idem(1, now))).await.expect("first");
    assert!(matches!(first, AppendOutcome::Appended(_)));
    let again =
        store.append(&tenant("acme"), vec![event("a", 1), event("b", 2)], Some(idem(1, now))).await.expect("again");
    assert_eq!(again, AppendOutcome::Replayed(first.receipts().to_vec()));
    assert_eq!(store.count(&tenant("acme"), &Query::default()).await.expect("count"), 3, "replay stored nothing");
    let other = store.append(&tenant("acme"), vec![event("c", 3)], Some(idem(2, now))).await;
    assert!(matches!(other, Err(StoreError::IdempotencyMismatch)), "{other:?}");
    assert_eq!(store.count(&tenant("acme"), &Query::default()).await.expect("count"), 3, "mismatch stored nothing");
    let elsewhere = store.append(&tenant("globex"), vec![event("a", 1)], Some(idem(1, now))).await.expect("globex");
    assert!(matches!(elsewhere, AppendOutcome::Appended(_)), "keys are per tenant");
    let later = now.plus_micros(IDEMPOTENCY_WINDOW_MICROS + 1);
    let expired = store.append(&tenant("acme"), vec![event("c", 3)], Some(idem(2, later))).await.expect("expired");
    assert!(matches!(expired, AppendOutcome::Appended(_)), "a key is forgotten after 24 h");
}

pub async fn query_order_range_and_pages(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    // Times repeat so that ties must be broken by seq.
    let batch: Vec<NewEvent> = (0..40).map(|i| event("q", 1_000_000 + (i % 10) * 1000)).collect();
    store.append(&tenant("acme"), batch, None).await.expect("append");
    let range = TimeRange::new(Some(Timestamp::from_micros(1_000_000)), Some(Timestamp::from_micros(1_009_000)))
        .expect("range");
    let base = Query { range, ..all_pages(7) };
    assert_eq!(store.count(&tenant("acme"), &base).await.expect("count"), 36, "[from, to) excludes to");
    // A count of everything (the log size, without counting rows) agrees with a counted one.
    let everything = store.count(&tenant("acme"), &Query::default()).await.expect("count");
    let counted = Query { filter: Some(stele_core::Filter::parse("seq ge 1").expect("filter")), ..Query::default() };
    assert_eq!(everything, 41, "the tenant's creation and the 40 events");
    assert_eq!(store.count(&tenant("acme"), &counted).await.expect("count"), everything);

    for sort in [Sort::default(), Sort { attr: Attr::Time, descending: false }] {
        let mut walked = Vec::new();
        let mut query = Query { sort: sort.clone(), ..base.clone() };
        loop {
            let page = store.query(&tenant("acme"), &query).await.expect("page");
            assert!(page.events.len() <= 7);
            walked.extend(page.events.iter().map(|e| {
                let ev = e.event().expect("event");
                (ev.time, e.seq)
            }));
            match page.next {
                Some(c) => query.page = PageRequest::After(c),
                None => break,
            }
        }
        assert_eq!(walked.len(), 36, "{sort:?}: every event exactly once");
        assert_eq!(walked.iter().map(|w| w.1).collect::<HashSet<_>>().len(), 36);
        let mut expected = walked.clone();
        expected.sort();
        if sort.descending {
            expected.reverse();
        }
        assert_eq!(walked, expected, "{sort:?}: ordered by time, ties by seq");

        let mut by_offset = Vec::new();
        for n in (0..36).step_by(7) {
            let page = store
                .query(&tenant("acme"), &Query { sort: sort.clone(), page: PageRequest::Offset(n), ..base.clone() })
                .await
                .expect("offset page");
            by_offset.extend(page.events.iter().map(|e| e.seq));
        }
        assert_eq!(by_offset, walked.iter().map(|w| w.1).collect::<Vec<_>>(), "offset pages agree with cursors");
    }
}

pub async fn tenants_are_isolated(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    make_tenant(&*store, "globex", &[]).await;
    let out = store.append(&tenant("acme"), vec![event("secret.thing", 5)], None).await.expect("append");
    let id = out.receipts()[0].id;
    assert!(store.get_event(&tenant("globex"), &id).await.expect("get").is_none());
    let page = store.query(&tenant("globex"), &all_pages(100)).await.expect("query");
    assert!(page.events.iter().all(|e| e.event().expect("event").action != "secret.thing"));
    assert_eq!(store.count(&tenant("globex"), &Query::default()).await.expect("count"), 1);
    assert_eq!(store.count(&tenant("acme"), &Query::default()).await.expect("count"), 2);
    // Searches through each index: another tenant's event is never found, and the same search
    // finds it in its own tenant (so the check can fail). The words and the needle are in
    // acme's event only.
    let secret = events_from(serde_json::json!({"action": "secret.thing", "message": "quokkas whisper"}));
    store.append(&tenant("acme"), secret, None).await.expect("append");
    let searches = [
        Query { text: TextQuery::parse("whisper").expect("words"), ..Query::default() },
        Query { text: TextQuery::parse("quokka*").expect("words"), ..Query::default() },
        Query { filter: Some(Filter::parse(r#"message co "kas whi""#).expect("filter")), ..Query::default() },
        Query { filter: Some(Filter::parse(r#"action eq "secret.thing""#).expect("filter")), ..Query::default() },
    ];
    for query in &searches {
        assert_eq!(store.count(&tenant("globex"), query).await.expect("count"), 0, "{query:?}");
        assert!(store.query(&tenant("globex"), query).await.expect("page").events.is_empty(), "{query:?}");
        assert!(store.count(&tenant("acme"), query).await.expect("count") >= 1, "{query:?}");
    }
}

pub async fn close_rejects_later_writes(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    let pending: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(&tenant("acme"), vec![event("p", i)], None).await })
        })
        .collect();
    let mut acked = 0;
    for p in pending {
        if p.await.expect("task").is_ok() {
            acked += 1;
        }
    }
    store.close().await;
    let after = store.append(&tenant("acme"), vec![event("late", 1)], None).await;
    assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
    assert_eq!(acked, 8);
}
