//! Property tests of paging: for random events, filters and sort orders, a cursor walk returns
//! exactly the events `count` reports, in order, each once; offset pages agree with it; and
//! while inserts run concurrently a walk still returns every earlier event exactly once.

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};
use stele_core::{parse_ingest_body, Limit, Limits, PageRequest, Query, Sort, TenantId, Timestamp};
use stele_sqlite::SqliteStore;
use stele_store::{NewTenant, Store};

fn tenant() -> TenantId {
    TenantId::parse("acme").expect("id")
}

fn event_json(
    action: u8,
    status: u8,
    email: Option<u8>,
    minute: u8,
    targets: &[u8],
    env: Option<u8>,
    code: Option<u16>,
) -> Value {
    let status = ["success", "failure", "warning", "pending"][usize::from(status % 4)];
    let mut e = json!({
        "action": format!("act.{action}"),
        "status": status,
        "time": Timestamp::from_micros(1_700_000_000_000_000 + i64::from(minute) * 60_000_000).to_string(),
        "targets": targets.iter().map(|t| json!({"type": "User", "id": format!("t{t}")})).collect::<Vec<_>>(),
    });
    if let Some(m) = email {
        e["actor"] = json!({"email": format!("U{m}@acme.io"), "name": format!("user {m}")});
    }
    if let Some(v) = env {
        e["context"] = json!({"env": format!("env{v}")});
    }
    if let Some(c) = code {
        e["request"] = json!({"status_code": c});
    }
    e
}

fn events_strategy() -> impl Strategy<Value = Vec<Value>> {
    let one = (
        0u8..4,
        0u8..4,
        proptest::option::of(0u8..4),
        0u8..6,
        proptest::collection::vec(0u8..5, 0..3),
        proptest::option::of(0u8..3),
        proptest::option::of(prop_oneof![Just(200u16), Just(201), Just(404), Just(500)]),
    )
        .prop_map(|(a, s, m, t, tg, env, code)| event_json(a, s, m, t, &tg, env, code));
    proptest::collection::vec(one, 0..60)
}

const ATOMS: &[&str] = &[
    r#"action eq "act.1""#,
    r#"action sw "ACT.""#,
    r#"status eq "failure""#,
    r#"actor.email eq "u2@acme.io""#,
    r#"actor.email pr"#,
    r#"actor.name co "1""#,
    r#"target.id eq "t3""#,
    r#"target.id ne "t1""#,
    r#"context.env eq "env0""#,
    r#"context.env pr"#,
    r#"request.status_code ge 400"#,
    r#"time gt "2023-11-14T22:15:00Z""#,
    r#"seq le 20"#,
];

fn filter_strategy() -> impl Strategy<Value = Option<String>> {
    let atom = proptest::sample::select(ATOMS).prop_map(str::to_owned);
    let tree = atom.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    });
    proptest::option::of(tree)
}

fn sort_strategy() -> impl Strategy<Value = Sort> {
    proptest::sample::select(vec![
        "-time",
        "time",
        "action",
        "-action",
        "-actor.email",
        "actor.name",
        "seq",
        "-request.status_code",
        "status",
    ])
    .prop_map(|s| Sort::parse(s).expect("sort"))
}

async fn store_with(events: &[Value]) -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("stele.db")).expect("open"));
    let audit = parse_ingest_body(
        br#"{"action":"stele.tenant.created","time":"2023-11-14T22:13:20Z"}"#,
        &Limits::default(),
        Timestamp::now(),
    )
    .expect("valid")
    .events
    .remove(0);
    let t = NewTenant { id: tenant(), name: "Acme".into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(t, audit).await.expect("tenant");
    if !events.is_empty() {
        let body = json!({ "events": events }).to_string();
        let parsed = parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid batch");
        store.append(&tenant(), parsed.events, None).await.expect("append");
    }
    (store, dir)
}

