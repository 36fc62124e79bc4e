//! The query shapes users run most use an index: checked with `EXPLAIN QUERY PLAN` on a
//! database with enough data for the planner to choose as it would in production.

use std::sync::Arc;

use stele_core::{parse_ingest_body, Limits, Query, TenantId, TextQuery, Timestamp};
use stele_sqlite::{IndexMode, SqliteOptions, SqliteStore};
use stele_store::{NewTenant, Store};

async fn store_with_data() -> (Arc<SqliteStore>, tempfile::TempDir) {
    store_with_data_in(IndexMode::Background).await
}

/// [`store_with_data`] with the indexer in `mode` (`Never`: only `catch_up_index` moves the
/// mark, so what is appended after it stays in the tail).
async fn store_with_data_in(mode: IndexMode) -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let options = SqliteOptions { index: mode, ..SqliteOptions::default() };
    let store = Arc::new(SqliteStore::open_with(&dir.path().join("stele.db"), options).expect("open"));
    let audit = |a: &str| {
        let body = format!("{{\"action\":\"{a}\"}}");
        parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid").events.remove(0)
    };
    for t in ["acme", "globex"] {
        let tenant = NewTenant {
            id: TenantId::parse(t).expect("id"),
            name: t.into(),
            aliases: vec![],
            created_at: Timestamp::now(),
        };
        store.create_tenant(tenant, audit("stele.tenant.created")).await.expect("tenant");
    }
    let events: Vec<serde_json::Value> = (0..600)
        .map(|i| {
            serde_json::json!({
                "action": format!("action.{}", i % 40),
                "status": if i % 10 == 0 { "failure" } else { "success" },
                "message": format!("message number {i}"),
                "actor": {"id": format!("u_{}", i % 50), "email": format!("user{}@acme.io", i % 50)},
                "targets": [{"type": "User", "id": format!("t_{}", i % 70)}],
                "context": {"env": format!("env_{}", i % 3), "product_id": format!("p_{}", i % 20)},
                "time": Timestamp::from_micros(1_700_000_000_000_000 + i * 1_000_000).to_string(),
            })
        })
        .collect();
    let batch = serde_json::json!({ "events": events }).to_string();
    let parsed = parse_ingest_body(batch.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid batch");
    store.append(&TenantId::parse("acme").expect("id"), parsed.events, None).await.expect("append");
    (store, dir)
}

