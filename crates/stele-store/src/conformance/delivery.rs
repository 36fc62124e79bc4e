//! Conformance: streams — the record is versioned and written with its audit events; a new
//! stream starts at the beginning or after the tenant's newest event; only the lease
//! holder moves the progress, the cursor never moves back, and an expired lease can be
//! taken by another node; a tenant keeps a bounded number of streams; paused streams are
//! not active; streams are per tenant.

use std::sync::Arc;

use stele_core::{TenantId, Timestamp};

use super::event;
use crate::delivery::{StreamId, StreamRecord, StreamStart, MAX_STREAMS_PER_TENANT};
use crate::directory::RecordChange;
use crate::{NewTenant, Store, StoreError};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

fn record(name: &str) -> StreamRecord {
    StreamRecord {
        id: StreamId::generate(),
        name: name.into(),
        kind: "webhook".into(),
        destination: r#"{"url":"https://siem.example/in"}"#.into(),
        secrets_sealed: vec![9, 8, 7],
        filter: Some(r#"action sw "user.""#.into()),
        paused: false,
        version: 1,
        created_at: Timestamp::from_micros(10),
        updated_at: Timestamp::from_micros(10),
    }
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

pub async fn streams_and_delivery_progress(store: Arc<dyn Store>) {
    let (a, b) = (tenant("str-a"), tenant("str-b"));
    for t in [&a, &b] {
        let new = NewTenant { id: t.clone(), name: t.to_string(), aliases: vec![], created_at: Timestamp::now() };
        store.create_tenant(new, event("stele.tenant.created", 1)).await.expect("tenant created");
    }
    store.append(&a, vec![event("user.created", 2), event("user.deleted", 3)], None).await.expect("appended");
    let head = store.tree(&a).await.expect("tree").size;
    assert_eq!(head, 3);

    // Made with its event, in the same transaction: a stream starting now is past the head
    // as it was, so its own creation event is the first it delivers.
    let put = |stream: StreamRecord, previous, start| RecordChange::PutStream { stream, previous, start };
    let now = record("siem");
    store
        .change(&a, put(now.clone(), None, StreamStart::Now), vec![event("stele.stream.created", 4)])
        .await
        .expect("made");
    let from_start = record("archive");
    store.change(&a, put(from_start.clone(), None, StreamStart::Beginning), vec![]).await.expect("made");
    assert_eq!(store.tree(&a).await.expect("tree").size, 4, "the creation event was appended");
    let got = store.stream(&a, &now.id).await.expect("read").expect("exists");
    assert_eq!(got.record, now);
    assert_eq!(got.progress.cursor, 3, "starts after the head as it was before its own event");
    let got = store.stream(&a, &from_start.id).await.expect("read").expect("exists");
    assert_eq!(got.progress.cursor, 0, "starts at the beginning");
    let listed: Vec<_> = store.streams(&a).await.expect("list").into_iter().map(|s| s.record.name).collect();
    assert_eq!(listed, ["siem", "archive"], "oldest first");
    assert!(store.streams(&b).await.expect("list").is_empty(), "per tenant");
    assert_eq!(store.stream(&b, &now.id).await.expect("read"), None, "another tenant's stream is not found");

    // Versioned: a stale version is refused; pausing takes it off the active list.
    let paused = StreamRecord { paused: true, version: 2, ..now.clone() };
    let err = store.change(&a, put(paused.clone(), Some(5), StreamStart::Now), vec![]).await;
    assert!(matches!(err, Err(StoreError::VersionMismatch { current: 1 })), "stale: {err:?}");
    let err = store.change(&a, put(now.clone(), None, StreamStart::Now), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "the id exists: {err:?}");
    let active: Vec<_> = store.active_streams().await.expect("active").into_iter().map(|s| s.id).collect();
    assert!(active.contains(&now.id) && active.contains(&from_start.id), "{active:?}");
    store.change(&a, put(paused.clone(), Some(1), StreamStart::Now), vec![]).await.expect("paused");
    let active: Vec<_> = store.active_streams().await.expect("active").into_iter().map(|s| s.id).collect();
    assert!(!active.contains(&now.id) && active.contains(&from_start.id), "a paused stream is not active: {active:?}");
    assert_eq!(store.stream(&a, &now.id).await.expect("read").expect("exists").progress.cursor, 3, "progress kept");

    // The lease: one node at a time; the holder renews; another takes it once expired.
    let id = from_start.id.clone();
    let claim = |node: &str, until, now| RecordChange::ClaimStream {
        id: id.clone(),
        node: node.into(),
        until: at(until),
        now: at(now),
    };
    store.change(&a, claim("node-1", 1_000, 100), vec![]).await.expect("free lease taken");
    let err = store.change(&a, claim("node-2", 1_500, 500), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "held by node-1: {err:?}");
    store.change(&a, claim("node-1", 2_000, 900), vec![]).await.expect("the holder renews");
    let delivered = |node: &str, cursor, count| RecordChange::StreamDelivered {
        id: id.clone(),
        node: node.into(),
        cursor,
        delivered: count,
        at: at(950),
    };
    let err = store.change(&a, delivered("node-2", 2, 2), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "only the holder moves the cursor: {err:?}");
    store.change(&a, delivered("node-1", 2, 2), vec![]).await.expect("acknowledged batch");
    let failed = |node: &str| RecordChange::StreamFailed {
        id: id.clone(),
        node: node.into(),
        error: "answered HTTP 503".into(),
        at: at(960),
    };
    store.change(&a, failed("node-1"), vec![]).await.expect("failure recorded");
    store.change(&a, failed("node-1"), vec![]).await.expect("failure recorded");
    let p = store.stream(&a, &id).await.expect("read").expect("exists").progress;
    assert_eq!((p.cursor, p.delivered, p.failures), (2, 2, 2));
    assert_eq!(
        (p.last_success, p.last_error.as_deref(), p.last_error_at),
        (Some(at(950)), Some("answered HTTP 503"), Some(at(960)))
    );
    assert_eq!(p.lease.as_ref().map(|l| (l.node.as_str(), l.until)), Some(("node-1", at(2_000))));
    store.change(&a, claim("node-2", 5_000, 2_000), vec![]).await.expect("an expired lease is taken over");
    let err = store.change(&a, delivered("node-1", 4, 1), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "the old holder can no longer write: {err:?}");
    store.change(&a, delivered("node-2", 4, 2), vec![]).await.expect("the new holder delivers");
    store.change(&a, delivered("node-2", 1, 0), vec![]).await.expect("a late, lower cursor is accepted…");
    let p = store.stream(&a, &id).await.expect("read").expect("exists").progress;
    assert_eq!(
        (p.cursor, p.delivered, p.failures),
        (4, 4, 0),
        "…but never moves the cursor back; a success clears failures"
    );

    // Claims on a stream that does not exist, or of another tenant, are not found.
    let err = store.change(&b, claim("node-1", 1_000, 100), vec![]).await;
    assert!(matches!(err, Err(StoreError::RecordNotFound(..))), "{err:?}");

    // Deleted at its version, with its progress.
    let err = store.change(&a, RecordChange::DeleteStream { id: id.clone(), previous: 9 }, vec![]).await;
    assert!(matches!(err, Err(StoreError::VersionMismatch { .. })), "{err:?}");
    store.change(&a, RecordChange::DeleteStream { id: id.clone(), previous: 1 }, vec![]).await.expect("deleted");
    assert_eq!(store.stream(&a, &id).await.expect("read"), None);

    // At most MAX_STREAMS_PER_TENANT streams.
    for i in 0..MAX_STREAMS_PER_TENANT {
        store
            .change(&b, put(record(&format!("s{i}")), None, StreamStart::Now), vec![])
            .await
            .expect("within the bound");
    }
    let err = store.change(&b, put(record("one-more"), None, StreamStart::Now), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "past the bound: {err:?}");
}