/// The sort key of a served event, as the database orders it (NULL lowest, ASCII case folded).
fn key(e: &Value, sort: &Sort) -> (Option<String>, i64) {
    let path: Vec<&str> = match sort.attr.name().as_ref() {
        "request.status_code" => vec!["request", "status_code"],
        other => other.split('.').map(|s| Box::leak(s.to_owned().into_boxed_str()) as &str).collect(),
    };
    let v = path.iter().try_fold(e, |v, k| v.get(*k));
    let k = match v {
        Some(Value::Number(n)) => Some(format!("{:020}", n.as_i64().unwrap_or(0))),
        Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
        _ => None,
    };
    (k, e["seq"].as_i64().unwrap_or(0))
}

async fn walk(store: &SqliteStore, query: &Query) -> Vec<Value> {
    let mut q = query.clone();
    let mut out = Vec::new();
    loop {
        let page = store.query(&tenant(), &q).await.expect("page");
        assert!(page.events.len() <= q.limit.get() as usize);
        out.extend(page.events.iter().map(|e| serde_json::from_str::<Value>(&e.to_json()).expect("json")));
        match page.next {
            Some(c) => q.page = PageRequest::After(c),
            None => return out,
        }
    }
}

fn check_order(events: &[Value], sort: &Sort) {
    for pair in events.windows(2) {
        let (a, b) = (key(&pair[0], sort), key(&pair[1], sort));
        if sort.descending {
            assert!(a > b, "{sort:?}: {a:?} before {b:?}");
        } else {
            assert!(a < b, "{sort:?}: {a:?} before {b:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn cursor_walks_match_count_and_offsets(events in events_strategy(), filter in filter_strategy(), sort in sort_strategy(), page in 1u32..8) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async {
            let (store, _dir) = store_with(&events).await;
            let query = Query {
                filter: filter.as_deref().map(|f| stele_core::Filter::parse(f).expect("filter")),
                sort: sort.clone(),
                limit: Limit::new(page).expect("limit"),
                ..Query::default()
            };
            let walked = walk(&store, &query).await;
            let count = store.count(&tenant(), &query).await.expect("count");
            assert_eq!(walked.len() as u64, count, "walk vs count for {filter:?}");
            let seqs: HashSet<i64> = walked.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
            assert_eq!(seqs.len(), walked.len(), "no duplicates");
            check_order(&walked, &sort);
            let mut by_offset = Vec::new();
            let mut offset = 0u64;
            loop {
                let q = Query { page: PageRequest::Offset(offset), ..query.clone() };
                let p = store.query(&tenant(), &q).await.expect("offset page");
                if p.events.is_empty() { break; }
                offset += p.events.len() as u64;
                by_offset.extend(p.events.iter().map(|e| e.seq.get() as i64));
            }
            assert_eq!(by_offset, walked.iter().map(|e| e["seq"].as_i64().expect("seq")).collect::<Vec<_>>());
            store.close().await;
        });
    }

    #[test]
    fn walks_stay_exact_while_inserts_run(events in events_strategy(), sort in sort_strategy(), page in 1u32..6) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async {
            let (store, _dir) = store_with(&events).await;
            let query = Query { sort: sort.clone(), limit: Limit::new(page).expect("limit"), ..Query::default() };
            let before: HashSet<i64> = walk(&store, &Query { limit: Limit::new(1000).expect("limit"), ..query.clone() })
                .await.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
            let writer = {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..20u8 {
                        let body = json!({"events": [event_json(i % 4, i, Some(i % 4), i % 6, &[i % 5], Some(i % 3), None)]}).to_string();
                        let parsed = parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid");
                        store.append(&tenant(), parsed.events, None).await.expect("append");
                    }
                })
            };
            let walked = walk(&store, &query).await;
            writer.await.expect("writer");
            let seqs: Vec<i64> = walked.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
            let unique: HashSet<i64> = seqs.iter().copied().collect();
            assert_eq!(unique.len(), seqs.len(), "no duplicates while inserting");
            assert!(before.is_subset(&unique), "every earlier event is returned: missing {:?}", before.difference(&unique).collect::<Vec<_>>());
            check_order(&walked, &sort);
            store.close().await;
        });
    }
}
