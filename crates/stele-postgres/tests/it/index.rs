//! PostgreSQL's deferred index (issue #13): where the postings and the marks are in each
//! mode (the positive controls of the conformance suite's four runs), the background
//! indexer catching up, and ingest refused while the indexer is held off.

use crate::common;

use std::time::{Duration, Instant};

use stele_core::{TenantId, Timestamp};
use stele_postgres::{IndexMode, PostgresOptions, PostgresStore};
use stele_store::conformance::{event, events_from};
use stele_store::{NewTenant, Store, StoreError};
use tokio_postgres::NoTls;

/// The indexer's session lock (`index.rs`: `INDEXER_LOCK`).
const INDEXER_LOCK: i64 = 0x7374_656c_6503;
/// The class of the per-tenant transaction lock that a redaction and the indexer's copy of
/// the same tenant's rows take (`index.rs`: `TENANT_LOCK_CLASS`).
const TENANT_LOCK_CLASS: i32 = 0x5354_4c49;

/// A plain connection to `db`, beside the store's (to inspect, or to play another node).
async fn client(db: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(db, NoTls).await.expect("connect a client");
    tokio::spawn(connection);
    client
}

async fn open_at(db: &str, options: PostgresOptions) -> (PostgresStore, tokio_postgres::Client) {
    let store = PostgresStore::connect_with_options(db, options).await.expect("connect");
    let client = client(db).await;
    create_tenant(&store, "acme").await;
    (store, client)
}

/// Creates the tenant `id` and returns it.
async fn create_tenant(store: &PostgresStore, id: &str) -> TenantId {
    let tenant = TenantId::parse(id).expect("id");
    let new = NewTenant { id: tenant.clone(), name: id.into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(new, event("stele.tenant.created", 1)).await.expect("tenant");
    tenant
}

/// Each event's time in a page, as microseconds after 1_700_000_000_000_000 (the tests'
/// first event).
fn micros_after_start(page: &stele_store::Page) -> Vec<i64> {
    page.events
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.json).expect("json");
            let time = Timestamp::parse(v["time"].as_str().expect("time")).expect("time");
            time.as_micros() - 1_700_000_000_000_000
        })
        .collect()
}

/// Appends to `tenant` one event for each `i` of `range` (in batches of 1 000), its time `i`
/// microseconds after 1_700_000_000_000_000 and its message `message(i)`.
async fn append_messages(
    store: &PostgresStore,
    tenant: &TenantId,
    action: &str,
    range: std::ops::Range<i64>,
    message: impl Fn(i64) -> String,
) {
    append_timed(store, tenant, action, range, |i| 1_700_000_000_000_000 + i, message).await;
}

/// Appends to `tenant` one event for each `i` of `range` (in batches of 1 000), its time
/// `time(i)` (µs) and its message `message(i)`.
async fn append_timed(
    store: &PostgresStore,
    tenant: &TenantId,
    action: &str,
    range: std::ops::Range<i64>,
    time: impl Fn(i64) -> i64,
    message: impl Fn(i64) -> String,
) {
    let events: Vec<i64> = range.collect();
    for batch in events.chunks(1000) {
        let batch: Vec<_> = batch
            .iter()
            .map(|&i| {
                serde_json::json!({
                    "action": action,
                    "time": Timestamp::from_micros(time(i)).to_string(),
                    "actor": {"id": "u_1"},
                    "message": message(i),
                })
            })
            .collect();
        store.append(tenant, events_from(serde_json::json!({ "events": batch })), None).await.expect("append");
    }
}

async fn open(case: &str, index: IndexMode, max_index_lag: u64) -> Option<(PostgresStore, tokio_postgres::Client)> {
    let url = common::server_url(case)?;
    let options = PostgresOptions { index, max_index_lag, ..PostgresOptions::default() };
    Some(open_at(&common::fresh_database(&url).await, options).await)
}

async fn append(store: &PostgresStore, n: i64) -> Result<(), StoreError> {
    let tenant = TenantId::parse("acme").expect("id");
    let events = (0..n).map(|i| event("user.login", 1_700_000_000_000_000 + i)).collect();
    store.append(&tenant, events, None).await.map(|_| ())
}

/// (postings, documents, mark, head) of the tenant.
async fn state(client: &tokio_postgres::Client) -> (i64, i64, i64, i64) {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM event_terms), (SELECT count(*) FROM event_docs),
                    (SELECT COALESCE(max(seq), 0) FROM index_marks), (SELECT max(head_seq) FROM tenants)",
            &[],
        )
        .await
        .expect("state");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// The plan lines of `EXPLAIN <options> <sql>` on `client`.
async fn plan(
    client: &tokio_postgres::Client,
    options: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<String> {
    let rows = client.query(format!("EXPLAIN {options} {sql}").as_str(), params).await.expect("explain");
    rows.iter().map(|r| r.get(0)).collect()
}

/// Waits (bounded) until `check` holds.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_modes_put_the_marks_where_they_say() {
    let Some((never, never_db)) = open("modes", IndexMode::Never, u64::MAX).await else { return };
    let Some((eager, eager_db)) = open("modes", IndexMode::Eager, u64::MAX).await else { return };
    append(&never, 10).await.expect("append");
    append(&eager, 10).await.expect("append");
    let (terms, docs, mark, head) = state(&never_db).await;
    assert_eq!((terms, docs, mark, head), (0, 0, 0, 11), "never: nothing indexed");
    let (terms, docs, mark, head) = state(&eager_db).await;
    assert_eq!((mark, head), (11, 11), "eager: the mark at the head");
    assert!(terms >= 11 * 3 && docs == 11, "eager: postings made ({terms} terms, {docs} documents)");
    // `reindex` rebuilds the same postings from the rows.
    never.reindex().await.expect("reindex");
    assert_eq!(state(&never_db).await, (terms, docs, 11, 11));
    never.close().await;
    eager.close().await;
}

