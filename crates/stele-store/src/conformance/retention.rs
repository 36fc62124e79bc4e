//! Conformance: retention — the policy is a versioned record; the expirable events are the
//! live ones older than the cut-off, oldest first, up to a seq; expiring turns exactly those
//! into tombstones that keep their leaf (the tree is unchanged, the run's event extends it),
//! removes their attributes from every index, and is all or nothing.

use std::sync::Arc;

use stele_core::{NewEvent, Query, TenantId, Timestamp};

use super::event;
use crate::directory::RecordChange;
use crate::retention::{LegalHold, RetentionPolicy};
use crate::{proofs, NewTenant, Redaction, Store, StoreError};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

pub async fn retention_expires_into_tombstones(store: Arc<dyn Store>) {
    let (a, b) = (tenant("ret-a"), tenant("ret-b"));
    for t in [&a, &b] {
        let new = NewTenant { id: t.clone(), name: t.to_string(), aliases: vec![], created_at: Timestamp::now() };
        store.create_tenant(new, event("stele.tenant.created", 1)).await.expect("tenant created");
    }

    // The policy: none, set, a stale version refused, a legal hold set.
    assert_eq!(store.retention(&a).await.expect("read"), None);
    let policy =
        RetentionPolicy { days: Some(30), legal_hold: None, version: 1, updated_at: Timestamp::from_micros(5) };
    let put = |policy: RetentionPolicy, previous| RecordChange::PutRetention { policy, previous };
    store.change(&a, put(policy.clone(), None), vec![event("stele.retention.set", 2)]).await.expect("set");
    assert_eq!(store.retention(&a).await.expect("read"), Some(policy.clone()));
    assert_eq!(store.retention(&b).await.expect("read"), None, "per tenant");
    let held =
        RetentionPolicy { legal_hold: Some(LegalHold { reason: "case 42".into() }), version: 2, ..policy.clone() };
    let err = store.change(&a, put(held.clone(), None), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    let err = store.change(&a, put(held.clone(), Some(7)), vec![]).await;
    assert!(matches!(err, Err(StoreError::VersionMismatch { current: 1 })), "{err:?}");
    store.change(&a, put(held.clone(), Some(1)), vec![]).await.expect("held");
    assert_eq!(store.retention(&a).await.expect("read"), Some(held));

    // Events at times 100..=109 (appended out of time order) and one at 1000.
    let mut batch: Vec<NewEvent> = (0..10).rev().map(|i| event("user.login", 100 + i)).collect();
    batch.push(event("user.login", 1000));
    store.append(&a, batch, None).await.expect("append");
    store.append(&b, vec![event("user.login", 100)], None).await.expect("append b");
    let head = store.tree(&a).await.expect("tree");

    // Oldest first, live only, bounded by the cut-off, the seq and the limit.
    let cut = Timestamp::from_micros(105);
    let found = store.expirable(&a, cut, u64::MAX, 100).await.expect("expirable");
    let seqs: Vec<u64> = found.iter().map(|(s, _)| *s).collect();
    // Seqs 1-2 are Stele's own events at times 1 and 2; the batch is seqs 3 (time 109) to 12
    // (time 100), then 13 (time 1000).
    assert_eq!(seqs, [1, 2, 12, 11, 10, 9, 8], "time order, not seq order");
    assert_eq!(store.expirable(&a, cut, 11, 100).await.expect("read").len(), 6, "up to a seq");
    assert_eq!(store.expirable(&a, cut, u64::MAX, 2).await.expect("read").len(), 2, "up to a limit");

    let redaction = Redaction {
        reason: "retention: older than 30 days".into(),
        by: "stele.retention".into(),
        at: Timestamp::now(),
    };
    let ids: Vec<_> = found.iter().skip(2).map(|(_, id)| *id).collect();
    store.expire(&a, ids.clone(), redaction.clone(), event("stele.retention.applied", 2000)).await.expect("expired");
    assert_eq!(proofs::root(&*store, &a, head.size).await.expect("root"), head.root, "every leaf stays");
    assert_eq!(store.tree(&a).await.expect("tree").size, head.size + 1, "the run's event extends the log");
    for id in &ids {
        let stored = store.get_event(&a, id).await.expect("get").expect("kept as a tombstone");
        let v: serde_json::Value = serde_json::from_str(&stored.json).expect("json");
        assert_eq!(v["redacted"]["by"], "stele.retention");
        assert!(v.get("actor").is_none(), "{v}");
    }
    let left: Vec<u64> = store.expirable(&a, cut, u64::MAX, 100).await.expect("read").iter().map(|(s, _)| *s).collect();
    assert_eq!(left, [1, 2], "tombstones are not expirable again");
    let q = Query {
        filter: Some(stele_core::Filter::parse(r#"actor.email eq "ana@acme.io""#).expect("f")),
        ..Query::default()
    };
    let live = store.count(&a, &q).await.expect("count");
    assert_eq!(live, head.size - ids.len() as u64 + 1, "their attributes are gone from the index");

    // All or nothing: a tombstone among the ids fails the call and changes nothing.
    let mixed = vec![found[0].1, ids[0]];
    let err = store.expire(&a, mixed, redaction.clone(), event("stele.retention.applied", 2001)).await;
    assert!(matches!(err, Err(StoreError::AlreadyRedacted(_))), "{err:?}");
    let first = store.get_event(&a, &found[0].1).await.expect("get").expect("there");
    assert!(!first.json.contains("\"redacted\""), "the live one was not touched");
    assert_eq!(store.tree(&a).await.expect("tree").size, head.size + 1, "no event was appended");
    assert_eq!(store.expirable(&b, cut, u64::MAX, 100).await.expect("read").len(), 2, "the other tenant is untouched");
}
