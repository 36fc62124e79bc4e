//! Conformance: histogram and facet counts are exact counts of what the query matches
//! (filter, range), per bucket and per value, in the tenant alone.

use std::sync::Arc;

use stele_core::{parse_ingest_body, Filter, Limits, NewEvent, Query, TenantId, TimeRange, Timestamp};

use super::event;
use crate::stats::{Buckets, Facet, FacetValue};
use crate::{NewTenant, Store};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

const BASE: i64 = 1_700_000_000_000_000;
const MINUTE: i64 = 60_000_000;

fn ingest(body: serde_json::Value) -> NewEvent {
    let any_time = Limits { max_future_skew_seconds: u64::MAX, ..Limits::default() };
    let mut parsed = parse_ingest_body(body.to_string().as_bytes(), &any_time, Timestamp::now()).expect("valid event");
    parsed.events.remove(0)
}

fn values(list: &[(&str, u64)]) -> Vec<FacetValue> {
    list.iter().map(|(v, n)| FacetValue { value: (*v).into(), count: *n }).collect()
}

pub async fn histogram_and_facets(store: Arc<dyn Store>) {
    let (a, b) = (tenant("stats-a"), tenant("stats-b"));
    for t in [&a, &b] {
        let new = NewTenant { id: t.clone(), name: t.to_string(), aliases: vec![], created_at: Timestamp::now() };
        store.create_tenant(new, event("stele.tenant.created", 1)).await.expect("tenant");
    }
    let events: Vec<NewEvent> = (0..10i64)
        .map(|i| {
            let targets = if i < 8 {
                serde_json::json!([{"type": "Document", "id": format!("d{i}")}])
            } else {
                serde_json::json!([{"type": "User", "id": "u1"}, {"type": "User", "id": "u2"}])
            };
            ingest(serde_json::json!({
                "action": if i < 6 { "doc.read" } else { "user.login" },
                "status": if i % 3 == 0 { "failure" } else { "success" },
                "actor": {"email": if i % 2 == 0 { "ana@acme.io" } else { "bo@acme.io" }},
                "targets": targets,
                "time": Timestamp::from_micros(BASE + i * MINUTE).to_string(),
            }))
        })
        .collect();
    store.append(&a, events, None).await.expect("append");
    store.append(&b, vec![event("other.thing", BASE)], None).await.expect("append");

    let buckets = Buckets { start: Timestamp::from_micros(BASE), width_micros: 2 * MINUTE, count: 5 };
    let all = Query::default();
    assert_eq!(store.histogram(&a, &all, &buckets).await.expect("histogram"), vec![2, 2, 2, 2, 2]);
    let failures = Query { filter: Some(Filter::parse(r#"status eq "failure""#).expect("filter")), ..Query::default() };
    assert_eq!(store.histogram(&a, &failures, &buckets).await.expect("histogram"), vec![1, 1, 0, 1, 1]);
    let later = Query {
        range: TimeRange::new(Some(Timestamp::from_micros(BASE + 4 * MINUTE)), None).expect("range"),
        ..Query::default()
    };
    assert_eq!(store.histogram(&a, &later, &buckets).await.expect("histogram"), vec![0, 0, 2, 2, 2]);
    let wide = Buckets { start: Timestamp::from_micros(0), width_micros: BASE, count: 2 };
    assert_eq!(store.histogram(&a, &all, &wide).await.expect("histogram"), vec![1, 10], "the tenant event at 1 µs");
    assert_eq!(store.histogram(&b, &all, &buckets).await.expect("histogram"), vec![1, 0, 0, 0, 0], "own tenant only");

    // Facets (the tenant's own `stele.tenant.created` event is one of the matches).
    let facet = |q: Query, f: Facet, limit: u32| {
        let (store, a) = (store.clone(), a.clone());
        async move { store.facet(&a, &q, f, limit).await.expect("facet") }
    };
    assert_eq!(
        facet(all.clone(), Facet::Action, 10).await,
        values(&[("doc.read", 6), ("user.login", 4), ("stele.tenant.created", 1)])
    );
    assert_eq!(facet(all.clone(), Facet::Action, 1).await, values(&[("doc.read", 6)]));
    assert_eq!(facet(all.clone(), Facet::Status, 10).await, values(&[("success", 7), ("failure", 4)]));
    assert_eq!(facet(all.clone(), Facet::ActorEmail, 10).await, values(&[("ana@acme.io", 6), ("bo@acme.io", 5)]));
    assert_eq!(facet(all.clone(), Facet::TargetType, 10).await, values(&[("document", 8), ("user", 3)]));
    assert_eq!(facet(failures.clone(), Facet::Action, 10).await, values(&[("doc.read", 2), ("user.login", 2)]));
    assert_eq!(facet(failures, Facet::TargetType, 10).await, values(&[("document", 3), ("user", 1)]));
    let b_actions = store.facet(&b, &all, Facet::Action, 10).await.expect("facet");
    assert_eq!(b_actions, values(&[("other.thing", 1), ("stele.tenant.created", 1)]));
}