#[tokio::test]
async fn ingest_is_refused_while_the_index_lags_and_the_background_indexer_catches_up() {
    let Some(url) = common::server_url("lag") else { return };
    let db = common::fresh_database(&url).await;
    // Another node's indexer that does not index: it holds the indexer lock first.
    let holder = client(&db).await;
    holder.execute("SELECT pg_advisory_lock($1)", &[&INDEXER_LOCK]).await.expect("lock");
    let wait = std::time::Duration::from_secs(600);
    let options = PostgresOptions {
        index: IndexMode::Background,
        max_index_lag: 50,
        index_lag_wait: wait,
        ..PostgresOptions::default()
    };
    let (store, inspect) = open_at(&db, options).await;

    // Positive control: under the limit, appends are taken.
    append(&store, 40).await.expect("append under the limit");
    append(&store, 20).await.expect("append while the lag is not yet measured past the limit");
    // Within a refresh of the lag (200 ms), ingest is refused, and a refused append writes nothing.
    until("ingest to be refused", || async {
        let before = state(&inspect).await.3;
        match append(&store, 1).await {
            Err(StoreError::IndexBehind(lag)) => {
                assert!(lag > 50, "lag {lag}");
                assert_eq!(state(&inspect).await.3, before, "a refused append wrote nothing");
                // Ingest asks this before it reads a body (the lag only grows while the lock is held).
                assert!(matches!(store.accepts_appends(), Err(StoreError::IndexBehind(_))));
                true
            }
            Ok(()) => false,
            Err(e) => panic!("unexpected {e}"),
        }
    })
    .await;
    assert_eq!(state(&inspect).await.2, 0, "nothing indexed while another node holds the lock");
    // Ingest's admission waits while the index is behind (polled once: not ready).
    let mut admitted = Box::pin(store.admit_appends());
    tokio::select! {
        biased;
        early = &mut admitted => panic!("admitted while the index is behind: {early:?}"),
        () = std::future::ready(()) => {}
    }

    // The other node goes away: this node's indexer takes over and catches up, and ingest resumes.
    drop(holder);
    let admitted = tokio::time::timeout(std::time::Duration::from_secs(60), admitted)
        .await
        .expect("woken by a lag measurement, not by the end of its 600 s wait");
    admitted.expect("admitted once the index is within the bound");
    until("the indexer to catch up", || async {
        let (_, _, mark, head) = state(&inspect).await;
        mark == head
    })
    .await;
    let (terms, docs, _, head) = state(&inspect).await;
    assert!(terms > 0 && docs == head, "postings made ({terms} terms, {docs} documents for {head} events)");
    until("ingest to resume", || async { append(&store, 1).await.is_ok() }).await;
    assert!(store.accepts_appends().is_ok(), "taken again");
    store.close().await;
}

/// The plan of a page's indexed arm (the tail arm, after it, checks the rows themselves).
async fn indexed_arm_plan(store: &PostgresStore, tenant: &TenantId, query: stele_core::Query) -> String {
    let lines = store.explain(tenant, &query).await.expect("explain").join("\n");
    lines.split("\"*SELECT* 2\"").next().unwrap_or_default().to_owned()
}