fn filtered(filter: &str) -> Query {
    Query { filter: Some(stele_core::Filter::parse(filter).expect("filter")), ..Query::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_shapes_use_an_index() {
    let (store, _dir) = store_with_data().await;
    store.catch_up_index().await.expect("indexed");
    let tenant = TenantId::parse("acme").expect("id");
    // Rare values start from their postings (rowid lookups); the time index serves the rest.
    let by_rowid = "SEARCH events USING INTEGER PRIMARY KEY (rowid=?)";
    let cases: Vec<(&str, Query, &str)> = vec![
        ("newest first", Query::default(), "events_time"),
        ("action eq", filtered(r#"action eq "action.3""#), by_rowid),
        ("actor.id eq", filtered(r#"actor.id eq "u_7""#), by_rowid),
        ("actor.email eq", filtered(r#"actor.email eq "user7@acme.io""#), by_rowid),
        ("status eq", filtered(r#"status eq "failure""#), by_rowid),
        ("target.id eq", filtered(r#"target.id eq "t_5""#), by_rowid),
        ("context.env eq", filtered(r#"context.env eq "env_1""#), by_rowid),
        ("text search", Query { text: TextQuery::parse("number").expect("q"), ..Query::default() }, by_rowid),
    ];
    for (name, query, index) in cases {
        let plan = store.explain(&tenant, &query).await.expect("plan");
        let text = plan.join(" | ");
        // The page reads its rows' JSON by rowid once the inner query has chosen them.
        let (outer, inner) = text.split_once(" | LIST SUBQUERY").expect("a page chosen by a subquery");
        assert_eq!(outer, by_rowid, "{name}: the page's rows are read by rowid: {text}");
        assert!(inner.contains(index), "{name}: expected {index} in the plan: {text}");
        if index == by_rowid {
            let lookup = if name == "text search" { "events_fts" } else { "postings" };
            assert!(inner.contains(lookup), "{name}: expected {lookup} in the plan: {text}");
        }
        let full_scan = plan.iter().any(|step| step.starts_with("SCAN events") && !step.contains("INDEX"));
        assert!(!full_scan, "{name}: scans the whole events table: {text}");
        eprintln!("{name}: {text}");
    }
    store.close().await;
}

/// A page in time order with a term equality walks that term's postings (in `(time, seq)`
/// order, so nothing is sorted before the page is cut), the rarest of several, with the others
/// looked up in the postings before an event's row is read; with no term among the
/// conjuncts, common terms are probed per event along the time index. Every page and the
/// count agree, the un-indexed tail included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn term_pages_walk_their_postings_and_stay_exact() {
    let (store, _dir) = store_with_data_in(IndexMode::Never).await;
    let tenant = TenantId::parse("acme").expect("id");
    // 6000 more events, 4 in 5 with env_hot (dense: more than 4000); the last 300 stay in
    // the un-indexed tail.
    let append = |chunk: i64, n: i64| {
        let events: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let env = if i % 5 == 0 { "env_cold" } else { "env_hot" };
                let email = if i % 7 == 0 { "rare@acme.io" } else { "bulk@acme.io" };
                serde_json::json!({"action": "bulk", "context": {"env": env}, "targets": [{"id": format!("b_{chunk}")}],
                    "actor": {"email": email},
                    "time": Timestamp::from_micros(1_750_000_000_000_000 + (chunk * 1000 + i) * 1_000).to_string()})
            })
            .collect();
        let body = serde_json::json!({ "events": events }).to_string();
        parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid").events
    };
    // Each term's postings in both tables: the first half merged into `postings`, the
    // second half in `recent_postings` (below the merge threshold, so not merged by itself).
    for chunk in 0..6 {
        store.append(&tenant, append(chunk, 950), None).await.expect("append");
        store.catch_up_index().await.expect("indexed");
        if chunk == 2 {
            store.merge_index().await.expect("merged");
        }
    }
    for chunk in 0..6 {
        store.append(&tenant, append(chunk, 50), None).await.expect("append");
    }
    assert_eq!(store.index_lag(), 300, "the last 300 events are in the tail");
    type Check = fn(&str, &str) -> bool;
    let cases: [(&str, &str, Option<&str>, u64, Check); 10] = [
        // (filter, sort, walked term, matches, what each match satisfies)
        (r#"context.env eq "ENV_HOT""#, "-time", Some("context.env=env_hot"), 4800, |e, _| e == "env_hot"),
        (
            r#"context.env eq "env_hot" and target.id eq "b_3""#,
            "-time",
            Some("target.id=b_3 CHECK context.env=env_hot"),
            800,
            |e, t| e == "env_hot" && t == "b_3",
        ),
        (
            r#"target.id eq "b_3" and context.env eq "env_cold""#,
            "time",
            Some("target.id=b_3 CHECK context.env=env_cold"),
            200,
            |e, t| e == "env_cold" && t == "b_3",
        ),
        // The rarest walked, then the next rarest looked up first.
        (
            r#"action eq "bulk" and context.env eq "env_cold" and target.id eq "b_3""#,
            "-time",
            Some("target.id=b_3 CHECK context.env=env_cold, action=bulk"),
            200,
            |e, t| e == "env_cold" && t == "b_3",
        ),
        (r#"action eq "bulk""#, "time", Some("action=bulk"), 6000, |_, _| true),
        // Both common: the one whose postings reach farther back from the page's start.
        (
            r#"action eq "bulk" and context.env eq "env_hot""#,
            "-time",
            Some("context.env=env_hot CHECK action=bulk"),
            4800,
            |e, _| e == "env_hot",
        ),
        // From the oldest: farther is later. (The other order of the conjuncts: a tie
        // would keep it and walk `action`.)
        (
            r#"context.env eq "env_hot" and action eq "bulk""#,
            "time",
            Some("context.env=env_hot CHECK action=bulk"),
            4800,
            |e, _| e == "env_hot",
        ),
        // One action by one actor: the pair's postings, which stand for both terms (no
        // lookup of either); the environment looked up. Every 35th event of a chunk: 28 of
        // 950 and 2 of 50, in six chunks.
        (
            r#"action eq "bulk" and actor.email eq "RARE@acme.io" and context.env eq "env_cold""#,
            "-time",
            Some("action+actor.email=bulk\u{1f}rare@acme.io CHECK context.env=env_cold"),
            180,
            |e, _| e == "env_cold",
        ),
        // A common pair (all but every 7th of each chunk: 136 of 950, 8 of 50), walked alone.
        (
            r#"actor.email eq "bulk@acme.io" and action eq "bulk""#,
            "time",
            Some("action+actor.email=bulk\u{1f}bulk@acme.io"),
            6000 - 6 * 144,
            |_, _| true,
        ),
        // No term among the conjuncts: the time index, each event probed.
        // The fixture's 600 events and its tenant's creation, and 1200 of env_cold.
        (r#"not (context.env eq "env_hot")"#, "-time", None, 601 + 1200, |e, _| e != "env_hot"),
    ];
    // First with the second half's postings in the recent table, then with all of them merged
    // (the idle indexer's state), when reads leave the recent table out.
    for merged in [false, true] {
        if merged {
            store.merge_index().await.expect("merged");
        }
        for &(filter, sort, walked_term, expected, check) in &cases {
            walk_case(&store, &tenant, merged, filter, sort, walked_term, expected, check).await;
        }
    }
    store.close().await;
}

/// One case of [`term_pages_walk_their_postings_and_stay_exact`].
#[allow(clippy::too_many_arguments)]
async fn walk_case(
    store: &SqliteStore,
    tenant: &TenantId,
    merged: bool,
    filter: &str,
    sort: &str,
    walked_term: Option<&str>,
    expected: u64,
    check: fn(&str, &str) -> bool,
) {
    let env = |v: &serde_json::Value| v["context"]["env"].as_str().unwrap_or_default().to_owned();
    let target = |v: &serde_json::Value| v["targets"][0]["id"].as_str().unwrap_or_default().to_owned();
    {
        let query = Query {
            limit: stele_core::Limit::new(700).expect("limit"),
            sort: stele_core::Sort::parse(sort).expect("sort"),
            ..filtered(filter)
        };
        let plan = store.explain(tenant, &query).await.expect("plan");
        let text = plan.join(" | ");
        // The walk has an arm per postings table the tenant has postings in.
        let arms = ["postings", "recent_postings"].map(|table| {
            let step = format!("SEARCH {table} USING PRIMARY KEY (tenant_no=? AND tid=?)");
            plan.iter().position(|s| *s == step)
        });
        let tables = if merged { 1 } else { 2 };
        match walked_term {
            Some(term) => {
                assert_eq!(plan.last(), Some(&format!("WALK {term}")), "{filter}: walks the rarest term");
                assert_eq!(arms[1].is_some(), !merged, "{filter}, merged {merged}: the recent arm: {text}");
                for start in arms.into_iter().take(tables) {
                    let start = start.unwrap_or_else(|| panic!("{filter}: walks the postings tables: {text}"));
                    // The arm's own steps, up to where its rows are scanned: no sort among them.
                    let steps: Vec<&String> =
                        plan[start..].iter().take_while(|s| !s.starts_with("SCAN (subquery")).collect();
                    assert!(
                        steps.iter().any(|s| s.contains("SEARCH events USING INTEGER PRIMARY KEY (rowid=?)")),
                        "{text}"
                    );
                    assert!(!steps.iter().any(|s| s.contains("TEMP B-TREE")), "{filter}: the walk sorts: {text}");
                    // Each other term is looked up in each table.
                    let checks = term.matches(", ").count() + usize::from(term.contains(" CHECK "));
                    let lookups = steps.iter().filter(|s| s.starts_with("SEARCH c USING")).count();
                    assert_eq!(lookups, tables * checks, "{filter}: {text}");
                }
            }
            None => {
                assert!(arms.iter().all(Option::is_none), "{filter}: {text}");
                assert!(text.contains("CORRELATED"), "{filter}: expected a per-event probe: {text}");
            }
        }
        let ascending = !sort.starts_with('-');
        let mut q = query.clone();
        let (mut walked, mut last): (u64, Option<(String, u64)>) = (0, None);
        loop {
            let page = store.query(tenant, &q).await.expect("page");
            for e in &page.events {
                let v: serde_json::Value = serde_json::from_str(&e.json).expect("json");
                assert!(check(&env(&v), &target(&v)), "{filter}: {v} does not match");
                let key = (v["time"].as_str().expect("time").to_owned(), e.seq.get());
                assert!(last.as_ref().is_none_or(|l| (*l < key) == ascending), "{filter}: in order, no repeats");
                last = Some(key);
            }
            walked += page.events.len() as u64;
            match page.next {
                Some(c) => q.page = stele_core::PageRequest::After(c),
                None => break,
            }
        }
        assert_eq!(walked, expected, "{filter}: every match, once");
        assert_eq!(store.count(tenant, &query).await.expect("count"), expected, "{filter}: the count agrees");
    }
}

/// The fixture plus 5 037 `bulk.load` events whose messages `message(i)` makes: 5 000
/// indexed, the last 37 left in the tail (the index never runs by itself).
async fn bulk_with_tail(message: fn(i64) -> String) -> (Arc<SqliteStore>, tempfile::TempDir, TenantId) {
    bulk_with_tail_at(message, |i| i).await
}

/// [`bulk_with_tail`] with event i at 1_750_000_000_000_000 + `at(i)` ms.
async fn bulk_with_tail_at(
    message: fn(i64) -> String,
    at: fn(i64) -> i64,
) -> (Arc<SqliteStore>, tempfile::TempDir, TenantId) {
    let (store, dir) = store_with_data_in(IndexMode::Never).await;
    let tenant = TenantId::parse("acme").expect("id");
    let append = |from: i64, n: i64| {
        let events: Vec<serde_json::Value> = (from..from + n)
            .map(|i| {
                serde_json::json!({"action": "bulk.load", "message": message(i),
                    "time": Timestamp::from_micros(1_750_000_000_000_000 + at(i) * 1_000).to_string()})
            })
            .collect();
        let body = serde_json::json!({ "events": events }).to_string();
        parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid").events
    };
    for chunk in 0..5 {
        store.append(&tenant, append(chunk * 1000, 1000), None).await.expect("append");
    }
    store.catch_up_index().await.expect("indexed");
    store.append(&tenant, append(5000, 37), None).await.expect("append");
    assert_eq!(store.index_lag(), 37, "the last 37 events are in the tail");
    (store, dir, tenant)
}

/// Every page of `query`, following cursors: checks newest-first order without repeats and
/// `each` on every event; returns how many events it saw.
async fn walk_pages(store: &SqliteStore, tenant: &TenantId, query: &Query, each: impl Fn(&serde_json::Value)) -> u64 {
    let mut q = query.clone();
    let (mut walked, mut last) = (0u64, None);
    loop {
        let page = store.query(tenant, &q).await.expect("page");
        for e in &page.events {
            let v: serde_json::Value = serde_json::from_str(&e.json).expect("json");
            each(&v);
            let key = (v["time"].as_str().expect("time").to_owned(), e.seq.get());
            assert!(last.as_ref().is_none_or(|l| *l > key), "newest first, no repeats: {query:?}");
            last = Some(key);
        }
        walked += page.events.len() as u64;
        match page.next {
            Some(c) => q.page = stele_core::PageRequest::After(c),
            None => break,
        }
    }
    walked
}

/// Every event of `query`'s pages, following cursors from its first.
async fn all_pages(store: &SqliteStore, tenant: &TenantId, query: &Query) -> Vec<stele_core::StoredEvent> {
    let (mut q, mut out) = (query.clone(), Vec::new());
    loop {
        let page = store.query(tenant, &q).await.expect("page");
        out.extend(page.events);
        match page.next {
            Some(c) => q.page = stele_core::PageRequest::After(c),
            None => break,
        }
    }
    out
}

/// The seqs of [`all_pages`].
async fn all_seqs(store: &SqliteStore, tenant: &TenantId, query: &Query) -> Vec<u64> {
    all_pages(store, tenant, query).await.iter().map(|e| e.seq.get()).collect()
}

/// Pages of `query` (which matches every `bulk.load` event of [`bulk_with_tail`], `n` of
/// them, so it is read in windows) in the other direction, from an offset past the first
/// window, and within a time range: the same events as the newest-first pages, in order.
async fn windows_agree(store: &SqliteStore, tenant: &TenantId, query: &Query, n: usize) {
    let seqs = |q: Query| async move { all_seqs(store, tenant, &q).await };
    let plan = store.explain(tenant, query).await.expect("plan").join(" | ");
    assert!(plan.ends_with("WINDOWS from 256 events"), "read in windows: {plan}");
    let newest = seqs(query.clone()).await;
    assert_eq!(newest.len(), n);
    let oldest = seqs(Query { sort: stele_core::Sort::parse("time").expect("sort"), ..query.clone() }).await;
    assert_eq!(oldest, newest.iter().rev().copied().collect::<Vec<_>>(), "ascending windows");
    let offset = Query { page: stele_core::PageRequest::Offset(2500), ..query.clone() };
    let page = store.query(tenant, &offset).await.expect("page");
    let got: Vec<u64> = page.events.iter().map(|e| e.seq.get()).collect();
    let limit = query.limit.get() as usize;
    assert_eq!(got, newest[2500..2500 + limit].to_vec(), "an offset page");
    // bulk_with_tail's event i is at 1_750_000_000_000_000 + i ms: events 1000..3000.
    let range = stele_core::TimeRange {
        from: Some(Timestamp::from_micros(1_750_000_001_000_000)),
        to: Some(Timestamp::from_micros(1_750_000_003_000_000)),
    };
    let ranged = seqs(Query { range, ..query.clone() }).await;
    assert_eq!(ranged.len(), 2000, "the range's events");
    let first = newest.iter().position(|s| Some(s) == ranged.first()).expect("in the walk");
    assert_eq!(ranged, newest[first..first + 2000].to_vec(), "a time range");
}

/// Words in most events (`q=bulk`) are read in windows along the time index, each window's
/// matches found by one ranged full-text query, the un-indexed tail included; every page
/// (limits above and below a window's size) and the count (which collects the matches)
/// agree, and rare words still start from their matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_words_are_read_in_windows_and_stay_exact() {
    // After the mark: found by probing the reader's tail documents.
    let (store, _dir, tenant) = bulk_with_tail(|i| format!("bulk item k{i}")).await;
    let words = |q: &str| Query {
        text: TextQuery::parse(q).expect("words"),
        limit: stele_core::Limit::new(700).expect("limit"),
        ..Query::default()
    };
    for (q, expected) in [("bulk", 5037u64), ("bulk item", 5037), ("k5036", 1), ("k12", 1), ("nowhere", 0)] {
        let query = words(q);
        let plan = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        let dense = expected > 4000;
        assert_eq!(plan.ends_with("WINDOWS from 256 events"), dense, "{q}: windows only for common words: {plan}");
        // Either way the words' matches drive: collected, or between a window's rowids.
        assert!(plan.contains("SCAN events_fts VIRTUAL TABLE"), "{q}: {plan}");
        assert!(!plan.contains("CORRELATED"), "{q}: no per-event lookup: {plan}");
        let walked = walk_pages(&store, &tenant, &query, |_| {}).await;
        assert_eq!(walked, expected, "{q}: every match, once");
        assert_eq!(store.count(&tenant, &query).await.expect("count"), expected, "{q}: the count agrees");
    }
    windows_agree(&store, &tenant, &words("bulk"), 5037).await;
    store.close().await;
}

/// Windows over a log whose times are far out of seq order: a window's events (the next
/// ones in time order) have seqs scattered over the log, so its rowid range must run from
/// their least to their greatest seq, not between the seqs of its first and last event.
/// Newest-first and oldest-first pages of common words and of a common substring, their
/// windows growing, are exactly the matches a page in seq order (collected, no windows)
/// finds, sorted by time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_over_times_out_of_seq_order_stay_exact() {
    // Event i at (i · 2713 mod 5037) ms: a permutation of the 5 037 events' times (gcd 1).
    let (store, _dir, tenant) = bulk_with_tail_at(
        |i| format!("bulk item k{i}{}", if i % 4 == 0 { " quartz" } else { "" }),
        |i| i * 2713 % 5037,
    )
    .await;
    let limited = |q: Query| Query { limit: stele_core::Limit::new(100).expect("limit"), ..q };
    let queries = [
        (limited(Query { text: TextQuery::parse("quartz").expect("words"), ..Query::default() }), 1260),
        (limited(filtered(r#"message co "quartz""#)), 1260),
        (limited(Query { text: TextQuery::parse("bulk").expect("words"), ..Query::default() }), 5037),
    ];
    for (query, n) in queries {
        let plan = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        assert!(plan.ends_with("WINDOWS from 256 events"), "read in windows: {plan}");
        let by_seq = Query { sort: stele_core::Sort::parse("seq").expect("sort"), ..query.clone() };
        let plan = store.explain(&tenant, &by_seq).await.expect("plan").join(" | ");
        assert!(!plan.ends_with("WINDOWS from 256 events"), "collected: {plan}");
        let mut expected: Vec<(String, u64)> = all_pages(&store, &tenant, &by_seq)
            .await
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.json).expect("json");
                (v["time"].as_str().expect("time").to_owned(), e.seq.get())
            })
            .collect();
        assert_eq!(expected.len(), n, "{query:?}: every match");
        expected.sort();
        let oldest: Vec<u64> = expected.iter().map(|(_, seq)| *seq).collect();
        let newest: Vec<u64> = oldest.iter().rev().copied().collect();
        assert_eq!(all_seqs(&store, &tenant, &query).await, newest, "{query:?}: newest first");
        let ascending = Query { sort: stele_core::Sort::parse("time").expect("sort"), ..query.clone() };
        assert_eq!(all_seqs(&store, &tenant, &ascending).await, oldest, "{query:?}: oldest first");
    }
    store.close().await;
}

/// Windows found from the index's time spans (`spans`, 2^30 µs each) once the log has no
/// un-indexed tail: events 20 s apart (~54 a span), one in ten at a permuted time (so a
/// span's seqs are scattered), and a burst of 600 in one span (denser than two first
/// windows: walked on the time index instead). Every page — both orders, cursors with small
/// and large limits, offsets, time ranges whose ends fall inside spans — holds exactly the
/// matches a page in seq order (no windows) finds, sorted by time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_from_time_spans_stay_exact() {
    const BURST: std::ops::Range<i64> = 2000..2600;
    let at = |i: i64| match i {
        i if BURST.contains(&i) => BURST.start * 20_000 + i,
        i if i % 10 == 9 => (i * 2713 % 5037) * 20_000 + 7,
        i => i * 20_000,
    };
    let (store, _dir, tenant) =
        bulk_with_tail_at(|i| format!("bulk item k{i}{}", if i % 4 == 0 { " quartz" } else { "" }), at).await;
    // The tail indexed: the spans can tell every window.
    store.catch_up_index().await.expect("indexed");
    assert_eq!(store.index_lag(), 0);
    let time = |e: &stele_core::StoredEvent| {
        let v: serde_json::Value = serde_json::from_str(&e.json).expect("json");
        Timestamp::parse(v["time"].as_str().expect("time")).expect("a time").as_micros()
    };
    let queries = [
        (Query { text: TextQuery::parse("quartz").expect("words"), ..Query::default() }, 1260),
        (filtered(r#"message co "quartz""#), 1260),
        (Query { text: TextQuery::parse("bulk").expect("words"), ..Query::default() }, 5037),
    ];
    for (query, n) in queries {
        let plan = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        assert!(plan.ends_with("WINDOWS from 256 events"), "read in windows: {plan}");
        let by_seq = Query { sort: stele_core::Sort::parse("seq").expect("sort"), ..query.clone() };
        let mut expected: Vec<(i64, u64)> =
            all_pages(&store, &tenant, &by_seq).await.iter().map(|e| (time(e), e.seq.get())).collect();
        assert_eq!(expected.len(), n, "{query:?}: every match");
        expected.sort();
        // Times inside spans (not at their edges), one in the burst's span.
        let edges = [
            expected[n / 7].0 + 3,
            expected[n / 2].0 - 5,
            1_750_000_000_000_000 + (BURST.start * 20_000 + 300) * 1_000,
            expected[n - 20].0,
        ];
        for limit in [60, 700] {
            for descending in [true, false] {
                let sort = stele_core::Sort::parse(if descending { "-time" } else { "time" }).expect("sort");
                let limit = stele_core::Limit::new(limit).expect("limit");
                let base = Query { sort, limit, ..query.clone() };
                let ordered = |from: i64, to: i64| {
                    let mut keys: Vec<u64> =
                        expected.iter().filter(|(t, _)| (from..to).contains(t)).map(|(_, seq)| *seq).collect();
                    if descending {
                        keys.reverse();
                    }
                    keys
                };
                let all = ordered(i64::MIN, i64::MAX);
                assert_eq!(all_seqs(&store, &tenant, &base).await, all, "{query:?} {limit:?} {descending}: every page");
                for offset in [1usize, 255, 2500, n - 3] {
                    let page = store
                        .query(&tenant, &Query { page: stele_core::PageRequest::Offset(offset as u64), ..base.clone() })
                        .await
                        .expect("page");
                    let got: Vec<u64> = page.events.iter().map(|e| e.seq.get()).collect();
                    let want: Vec<u64> = all.iter().skip(offset).take(limit.get() as usize).copied().collect();
                    assert_eq!(got, want, "{query:?} {limit:?} {descending}: offset {offset}");
                }
                for (from, to) in [(edges[0], edges[1]), (edges[2], edges[3]), (edges[1], edges[2])] {
                    let range = stele_core::TimeRange {
                        from: Some(Timestamp::from_micros(from)),
                        to: Some(Timestamp::from_micros(to)),
                    };
                    let got = all_seqs(&store, &tenant, &Query { range, ..base.clone() }).await;
                    assert_eq!(got, ordered(from, to), "{query:?} {limit:?} {descending}: from {from} to {to}");
                }
            }
        }
    }
    store.close().await;
}

/// `message co "…"`: a substring with few candidates in the trigram index starts from them
/// (rowid lookups, then the exact `LIKE` on each row), the un-indexed tail included; a common
/// one is read in windows along the time index, each window's candidates found in the
/// trigram index; one too short for trigrams walks the time index testing `LIKE`. Pages and
/// counts agree with the number of matching events, whichever way they were found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substrings_start_from_the_trigram_index_and_stay_exact() {
    // After the mark: found on the rows themselves.
    let (store, _dir, tenant) =
        bulk_with_tail(|i| format!("Loaded item K{i}x from the queue{}", if i % 3 == 0 { " sparkle" } else { "" }))
            .await;
    let co = |needle: &str| Query {
        limit: stele_core::Limit::new(700).expect("limit"),
        ..filtered(&format!("message co \"{needle}\""))
    };
    #[derive(Debug, PartialEq)]
    enum Way {
        Candidates,
        Windows,
        Rows,
    }
    let cases = [
        // (needle, matching events, how the page is read)
        ("item k4999x", 1, Way::Candidates),
        ("K5036X FROM", 1, Way::Candidates),
        ("k12x f", 1, Way::Candidates),
        ("K1X FR", 1, Way::Candidates),
        ("nowhere", 0, Way::Candidates),
        // In every event: more than 4000 candidates.
        ("from the queue", 5037, Way::Windows),
        // In every third event: 1679 candidates, fewer than 4000 but enough for windows.
        ("sparkle", 1679, Way::Windows),
        // "number" is in the 600 events of the fixture's messages ("message number i").
        ("number 59", 11, Way::Candidates),
        // Four characters: a trigram at each offset.
        ("k12x", 1, Way::Candidates),
        ("ue s", 1679, Way::Windows),
        // Too short for the index (fewer than 4 characters): the rows decide.
        ("2x ", 504, Way::Rows),
        ("k7", 111, Way::Rows),
    ];
    for (needle, expected, way) in cases {
        let query = co(needle);
        let plan = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        let found = match (plan.contains("json_each"), plan.ends_with("WINDOWS from 256 events")) {
            (true, false) => Way::Candidates,
            (true, true) => Way::Windows,
            _ => Way::Rows,
        };
        assert_eq!(found, way, "{needle}: {plan}");
        if way == Way::Candidates {
            // Listed by the plan's bounded count (all of them: fewer than the bound), and the
            // page reads that list rather than asking the trigram index again.
            assert!(plan.contains("SCAN json_each") && plan.contains(" candidates of "), "{needle}: {plan}");
        }
        let walked = walk_pages(&store, &tenant, &query, |v| {
            let message = v["message"].as_str().expect("message").to_ascii_lowercase();
            assert!(message.contains(&needle.to_ascii_lowercase()), "{needle}: {message} does not match");
        })
        .await;
        assert_eq!(walked, expected, "{needle}: every match, once");
        assert_eq!(store.count(&tenant, &query).await.expect("count"), expected, "{needle}: the count agrees");
    }
    windows_agree(&store, &tenant, &co("from the queue"), 5037).await;
    // Not in time order: 1679 candidates are collected (as fewer than 4000 always are).
    let by_seq = Query { sort: stele_core::Sort::parse("seq").expect("sort"), ..co("sparkle") };
    let plan = store.explain(&tenant, &by_seq).await.expect("plan").join(" | ");
    assert!(plan.contains("from tri_blocks") && !plan.ends_with("WINDOWS from 256 events"), "{plan}");
    let seqs = all_seqs(&store, &tenant, &by_seq).await;
    // Every third of the fixture's consecutive seqs, in seq order, each once.
    assert_eq!(seqs.len(), 1679, "every match");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 3), "in seq order, none missed or repeated");
    // A common substring that is not a necessary condition (under `not` or `or`) is no
    // window's way in: the page walks the rows, exactly.
    for filter in [r#"not message co "from the queue""#, r#"message co "from the queue" or message co "sparkle""#] {
        let query = Query { limit: stele_core::Limit::new(700).expect("limit"), ..filtered(filter) };
        let plan = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        assert!(!plan.ends_with("WINDOWS from 256 events"), "{filter}: {plan}");
        let counted = store.count(&tenant, &query).await.expect("count");
        assert_eq!(walk_pages(&store, &tenant, &query, |_| {}).await, counted, "{filter}");
    }
    // Two common substrings, each a necessary condition: windows, exactly.
    let both = Query {
        limit: stele_core::Limit::new(700).expect("limit"),
        ..filtered(r#"message co "sparkle" and message co "from the queue""#)
    };
    let plan = store.explain(&tenant, &both).await.expect("plan").join(" | ");
    assert!(plan.ends_with("WINDOWS from 256 events"), "{plan}");
    assert_eq!(walk_pages(&store, &tenant, &both, |_| {}).await, 1679);
    // A rarer way in comes first: rare words, or a rare substring beside the common one.
    for (query, why) in [
        (Query { text: TextQuery::parse("k4999x").expect("words"), ..co("from the queue") }, "rare words"),
        (
            Query {
                limit: stele_core::Limit::new(700).expect("limit"),
                ..filtered(r#"message co "from the queue" and message co "item k4999x""#)
            },
            "rare substring",
        ),
    ] {
        let plan = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        assert!(!plan.ends_with("WINDOWS from 256 events"), "{why}: {plan}");
        assert_eq!(walk_pages(&store, &tenant, &query, |_| {}).await, 1, "{why}");
    }
    store.close().await;
}

/// A window of seqs (a live tail's or a stream's read: `seq > a and seq <= b`, by seq) reads
/// one rowid range, in order, with no sort step — before, with no index on `seq`, it tested
/// every row of the tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_window_reads_one_rowid_range() {
    let (store, _dir) = store_with_data().await;
    store.catch_up_index().await.expect("indexed");
    let tenant = TenantId::parse("acme").expect("id");
    let sorted = |filter: &str| Query { sort: stele_core::Sort::parse("seq").expect("sort"), ..filtered(filter) };
    for (name, query) in [
        ("window", sorted("seq gt 100 and seq le 350")),
        ("filtered window", sorted(r#"action sw "action.1" and (seq gt 100 and seq le 350)"#)),
    ] {
        let text = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        assert!(text.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{name}: {text}");
        assert!(!text.contains("TEMP B-TREE"), "{name}: sorts instead of reading in order: {text}");
        eprintln!("{name}: {text}");
    }
    // And it answers the same events as before: the window's seqs, in order.
    let page = store.query(&tenant, &sorted("seq gt 100 and seq le 350")).await.expect("page");
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq.get()).collect();
    assert_eq!(seqs, (101..=150).collect::<Vec<_>>(), "the first page of 50");
    store.close().await;
}

/// A time range read in seq order (an export of the last hour, a stream's filter) walks the
/// rowids between the range's least and greatest, in order, with no sort step — before, each
/// page read and sorted every row of the range, so exporting the last minute slowed down as
/// the log grew. The pages answer exactly the events in the range, in seq order, also when
/// events arrive out of time order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_range_in_seq_order_walks_rowids_and_stays_exact() {
    let (store, _dir) = store_with_data().await;
    let tenant = TenantId::parse("acme").expect("id");
    // 200 events whose times are scattered over the first 600 seconds (late arrivals).
    let late: Vec<serde_json::Value> = (0..200)
        .map(|i: i64| {
            let second = (i * 7919) % 600;
            serde_json::json!({"action": "late", "time": Timestamp::from_micros(1_700_000_000_000_000 + second * 1_000_000 + 500_000).to_string()})
        })
        .collect();
    let body = serde_json::json!({ "events": late }).to_string();
    let parsed = parse_ingest_body(body.as_bytes(), &Limits::default(), Timestamp::now()).expect("valid");
    store.append(&tenant, parsed.events, None).await.expect("append");
    store.catch_up_index().await.expect("indexed");
    let everything = {
        let mut q = Query { sort: stele_core::Sort::parse("seq").expect("sort"), ..Query::default() };
        q.limit = stele_core::Limit::new(1000).expect("limit");
        all_pages(&store, &tenant, &q).await
    };
    let at = |s: i64| Timestamp::from_micros(1_700_000_000_000_000 + s * 1_000_000);
    let time_of = |e: &stele_core::StoredEvent| e.event().expect("event").time.as_micros();
    for (name, from, to) in [
        ("from", Some(at(550)), None),
        ("to", None, Some(at(30))),
        ("from and to", Some(at(100)), Some(at(160))),
        ("nothing in it", Some(at(5_000)), Some(at(6_000))),
    ] {
        let mut query = Query { sort: stele_core::Sort::parse("seq").expect("sort"), ..Query::default() };
        query.range = stele_core::TimeRange { from, to };
        query.limit = stele_core::Limit::new(7).expect("limit");
        let text = store.explain(&tenant, &query).await.expect("plan").join(" | ");
        assert!(text.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), "{name}: {text}");
        assert!(!text.contains("TEMP B-TREE"), "{name}: sorts instead of reading in order: {text}");
        let expected: Vec<u64> = everything
            .iter()
            .filter(|e| {
                let t = time_of(e);
                from.is_none_or(|f| t >= f.as_micros()) && to.is_none_or(|u| t < u.as_micros())
            })
            .map(|e| e.seq.get())
            .collect();
        let got = all_seqs(&store, &tenant, &query).await;
        assert_eq!(got, expected, "{name}: the range's events in seq order");
        assert_eq!(store.count(&tenant, &query).await.expect("count"), expected.len() as u64, "{name}: count");
        if name != "nothing in it" {
            assert!(expected.iter().any(|s| *s > 601), "{name}: the range holds late arrivals");
        }
        eprintln!("{name}: {} events: {text}", expected.len());
    }
    store.close().await;
}