/// `message co "…"` lists the tenant's indexed messages that hold the needle's trigrams and
/// reads their rows when the needle is rare, and walks the time index testing each row when it
/// is common; another tenant's messages with the same needle are never candidates.
#[tokio::test]
async fn message_co_lists_the_tenants_candidates_when_the_needle_is_rare_and_walks_when_common() {
    let Some((store, inspect)) = open("trigram", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let other = create_tenant(&store, "other").await;
    let message = |zeppelin: bool| {
        move |i: i64| format!("user logged in from office {}{}", i % 7, if zeppelin { " with a Zeppelin" } else { "" })
    };
    // One Zeppelin here; one in every second event of the other tenant.
    append_messages(&store, &tenant, "user.login", 0..3000, |i| message(i == 1234)(i)).await;
    append_messages(&store, &other, "user.login", 0..3000, |i| message(i % 2 == 0)(i)).await;
    let messages: i64 = inspect.query_one("SELECT count(*) FROM event_messages", &[]).await.expect("count").get(0);
    assert_eq!(messages, 6000, "the indexer copied every message");
    inspect.batch_execute("ANALYZE").await.expect("analyze");
    let query = |needle: &str| stele_core::Query {
        filter: Some(stele_core::Filter::parse(&format!("message co {needle:?}")).expect("filter")),
        ..stele_core::Query::default()
    };
    let plan = |needle: &'static str| indexed_arm_plan(&store, &tenant, query(needle));
    let rare = plan("zeppelin").await;
    assert!(
        rare.contains("1 matches listed") && rare.contains("ANY") && !rare.contains("Backward"),
        "a rare needle's matches are listed and their rows read alone: {rare}"
    );
    let page = store.query(&tenant, &query("zeppelin")).await.expect("query");
    assert_eq!(page.events.len(), 1, "one match, and only this tenant's");
    assert!(page.events[0].json.contains("Zeppelin"));
    // Only the driving needle is taken as true on the listed rows: a second one is compared
    // (the Zeppelin's message says office 2).
    let both = |second: &str| stele_core::Query {
        filter: Some(
            stele_core::Filter::parse(&format!(r#"message co "zeppelin" and message co "{second}""#)).expect("filter"),
        ),
        ..stele_core::Query::default()
    };
    assert_eq!(store.query(&tenant, &both("office 2")).await.expect("query").events.len(), 1, "the control");
    assert!(store.query(&tenant, &both("office 3")).await.expect("query").events.is_empty());
    let theirs = store.query(&other, &query("zeppelin")).await.expect("query");
    assert_eq!(theirs.events.len(), 50, "the other tenant's page of its own");
    assert_eq!(store.count(&other, &query("zeppelin")).await.expect("count"), 1500);
    assert_eq!(store.count(&tenant, &query("zeppelin")).await.expect("count"), 1);
    // The other way in: a needle in every message walks the time index, comparing each
    // event's own message (case-folded by ILIKE under the C collation).
    let common = plan("logged").await;
    assert!(
        common.contains("page walks the time index")
            && common.contains("Index Scan Backward")
            && common.contains("~~*")
            && !common.contains("event_messages"),
        "a common needle walks the time index: {common}"
    );
    assert_eq!(store.query(&tenant, &query("logged")).await.expect("query").events.len(), 50);
    store.close().await;
}

/// A page whose words (or needle) are rare where it starts and common enough in the tenant
/// lists the matches of the time buckets nearest its first window's end first (migration
/// 17's bucket keys), then as far as the rate found says while they hold too few, and the
/// rest whole past 64 buckets;
/// a list that holds more than a page is worth is left to the walk. Whichever way, the page is
/// the matches in its order, within its range and after its cursor.
#[tokio::test]
async fn a_rare_words_list_reads_the_buckets_nearest_the_page_first() {
    use stele_postgres::rows::{bucket_start, BUCKET_SHIFT};
    let Some((store, inspect)) = open("buckets", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    // The index's bucket keys are the ones the reads ask for, before 1970 too.
    for t in [0, 1, -1, (1 << BUCKET_SHIFT) - 1, 1 << BUCKET_SHIFT, -(1 << BUCKET_SHIFT) - 1, 1_767_225_599_004_385] {
        let key: String = inspect.query_one("SELECT stele_bucket(7, $1)", &[&t]).await.expect("bucket").get(0);
        assert_eq!(key, stele_postgres::rows::bucket_key(7, stele_postgres::rows::bucket(t)), "{t}");
    }
    // 1 024 events a bucket, the first at a bucket's start: 24 000 events in 23.4 buckets.
    let start = bucket_start(49_480);
    let step = (1i64 << BUCKET_SHIFT) / 1024;
    let time = |i: i64| start + i * step;
    let words = |i: i64| {
        let mut words = vec!["entry"];
        let marks = [
            (i % 300 == 0, "sparse"),
            (i % 2_500 == 500, "thin"),
            (i == 150, "lonely"),
            ((15_000..20_000).contains(&i), "burst"),
        ];
        words.extend(marks.into_iter().filter_map(|(has, word)| has.then_some(word)));
        words
    };
    append_timed(&store, &tenant, "entry.logged", 0..24_000, time, |i| words(i).join(" ")).await;
    let numbers = |page: &stele_store::Page| -> Vec<i64> {
        micros_after_start(page).into_iter().map(|m| (m + 1_700_000_000_000_000 - start) / step).collect()
    };
    let limit = stele_core::Limit::new(5).expect("limit");
    let words_query = |word: &str| stele_core::Query {
        text: stele_core::TextQuery::parse(word).expect("words"),
        limit,
        ..stele_core::Query::default()
    };
    let needle_query = |word: &str| stele_core::Query {
        filter: Some(stele_core::Filter::parse(&format!("message co {word:?}")).expect("filter")),
        limit,
        ..stele_core::Query::default()
    };
    let having =
        |word: &str, range: std::ops::Range<i64>| -> Vec<i64> { range.filter(|&i| words(i).contains(&word)).collect() };
    // (query, what the plan's first line says, the page's events in its order).
    type Case = (stele_core::Query, &'static str, Vec<i64>);
    let newest = |word: &str| having(word, 0..24_000).into_iter().rev().take(5).collect::<Vec<_>>();
    let mut cases: Vec<Case> = vec![
        // None in the window of 250 events (five pages' worth: 23 999 down to 23 750, in
        // bucket 23); three times the page's 6 rows at one match in 250 events reach bucket
        // 18, and buckets 18 to 23 hold 18 after the window.
        (
            words_query("sparse"),
            "18 matches listed from the index in 6 time buckets, the first 6 read",
            newest("sparse"),
        ),
        (
            needle_query("sparse"),
            "18 matches listed from the index in 6 time buckets, the first 6 read",
            newest("sparse"),
        ),
        // Oldest first (from the first event: the tenant's creation is at 1 µs), 1 in the
        // window (0 to 249), buckets 0 to 2 hold 10 after it.
        (
            stele_core::Query {
                sort: stele_core::Sort::parse("time").expect("sort"),
                range: stele_core::TimeRange { from: Some(Timestamp::from_micros(time(0))), to: None },
                ..words_query("sparse")
            },
            "11 matches listed from the index in 3 time buckets, the first 6 read",
            having("sparse", 0..24_000).into_iter().take(5).collect(),
        ),
        // Within a range: 1 in the window (10 999 down to 10 750), and buckets 10 and 9, where
        // the range ends, hold 2 after it: its 3 matches.
        (
            stele_core::Query {
                range: stele_core::TimeRange {
                    from: Some(Timestamp::from_micros(time(10_000))),
                    to: Some(Timestamp::from_micros(time(11_000))),
                },
                ..words_query("sparse")
            },
            "3 matches listed from the index in 2 time buckets, the first 3 read",
            having("sparse", 10_000..11_000).into_iter().rev().collect(),
        ),
        // None in the window, buckets 18 to 23 hold 2 after it: the 4 more rows would match at
        // that rate within five times the time listed, and buckets -3 to 17 hold 8.
        (words_query("thin"), "10 matches listed from the index in 27 time buckets, the first 6 read", newest("thin")),
        // None in the window: buckets 18 to 23 hold none, eight times as far (-19 to 17) one;
        // the next list would ask for over 400 buckets: the times before them are listed
        // whole.
        (words_query("lonely"), "Stele: 1 matches listed from the index, the first 1 read", vec![150]),
        // None in the window, 1 568 in buckets 18 to 23: more than a list holds (309), walked.
        (words_query("burst"), "matches found walking", newest("burst")),
    ];
    // The next page of the first, after its cursor.
    let first = store.query(&tenant, &cases[0].0).await.expect("query");
    let after = stele_core::PageRequest::After(first.next.clone().expect("a next page"));
    let next: Vec<i64> = having("sparse", 0..24_000).into_iter().rev().skip(5).take(5).collect();
    cases.push((
        stele_core::Query { page: after, ..words_query("sparse") },
        "16 matches listed from the index in 5 time buckets",
        next,
    ));
    for (query, says, expected) in cases {
        let plan = indexed_arm_plan(&store, &tenant, query.clone()).await;
        let first_line = plan.lines().next().unwrap_or_default();
        assert!(first_line.contains(says), "{query:?}: {plan}");
        let page = store.query(&tenant, &query).await.expect("query");
        assert_eq!(numbers(&page), expected, "{query:?}: {plan}");
    }
    // Every page from every start: each word and needle, both orders, with and without a
    // range, followed by its cursor to the end, is its matches in order, each once.
    let range = stele_core::TimeRange {
        from: Some(Timestamp::from_micros(time(3_000))),
        to: Some(Timestamp::from_micros(time(21_000))),
    };
    for word in ["sparse", "thin", "lonely"] {
        for query in [words_query(word), needle_query(word)] {
            for descending in [true, false] {
                for range in [stele_core::TimeRange::default(), range] {
                    let sort = stele_core::Sort::parse(if descending { "-time" } else { "time" }).expect("sort");
                    let mut query = stele_core::Query { sort, range, ..query.clone() };
                    let (from, to) = (range.from.map_or(0, |_| 3_000), range.to.map_or(24_000, |_| 21_000));
                    let mut expected = having(word, from..to);
                    if descending {
                        expected.reverse();
                    }
                    let mut read = Vec::new();
                    loop {
                        let page = store.query(&tenant, &query).await.expect("query");
                        read.extend(numbers(&page));
                        let Some(next) = page.next else { break };
                        query.page = stele_core::PageRequest::After(next);
                    }
                    assert_eq!(read, expected, "{word}, descending {descending}, {range:?}");
                    // And by offset, as page-numbered profiles ask.
                    for skip in [3, 12] {
                        let page = stele_core::PageRequest::Offset(skip);
                        let at = stele_core::Query { page, ..query.clone() };
                        let read = numbers(&store.query(&tenant, &at).await.expect("query"));
                        let expected: Vec<i64> = expected.iter().copied().skip(skip as usize).take(5).collect();
                        assert_eq!(read, expected, "{word}, descending {descending}, {range:?}, offset {skip}");
                    }
                }
            }
        }
    }
    store.close().await;
}

/// A walked needle is compared on the row's own message with `ILIKE` under the C collation:
/// it folds ASCII letters only, as `stele_fold` does for the listed candidates and the counts,
/// so a walked page holds exactly the events the count counts.
#[tokio::test]
async fn a_walked_needle_folds_ascii_letters_only_as_the_listed_candidates_do() {
    let Some((store, _inspect)) = open("walked_fold", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let message = |i: i64| match i % 3 {
        0 => "Flight of the ZEPPELIN über Köln",
        1 => "flight of the Zeppelin ÜBER KÖLN",
        _ => "no airship today",
    };
    append_messages(&store, &tenant, "flight.logged", 0..3000, |i| message(i).to_owned()).await;
    let query = |needle: &str| stele_core::Query {
        filter: Some(stele_core::Filter::parse(&format!("message co {needle:?}")).expect("filter")),
        ..stele_core::Query::default()
    };
    // (needle, the events (i % 3) it is in): ASCII letters in any case, other letters as
    // they are written.
    let cases: [(&str, &[i64]); 4] =
        [("zeppelin", &[0, 1]), ("über köln", &[0]), ("ÜBER KÖLN", &[1]), ("Über Köln", &[])];
    for (needle, kinds) in cases {
        let plan = indexed_arm_plan(&store, &tenant, query(needle)).await;
        if !kinds.is_empty() {
            assert!(
                plan.contains("page walks the time index") && plan.contains("~~*"),
                "{needle}: a common needle walks: {plan}"
            );
        }
        let page = store.query(&tenant, &query(needle)).await.expect("query");
        let expected: Vec<i64> = (0..3000).rev().filter(|i| kinds.contains(&(i % 3))).take(50).collect();
        assert_eq!(micros_after_start(&page), expected, "{needle}: the walked page");
        let count = store.count(&tenant, &query(needle)).await.expect("count");
        assert_eq!(count, 1000 * kinds.len() as u64, "{needle}: the count of the listed candidates");
    }
    store.close().await;
}

/// A word in one event of 30 of a large tenant's: the first window of 1 020 events holds two
/// thirds of a page of its matches, which is common enough to walk on rather than list them
/// all, and the walk continues after the window (no document looked up twice) until the page
/// is found; the page reads the rows found, and the next page starts where it ended.
#[tokio::test]
async fn a_walk_that_leaves_the_window_short_continues_after_it() {
    let Some((store, _inspect)) = open("walk_on", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let events = 30_000;
    append_messages(&store, &tenant, "flight.logged", 0..events, |i| {
        format!("flight{} logged", if i % 30 == 0 { " zeppelin" } else { "" })
    })
    .await;
    // Every event has the action: but with a second condition, each listed match's row
    // would be read to test it, and the walk pays.
    let query = stele_core::Query {
        text: stele_core::TextQuery::parse("zeppelin").expect("words"),
        filter: Some(stele_core::Filter::parse(r#"action eq "flight.logged""#).expect("filter")),
        ..stele_core::Query::default()
    };
    let alone = stele_core::Query { filter: None, ..query.clone() };
    let plan = indexed_arm_plan(&store, &tenant, alone.clone()).await;
    assert!(
        plan.contains("51 matches found walking") && plan.contains("ANY") && !plan.contains("Backward"),
        "alone too: the tenant's 1 000 matches are many enough to be listed by time bucket, but all are in \
         one, and walking on to the 17 more rows costs less than listing it: {plan}"
    );
    let plan = indexed_arm_plan(&store, &tenant, query.clone()).await;
    // 34 of the 51 rows lie in the window (1 020 events), the rest after it.
    assert!(
        plan.contains("51 matches found walking") && plan.contains("ANY") && !plan.contains("Backward"),
        "walked on after the window, the page reads the rows found: {plan}"
    );
    let expected: Vec<i64> = (0..events).rev().filter(|i| i % 30 == 0).collect();
    let first = store.query(&tenant, &query).await.expect("query");
    assert_eq!(micros_after_start(&first), expected[..50].to_vec());
    let listed = store.query(&tenant, &alone).await.expect("query");
    assert_eq!(micros_after_start(&listed), expected[..50].to_vec());
    let next =
        stele_core::Query { page: stele_core::PageRequest::After(first.next.clone().expect("next")), ..query.clone() };
    let second = store.query(&tenant, &next).await.expect("second page");
    assert_eq!(micros_after_start(&second), expected[50..100].to_vec());
    // Oldest first, the walk goes on the other way.
    let oldest = stele_core::Query { sort: stele_core::Sort::parse("time").expect("sort"), ..query.clone() };
    let plan = indexed_arm_plan(&store, &tenant, oldest.clone()).await;
    assert!(plan.contains("51 matches found walking"), "walked on, oldest first: {plan}");
    let ascending: Vec<i64> = (0..events).filter(|i| i % 30 == 0).take(50).collect();
    assert_eq!(micros_after_start(&store.query(&tenant, &oldest).await.expect("query")), ascending);
    // A needle as common is walked to in the page's own statement: its events cost little
    // to test again.
    let needle = stele_core::Query {
        filter: Some(stele_core::Filter::parse(r#"message co "zeppelin""#).expect("filter")),
        ..stele_core::Query::default()
    };
    let plan = indexed_arm_plan(&store, &tenant, needle.clone()).await;
    assert!(plan.contains("page walks the time index"), "a needle walks in the page's statement: {plan}");
    assert_eq!(micros_after_start(&store.query(&tenant, &needle).await.expect("query")), expected[..50].to_vec());
    // A page of 20 is in the window, 601 events in: the words' walk is not walked again, the
    // page reads the rows it found; the needle's events cost little to walk again.
    let short = |query: &stele_core::Query| stele_core::Query {
        limit: stele_core::Limit::new(20).expect("limit"),
        ..query.clone()
    };
    let plan = indexed_arm_plan(&store, &tenant, short(&query)).await;
    assert!(
        plan.contains("21 matches found walking") && plan.contains("ANY") && !plan.contains("Backward"),
        "the rows found in the window are read: {plan}"
    );
    assert_eq!(
        micros_after_start(&store.query(&tenant, &short(&query)).await.expect("query")),
        expected[..20].to_vec()
    );
    let plan = indexed_arm_plan(&store, &tenant, short(&needle)).await;
    assert!(plan.contains("page walks the time index"), "{plan}");
    assert_eq!(
        micros_after_start(&store.query(&tenant, &short(&needle)).await.expect("query")),
        expected[..20].to_vec()
    );
    store.close().await;
}

/// A page of `q` walks the time index when its words are common where the page starts, and
/// reads the rows of their listed matches when they are not; either way the page is the
/// words' matches in time order, the next page continues it, and another tenant's documents
/// with the same words are never listed.
#[tokio::test]
async fn a_page_of_words_walks_when_they_are_common_and_lists_their_matches_when_rare() {
    let Some((store, inspect)) = open("words", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let other = create_tenant(&store, "other").await;
    let message = |i: i64| {
        let rare = if i % 50 == 0 { " quarterly" } else { "" };
        let once = if i == 1234 { " zeppelin" } else { "" };
        format!("office report{rare}{once}")
    };
    append_messages(&store, &tenant, "report.filed", 0..3000, message).await;
    append_messages(&store, &other, "report.filed", 0..3000, message).await;
    inspect.batch_execute("ANALYZE").await.expect("analyze");
    let query = |words: &str| stele_core::Query {
        text: stele_core::TextQuery::parse(words).expect("words"),
        ..stele_core::Query::default()
    };
    let plan = |words: &'static str| indexed_arm_plan(&store, &tenant, query(words));
    // The micro second of each event of a page (its message's number).
    let numbers = micros_after_start;

    // In every message: the walk, which finds the page in its first 51 events.
    let common = plan("office").await;
    assert!(
        common.contains("page walks the time index")
            && common.contains("SubPlan")
            && !common.contains("Hashed")
            && common.contains("Backward"),
        "a common word walks, looking each document up: {common}"
    );
    let first = store.query(&tenant, &query("office")).await.expect("query");
    assert_eq!(numbers(&first), (2950..3000).rev().collect::<Vec<_>>());
    let next = stele_core::Query {
        page: stele_core::PageRequest::After(first.next.clone().expect("a next page")),
        ..query("office")
    };
    let second = store.query(&tenant, &next).await.expect("second page");
    assert_eq!(numbers(&second), (2900..2950).rev().collect::<Vec<_>>());
    // The window's statement stops at its limit (the page's 51 and two more: every event
    // matches), walking 53 events: its tested rows are not sorted, which would test all 1 000
    // events first.
    use stele_postgres::compile::{window_sql, Bounds, Driver};
    let no: i64 = inspect.query_one("SELECT no FROM tenants WHERE id = 'acme'", &[]).await.expect("no").get(0);
    let window = window_sql(no, &query("office"), &Driver::Words, Bounds { mark: 3001, head: 3001 }, 1000, 51);
    let lines = self::plan(&inspect, "(ANALYZE, COSTS OFF)", &window.text, &window.refs()).await.join("\n");
    assert!(!lines.contains("Sort Key: tested") && !lines.contains("rows=1000 "), "{lines}");
    let walked = lines.lines().find(|l| l.contains("WindowAgg (actual")).unwrap_or_default();
    assert!(walked.contains("rows=53 loops"), "{lines}");

    // In one message of fifty (20 in the first 1 020 events, where the page needs 51): the
    // matches are listed and their rows read.
    let rare = plan("quarterly").await;
    assert!(
        rare.contains("60 matches listed from the index, the first 51 read")
            && rare.contains("ANY")
            && !rare.contains("Backward"),
        "a rare word lists its matches and reads the page's rows alone: {rare}"
    );
    let page = store.query(&tenant, &query("quarterly")).await.expect("query");
    assert_eq!(numbers(&page), (0..3000).rev().filter(|i| i % 50 == 0).take(50).collect::<Vec<_>>());
    let rest = stele_core::Query {
        page: stele_core::PageRequest::After(page.next.clone().expect("a next page")),
        ..query("quarterly")
    };
    let rest = store.query(&tenant, &rest).await.expect("second page");
    assert_eq!(numbers(&rest), (0..3000).rev().filter(|i| i % 50 == 0).skip(50).collect::<Vec<_>>());
    assert!(rest.next.is_none(), "60 matches, two pages");
    // The list holds the matches in the range and after the cursor, put in the page's order
    // (oldest first here) from their times: only the rows of the first the page reads are
    // read. (The first window, 1 020 events, holds 21 of the 26 the page reads.)
    let range = stele_core::TimeRange {
        from: Some(Timestamp::from_micros(1_700_000_000_000_000 + 500)),
        to: Some(Timestamp::from_micros(1_700_000_000_000_000 + 2500)),
    };
    let oldest = stele_core::Query {
        sort: stele_core::Sort::parse("time").expect("sort"),
        range,
        limit: stele_core::Limit::new(25).expect("limit"),
        ..query("quarterly")
    };
    let first_plan = indexed_arm_plan(&store, &tenant, oldest.clone()).await;
    assert!(first_plan.contains("40 matches listed from the index, the first 26 read"), "{first_plan}");
    let first = store.query(&tenant, &oldest).await.expect("oldest first");
    assert_eq!(numbers(&first), (500..2500).filter(|i| i % 50 == 0).take(25).collect::<Vec<_>>());
    let after = stele_core::Query {
        page: stele_core::PageRequest::After(first.next.clone().expect("a next page")),
        ..oldest.clone()
    };
    let after_plan = indexed_arm_plan(&store, &tenant, after.clone()).await;
    assert!(after_plan.contains("15 matches listed from the index, the first 15 read"), "{after_plan}");
    let second = store.query(&tenant, &after).await.expect("oldest first, after the cursor");
    assert_eq!(numbers(&second), (500..2500).filter(|i| i % 50 == 0).skip(25).collect::<Vec<_>>());
    assert!(second.next.is_none(), "40 matches in the range, two pages");
    // With another condition, every listed match's row is read and tested.
    let also = stele_core::Query {
        filter: Some(stele_core::Filter::parse(r#"action eq "report.filed""#).expect("filter")),
        ..query("quarterly")
    };
    let also_plan = indexed_arm_plan(&store, &tenant, also.clone()).await;
    assert!(also_plan.contains("Stele: 60 matches listed from the index\n"), "{also_plan}");
    assert_eq!(numbers(&store.query(&tenant, &also).await.expect("query")), numbers(&page));
    let once = store.query(&tenant, &query("zeppelin")).await.expect("query");
    assert_eq!(numbers(&once), vec![1234], "one match, and only this tenant's");
    assert_eq!(store.count(&tenant, &query("quarterly")).await.expect("count"), 60);
    store.close().await;
}

/// A page is read in a repeatable-read transaction (the mark and head first): a read that
/// fails ends it, so the pooled connection (the only one here) serves the next read.
#[tokio::test]
async fn a_failed_read_ends_its_snapshot_and_the_connection_reads_again() {
    let Some(url) = common::server_url("snapshot") else { return };
    let db = common::fresh_database(&url).await;
    let options = PostgresOptions { pool_size: 1, index: IndexMode::Eager, ..PostgresOptions::default() };
    let (store, inspect) = open_at(&db, options).await;
    let tenant = TenantId::parse("acme").expect("id");
    append(&store, 5).await.expect("append");
    let words = stele_core::Query {
        text: stele_core::TextQuery::parse("zeppelin").expect("words"),
        ..stele_core::Query::default()
    };
    let all = stele_core::Query::default();
    // Positive control: both reads work.
    assert!(store.query(&tenant, &words).await.expect("words").events.is_empty());
    assert_eq!(store.query(&tenant, &all).await.expect("page").events.len(), 6);
    // The words' read fails inside its transaction (their documents' table is gone for a
    // moment: the first window looks each event's document up)...
    inspect.batch_execute("ALTER TABLE event_docs RENAME TO event_docs_away").await.expect("rename");
    assert!(store.query(&tenant, &words).await.is_err(), "the read fails");
    // ...and the same connection reads again, outside any aborted transaction.
    assert_eq!(store.query(&tenant, &all).await.expect("page after a failed read").events.len(), 6);
    inspect.batch_execute("ALTER TABLE event_docs_away RENAME TO event_docs").await.expect("rename");
    assert!(store.query(&tenant, &words).await.expect("words again").events.is_empty());
    store.close().await;
}

/// The indexer takes the tenant's lock before it copies rows (a redaction holds it while it
/// replaces a row and its postings): while another transaction holds that lock — as a
/// redaction would — the indexer waits for it, indexes nothing, and goes on once it is free.
#[tokio::test]
async fn the_indexer_waits_for_the_tenant_lock_a_redaction_holds() {
    let Some(url) = common::server_url("tenant_lock") else { return };
    let db = common::fresh_database(&url).await;
    let options = PostgresOptions { index: IndexMode::Background, ..PostgresOptions::default() };
    let (store, inspect) = open_at(&db, options).await;
    let no: i64 = inspect.query_one("SELECT no FROM tenants WHERE id = 'acme'", &[]).await.expect("no").get(0);
    until("the tenant's first event to be indexed", || async { state(&inspect).await.2 == 1 }).await;

    let mut holder = client(&db).await;
    let redaction = holder.transaction().await.expect("begin");
    let key = i32::try_from(no).expect("a small tenant number");
    redaction.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&TENANT_LOCK_CLASS, &key]).await.expect("lock");
    append(&store, 5).await.expect("append");
    // The indexer asks for exactly this lock and waits; it indexes nothing meanwhile.
    until("the indexer to wait for the tenant lock", || async {
        let (_, _, mark, head) = state(&inspect).await;
        assert_eq!((mark, head), (1, 6), "the indexer copied rows while the tenant lock was held");
        let waiting: i64 = inspect
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                   AND classid::text::bigint = $1 AND objid::text::bigint = $2 AND objsubid = 2",
                &[&i64::from(TENANT_LOCK_CLASS), &no],
            )
            .await
            .expect("locks")
            .get(0);
        waiting == 1
    })
    .await;
    assert_eq!(state(&inspect).await.2, 1, "still nothing indexed while the lock is held");
    // The redaction ends: the indexer goes on.
    redaction.commit().await.expect("commit");
    until("the indexer to catch up", || async { state(&inspect).await.2 == 6 }).await;
    store.close().await;
}

/// Reads run without JIT (its compilation costs more than a read should take): with the
/// JIT's cost thresholds at 0, a plain connection's plan is compiled and the store's is not.
#[tokio::test]
async fn reads_are_not_jit_compiled() {
    let Some(url) = common::server_url("no_jit") else { return };
    let eager = common::fresh_database(&url).await;
    client(&eager)
        .await
        .batch_execute(
            "DO $$ BEGIN
               EXECUTE format('ALTER DATABASE %I SET jit_above_cost = 0', current_database());
               EXECUTE format('ALTER DATABASE %I SET jit_inline_above_cost = 0', current_database());
               EXECUTE format('ALTER DATABASE %I SET jit_optimize_above_cost = 0', current_database());
             END $$",
        )
        .await
        .expect("thresholds");
    let options = PostgresOptions { index: IndexMode::Eager, ..PostgresOptions::default() };
    let (store, inspect) = open_at(&eager, options).await;
    let available: bool = inspect.query_one("SELECT pg_jit_available()", &[]).await.expect("jit").get(0);
    if !available {
        eprintln!("skipped: this PostgreSQL server has no JIT provider, so there is nothing to turn off");
        store.close().await;
        return;
    }
    // Positive control: with these settings a plain connection's plan is compiled.
    let plan = plan(&client(&eager).await, "(ANALYZE)", "SELECT count(*) FROM events", &[]).await;
    assert!(plan.iter().any(|l| l.starts_with("JIT:")), "the control compiles: {plan:?}");
    let tenant = TenantId::parse("acme").expect("id");
    let lines = store.explain(&tenant, &stele_core::Query::default()).await.expect("explain");
    assert!(!lines.iter().any(|l| l.contains("JIT")), "a read is not compiled: {lines:?}");
    store.close().await;
}

/// A count of one action (or status) reads the index alone once the visibility map says
/// the heap pages are all visible: the indexes INCLUDE the column the filter names
/// (migration 13). Without the INCLUDE the plan reads the heap (`Index Scan` or
/// `Bitmap Heap Scan`), which is what this test was checked against.
#[tokio::test]
async fn counts_of_an_action_or_a_status_read_the_index_alone() {
    let Some((store, inspect)) = open("index_only_counts", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let actions = ["user.login", "user.logout", "doc.read", "doc.write", "key.rotated"];
    let events =
        (0..5_000i64).map(|i| event(actions[i as usize % actions.len()], 1_700_000_000_000_000 + i * 1_000)).collect();
    store.append(&tenant, events, None).await.expect("append");
    // What autovacuum does to an insert-only table in time: set the visibility map.
    inspect.batch_execute("VACUUM (ANALYZE) events").await.expect("vacuum");
    let no: i64 = inspect.query_one("SELECT no FROM tenants WHERE id = 'acme'", &[]).await.expect("no").get(0);
    // Small tables tempt the planner into a sequential scan; what is asked here is whether
    // the index can answer alone when it is chosen.
    inspect.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off").await.expect("set");
    for filter in [r#"action eq "USER.LOGIN""#, r#"status eq "success""#] {
        let query = stele_core::Query {
            filter: Some(stele_core::Filter::parse(filter).expect("filter")),
            ..stele_core::Query::default()
        };
        let sql = stele_postgres::compile::matching(no, &query);
        let count = format!("SELECT COUNT(*) FROM {} AS events", sql.text);
        let plan = plan(&inspect, "(ANALYZE, COSTS OFF)", &count, &sql.refs()).await;
        assert!(plan.iter().any(|l| l.contains("Index Only Scan using")), "{filter}: index-only: {plan:#?}");
        assert!(
            plan.iter().all(|l| !l.trim_start().starts_with("Heap Fetches:") || l.trim_end().ends_with(" 0")),
            "{filter}: no heap fetches: {plan:#?}"
        );
        let n: i64 = inspect.query_one(count.as_str(), &sql.refs()).await.expect("count").get(0);
        // 1 000 of each action; every event succeeded, with the tenant's creation.
        assert_eq!(n, if filter.starts_with("action") { 1_000 } else { 5_001 }, "{filter}: the count");
        assert_eq!(store.count(&tenant, &query).await.expect("store count"), n as u64, "{filter}: the store agrees");
    }
    store.close().await;
}

/// "What did this actor do of this kind": a page of one action and one actor's email reads
/// the pair's entries, in time order, from one index (migration 14) instead of walking one
/// column's index and reading each row to compare the other; the page is the pair's events.
/// Without the index the plan has no index condition on both, which is the control.
#[tokio::test]
async fn a_page_of_one_action_by_one_actor_reads_the_pair_from_one_index() {
    let Some((store, inspect)) = open("action_actor", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let actions = ["user.login", "user.logout", "doc.read", "doc.write", "key.rotated"];
    let emails = ["ana@acme.test", "ben@acme.test", "cyd@acme.test", "dee@acme.test", "eve@acme.test"];
    let events: Vec<_> = (0..5_000usize)
        .map(|i| {
            serde_json::json!({
                "action": actions[i % 5],
                "time": Timestamp::from_micros(1_700_000_000_000_000 + i as i64 * 1_000).to_string(),
                "actor": {"id": format!("u_{}", i / 5 % 5), "email": emails[i / 5 % 5]},
            })
        })
        .collect();
    store.append(&tenant, events_from(serde_json::json!({ "events": events })), None).await.expect("append");
    inspect.batch_execute("VACUUM (ANALYZE) events").await.expect("vacuum");
    let query = stele_core::Query {
        filter: Some(
            stele_core::Filter::parse(r#"action eq "doc.READ" and actor.email eq "Cyd@acme.test""#).expect("filter"),
        ),
        ..stele_core::Query::default()
    };
    // One index condition holds both columns.
    let both = |plan: &str| {
        plan.lines().any(|l| l.contains("Index Cond") && l.contains("(action,") && l.contains("(actor_email,"))
    };
    let plan = indexed_arm_plan(&store, &tenant, query.clone()).await;
    assert!(both(&plan), "the pair is read from one index: {plan}");
    // The page: the pair's 200 events (action 2, email 2: i ≡ 2 mod 5 and i / 5 ≡ 2 mod 5), newest first.
    let expected: Vec<i64> = (0..5_000i64).rev().filter(|i| i % 5 == 2 && i / 5 % 5 == 2).take(50).collect();
    let page = store.query(&tenant, &query).await.expect("page");
    let numbers: Vec<i64> = micros_after_start(&page).iter().map(|t| t / 1_000).collect();
    assert_eq!(numbers, expected);
    assert_eq!(store.count(&tenant, &query).await.expect("count"), 200);
    // The control: without the pair's index no index condition holds both.
    inspect.batch_execute("DROP INDEX events_action_actor_email").await.expect("drop");
    let plan = indexed_arm_plan(&store, &tenant, query).await;
    assert!(!both(&plan), "without the index, one column's index and a filter: {plan}");
    store.close().await;
}

/// An actor with many events in a small tenant, whom the statistics (over every tenant) take
/// for a rare one: left to itself the planner reads all of the actor's events and sorts them
/// (the control, the page's statement written out here); Stele's page walks the actor's
/// index in time order and stops at its rows. The page is the actor's newest 50 either way.
#[tokio::test]
async fn a_page_of_one_actor_walks_the_actors_index_even_when_the_estimate_says_rare() {
    let Some((store, inspect)) = open("sortless", IndexMode::Eager, u64::MAX).await else { return };
    let big = TenantId::parse("acme").expect("id");
    let small = create_tenant(&store, "small").await;
    let at = |i: usize| Timestamp::from_micros(1_700_000_000_000_000 + i as i64 * 1_000).to_string();
    // The big tenant: one actor in half of its events, 1 000 actors with one event each.
    let events: Vec<_> = (0..2_000usize)
        .map(|i| {
            let email = if i % 2 == 0 { "ana@acme.test".to_owned() } else { format!("u{i}@acme.test") };
            serde_json::json!({ "action": "user.login", "time": at(i), "actor": { "email": email } })
        })
        .collect();
    store.append(&big, events_from(serde_json::json!({ "events": events })), None).await.expect("append");
    let events: Vec<_> = (0..200usize)
        .map(|i| serde_json::json!({ "action": "user.login", "time": at(i), "actor": { "email": "zed@small.test" } }))
        .collect();
    store.append(&small, events_from(serde_json::json!({ "events": events })), None).await.expect("append");
    // One most common value kept: every other email is estimated at the rest's average.
    inspect.batch_execute("SET default_statistics_target = 1; ANALYZE events").await.expect("analyze");
    let sorts =
        |lines: &[String]| lines.iter().any(|l| l.trim_start().trim_start_matches("->  ").starts_with("Sort  ("));
    let no: i64 = inspect.query_one("SELECT no FROM tenants WHERE id = 'small'", &[]).await.expect("no").get(0);
    let by_hand = "SELECT seq, time, json FROM events WHERE tenant_no = $1 AND seq <= 200
                   AND stele_fold(actor_email) = 'zed@small.test' ORDER BY time DESC, seq DESC LIMIT 51";
    let control = plan(&inspect, "", by_hand, &[&no]).await;
    assert!(sorts(&control), "the planner alone sorts the actor's events: {control:#?}");
    let query = stele_core::Query {
        filter: Some(stele_core::Filter::parse(r#"actor.email eq "ZED@small.test""#).expect("filter")),
        ..stele_core::Query::default()
    };
    let explained = store.explain(&small, &query).await.expect("explain");
    assert!(!sorts(&explained), "the page walks the index in its order: {explained:#?}");
    assert!(explained.iter().any(|l| l.contains("Index Cond") && l.contains("actor_email")), "{explained:#?}");
    let page = store.query(&small, &query).await.expect("page");
    let numbers: Vec<i64> = micros_after_start(&page).iter().map(|t| t / 1_000).collect();
    assert_eq!(numbers, (150..200).rev().collect::<Vec<i64>>());
    // A page with another kind of condition is left to the planner (it may sort).
    assert!(!stele_postgres::compile::walks_a_column_index(&stele_core::Query {
        filter: Some(stele_core::Filter::parse(r#"actor.email eq "zed@small.test" and target.id eq "t""#).expect("f")),
        ..stele_core::Query::default()
    }));
    store.close().await;
}

/// The keys `stele_grams` (migration 15) writes for a message are its aligned trigrams at
/// `layout::GRAM_STEP` under the tenant's prefix — computed here from the characters — for
/// short, odd and even, multibyte, multi-line and long messages; and every substring of a
/// message has, at one of its offsets, all the keys `needle_grams` asks for among them.
#[tokio::test]
async fn a_messages_trigram_keys_hold_every_needle_it_contains() {
    let Some(url) = common::server_url("grams") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect and migrate");
    let client = client(&db).await;
    let keys = |no: i64, m: &str| -> Vec<String> {
        let chars: Vec<char> = m.chars().collect();
        let mut out: Vec<String> = (0..chars.len().saturating_sub(2))
            .step_by(stele_store::layout::GRAM_STEP)
            .map(|i| format!("{no}:{}", chars[i..i + 3].iter().collect::<String>()))
            .collect();
        out.sort();
        out
    };
    let long = "zeppelin é\n%_'\\ ".repeat(700);
    let mut messages: Vec<String> = (0..14).map(|n| "abcdéfghij\nklm".chars().take(n).collect()).collect();
    messages.extend(["user logged in from office 3".to_owned(), "'%_\\".to_owned(), long]);
    for m in &messages {
        let row = client
            .query_one(
                "SELECT ARRAY(SELECT k FROM unnest(stele_grams($1, $2)) AS k ORDER BY k COLLATE \"C\")",
                &[&7i64, m],
            )
            .await
            .expect("keys");
        let stored: Vec<String> = row.get(0);
        // Both sorted by bytes (`COLLATE "C"`, `String`'s order).
        assert_eq!(stored, keys(7, m), "keys of {:?}", m.chars().take(40).collect::<String>());
        let chars: Vec<char> = m.chars().collect();
        for start in 0..chars.len().min(40) {
            for len in stele_store::layout::MIN_NEEDLE..=(chars.len() - start).min(12) {
                let needle: String = chars[start..start + len].iter().collect();
                let alternatives = stele_postgres::compile::needle_grams(7, &needle).expect("long enough");
                assert!(
                    alternatives.iter().any(|alt| alt.iter().all(|k| stored.contains(k))),
                    "{needle:?} at {start} of {:?}",
                    m.chars().take(40).collect::<String>()
                );
            }
        }
    }
    store.close().await;
}

/// Every word of a document is indexed under its tenant's key (`stele_doc`, migration 16), and
/// a query's words are asked for under the same keys (`compile::ts_query`), however
/// PostgreSQL's parser splits them: each word of each text, whole, as a prefix and with the
/// punctuation it was written with, finds the text under its own tenant's number and not
/// under another's.
#[tokio::test]
async fn a_documents_words_are_keyed_by_their_tenant_and_found_under_it() {
    let Some(url) = common::server_url("doc_keys") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect and migrate");
    let client = client(&db).await;
    let texts = [
        "zzt7 user login ana acme io",
        "zzt7 x²y 1e5 3 12abc 0x1f über ÜBER naïve 日本語 s3 bucket",
        "zzt7   Deployment   restored  ",
    ];
    let written = ["ana@acme.io", "user.login", "x²y", "1.e5", "12abc", "0x1f", "Über", "NAÏVE", "日本語", "s3_bucket"];
    for text in texts {
        let lexemes: Vec<String> = client
            .query("SELECT lexeme FROM unnest(stele_doc(7, $1))", &[&text])
            .await
            .expect("lexemes")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(lexemes.len() >= 3, "{text}: {lexemes:?}");
        if !text.contains('²') {
            // (`²` is a letter-or-digit to Rust and a separator to the parser: its word's
            // second half has no key of its own, which the phrase of the query still finds.)
            assert!(lexemes.iter().all(|l| l.starts_with("7x")), "{text}: {lexemes:?}");
        }
        let runs = text.split(' ').filter(|w| !w.is_empty());
        let prefixes = runs.clone().filter(|w| w.chars().count() > 1).map(|w| {
            let stem: String = w.chars().take(w.chars().count() - 1).collect();
            format!("{stem}*")
        });
        let mut words: Vec<String> = runs.map(str::to_owned).chain(prefixes).collect();
        words.extend(
            written
                .iter()
                .filter(|w| {
                    let runs: Vec<&str> = w.split(|c: char| !c.is_alphanumeric()).filter(|r| !r.is_empty()).collect();
                    runs.iter().all(|r| text.to_lowercase().split(' ').any(|t| t == r.to_lowercase()))
                })
                .map(|w| (*w).to_owned()),
        );
        for word in &words {
            let text_query = stele_core::TextQuery::parse(word).expect("words").expect("a word");
            let found = |no: i64| {
                let query = stele_postgres::compile::ts_query(no, &text_query);
                let client = &client;
                async move {
                    let sql = "SELECT stele_doc(7, $1) @@ to_tsquery('simple', $2)";
                    client.query_one(sql, &[&text, &query]).await.expect("match").get::<_, bool>(0)
                }
            };
            assert!(found(7).await, "{word:?} in {text:?}");
            assert!(!found(17).await, "{word:?} of tenant 7 under tenant 17's keys");
        }
    }
    store.close().await;
}

/// A page's list of matches reads the tenant's keys' postings alone: the words' documents or
/// the needle's trigram candidates, with the tenant and the mark tested on the rows found, and
/// never a bitmap of the primary key's range of the tenant (every one of its events), which
/// the planner reads, alone or AND-ed with the keys', when it takes the keys for common (the
/// control: the same list without the `OFFSET 0` fence).
#[tokio::test]
async fn a_list_reads_its_keys_postings_alone_not_the_tenants_primary_key_range() {
    let Some((store, inspect)) = open("keyed_list", IndexMode::Eager, u64::MAX).await else { return };
    let tenant = TenantId::parse("acme").expect("id");
    let other = create_tenant(&store, "other").await;
    let message = |i: i64| format!("office report {}", if i % 10 == 0 { "quarterly" } else { "daily" });
    append_messages(&store, &tenant, "report.filed", 0..300, message).await;
    append_messages(&store, &other, "report.filed", 0..10_000, message).await;
    inspect.batch_execute("ANALYZE").await.expect("analyze");
    let no: i64 = inspect.query_one("SELECT no FROM tenants WHERE id = 'acme'", &[]).await.expect("no").get(0);
    let bounds = stele_postgres::compile::Bounds { mark: 300, head: 300 };
    let words = stele_core::Query {
        text: stele_core::TextQuery::parse("quarterly").expect("words"),
        ..stele_core::Query::default()
    };
    let needle = stele_core::Query {
        filter: Some(stele_core::Filter::parse(r#"message co "quarterly""#).expect("filter")),
        ..stele_core::Query::default()
    };
    use stele_postgres::compile::{matches_sql, ts_query, Driver};
    let doc_query = ts_query(no, words.text.as_ref().expect("words"));
    let cases = [
        (matches_sql(no, &words, &Driver::Words, bounds, 1000, None), "event_docs_keys"),
        (matches_sql(no, &needle, &Driver::Substring("quarterly".into()), bounds, 1000, None), "event_messages_keys"),
    ];
    // As `read.rs` lists them: bitmaps only.
    inspect.batch_execute("SET enable_seqscan = off; SET enable_indexscan = off").await.expect("set");
    for (sql, index) in &cases {
        let lines = plan(&inspect, "", &sql.text, &sql.refs()).await.join("\n");
        assert!(lines.contains(index) && !lines.contains("pkey"), "{lines}");
        let found = inspect.query(sql.text.as_str(), &sql.refs()).await.expect("list");
        assert_eq!(found.len(), 30, "{}", sql.text);
    }
    let unfenced = "SELECT seq FROM event_docs WHERE tenant_no = $1 AND seq <= $2 \
                    AND stele_doc_keys(tenant_no, time, doc) @@ to_tsquery('simple', $3)";
    let lines = plan(&inspect, "", unfenced, &[&no, &300i64, &doc_query]).await.join("\n");
    assert!(lines.contains("Bitmap Index Scan on event_docs_pkey"), "the control: {lines}");
    store.close().await;
}
