//! The deferred index (issue #13): reads cannot tell where the high-water mark is
//! or which postings were merged (proptest over random events, random marks and merges,
//! redactions and filters), ingest is refused
//! past the lag bound, `reindex` rebuilds the index from the log, and an interrupted
//! redaction purge is repaired at the next start.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};
use stele_core::{
    parse_ingest_body, Filter, Limit, Limits, NewEvent, PageRequest, Query, Sort, TenantId, TextQuery, Timestamp,
    ViewFilter,
};
use stele_sqlite::{IndexMode, SqliteOptions, SqliteStore};
use stele_store::{NewTenant, Redaction, Store, StoreError};

fn tenant() -> TenantId {
    TenantId::parse("acme").expect("id")
}

fn open(path: &std::path::Path, index: IndexMode, max_index_lag: u64) -> SqliteStore {
    SqliteStore::open_with(path, SqliteOptions { index, max_index_lag, ..SqliteOptions::default() }).expect("open")
}

fn parsed(body: Value) -> NewEvent {
    parse_ingest_body(body.to_string().as_bytes(), &Limits::default(), Timestamp::now())
        .expect("valid")
        .events
        .remove(0)
}

async fn make_tenant(store: &dyn Store) {
    make_tenant_with(store, parsed(json!({"action": "stele.tenant.created"}))).await;
}

async fn make_tenant_with(store: &dyn Store, created: NewEvent) {
    let new = NewTenant { id: tenant(), name: "Acme".into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(new, created).await.expect("tenant");
}

/// An event from small pools of values, so that filters match some and miss others; with
/// case variants, diacritics and missing attributes.
fn event_body(i: usize, pick: &[u8; 8]) -> Value {
    const ACTIONS: [&str; 4] = ["user.login", "USER.LOGIN", "doc.delete", "café.open"];
    const IDS: [&str; 5] = ["u_1", "U_1", "u_2", "doc-9", "zoë"];
    const ENVS: [Option<&str>; 4] = [Some("prod"), Some("PROD"), Some("dev"), None];
    const WORDS: [&str; 5] = ["login from the lab", "Zoë signed in", "café order", "quokka", ""];
    let mut body = json!({
        "action": ACTIONS[pick[0] as usize % 4],
        "status": if pick[1].is_multiple_of(3) { "failure" } else { "success" },
        "time": Timestamp::from_micros(1_700_000_000_000_000 + (i as i64) * 1_000_000 + i64::from(pick[2] % 3)).to_string(),
    });
    if !pick[3].is_multiple_of(4) {
        body["actor"] = json!({"id": IDS[pick[3] as usize % 5], "email": format!("user{}@acme.io", pick[3] % 3)});
    }
    let targets: Vec<Value> = (0..pick[4] % 3)
        .map(|t| json!({"type": if t == 0 { "User" } else { "Doc" }, "id": IDS[(pick[5] as usize + t as usize) % 5]}))
        .collect();
    body["targets"] = Value::from(targets);
    if let Some(env) = ENVS[pick[6] as usize % 4] {
        body["context"] = json!({"env": env});
    }
    let message = WORDS[pick[7] as usize % 5];
    if !message.is_empty() {
        body["message"] = Value::from(message);
    }
    body
}

/// The queries compared: filters over every kind of leaf, a view, words, sorts and offsets.
fn queries() -> Vec<Query> {
    let filters = [
        r#"action eq "user.login""#,
        r#"actor.email eq "user1@acme.io""#,
        r#"actor.id eq "u_1""#,
        r#"status eq "failure""#,
        r#"target.id eq "u_1""#,
        r#"target.id ne "u_1""#,
        r#"target.id co "1""#,
        r#"target.id sw "U_""#,
        r#"target.id gt "u_1""#,
        r#"target.id le "u_2""#,
        r#"target.id lt "u_2""#,
        r#"target.id ge "u_2""#,
        r#"target.type pr"#,
        r#"not (target.id eq "u_2")"#,
        r#"context.env eq "prod""#,
        r#"context.env ne "prod""#,
        r#"not (context.env pr)"#,
        r#"action eq "user.login" and target.id eq "zoë""#,
        r#"status eq "failure" or context.env eq "dev""#,
        r#"not (actor.id eq "u_1") and target.type eq "doc""#,
        // Substrings: from the trigram index (four characters or more) or the rows.
        r#"message co "LOGIN FROM""#,
        r#"message co "ë sig""#,
        r#"message co "café""#,
        r#"message co "CAFÉ""#,
        r#"message co "la""#,
        r#"not (message co "quokka")"#,
        r#"message co "quokka" or message co "order""#,
    ];
    let limit = Limit::new(4).expect("limit");
    let mut out: Vec<Query> = filters
        .iter()
        .map(|f| Query { filter: Some(Filter::parse(f).expect("filter")), limit, ..Query::default() })
        .collect();
    for words in ["login", "zoe", "CAFE", "caf*", "quokka lab", "signed zoë"] {
        out.push(Query { text: TextQuery::parse(words).expect("words"), limit, ..Query::default() });
    }
    out.push(Query { view: Some(ViewFilter::parse(r#"message co "Zoë""#).expect("view")), limit, ..Query::default() });
    out.push(Query {
        view: Some(ViewFilter::parse(r#"target.id eq "u_1""#).expect("view")),
        text: TextQuery::parse("login").expect("words"),
        limit,
        ..Query::default()
    });
    // Counts of a single action or status equality come from the postings alone.
    let range = stele_core::TimeRange {
        from: Some(Timestamp::from_micros(1_700_000_005_000_000)),
        to: Some(Timestamp::from_micros(1_700_000_020_000_000)),
    };
    for f in [r#"action eq "USER.login""#, r#"status eq "failure""#] {
        out.push(Query { filter: Some(Filter::parse(f).expect("filter")), range, limit, ..Query::default() });
    }
    // Pages in time order walk a term's postings: ascending, two terms (the rarer walked,
    // the other looked up in the postings), a view's term, offsets.
    for (f, sort, page, range) in [
        (r#"action eq "user.login" and context.env eq "prod""#, "time", PageRequest::First, range),
        (r#"status eq "failure" and target.id eq "u_1""#, "-time", PageRequest::Offset(2), Default::default()),
        (r#"actor.id eq "U_1""#, "time", PageRequest::Offset(1), Default::default()),
        // One action by one actor: the pair's postings walked.
        (r#"actor.email eq "USER1@acme.io" and action eq "user.login""#, "-time", PageRequest::First, range),
        (
            r#"action eq "USER.LOGIN" and actor.email eq "user2@acme.io" and context.env eq "prod""#,
            "time",
            PageRequest::Offset(1),
            Default::default(),
        ),
    ] {
        let sort = Sort::parse(sort).expect("sort");
        out.push(Query {
            filter: Some(Filter::parse(f).expect("filter")),
            sort,
            page,
            range,
            limit,
            ..Query::default()
        });
    }
    // The pair from a view's (exact) email and the filter's action.
    out.push(Query {
        view: Some(ViewFilter::parse(r#"actor.email eq "user0@acme.io""#).expect("view")),
        filter: Some(Filter::parse(r#"action eq "USER.login""#).expect("filter")),
        sort: Sort::parse("-time").expect("sort"),
        limit,
        ..Query::default()
    });
    out.push(Query {
        view: Some(ViewFilter::parse(r#"context.env eq "prod""#).expect("view")),
        filter: Some(Filter::parse(r#"status eq "success""#).expect("filter")),
        limit,
        ..Query::default()
    });
    out.push(Query {
        filter: Some(Filter::parse(r#"target.id pr"#).expect("filter")),
        sort: Sort::parse("actor.email").expect("sort"),
        page: PageRequest::Offset(3),
        limit,
        ..Query::default()
    });
    out
}

/// Every page of `query` (following cursors) as `(seq, json)`, and its count.
async fn read_all(store: &dyn Store, query: &Query) -> (Vec<(u64, String)>, u64) {
    let mut q = query.clone();
    let mut seen = Vec::new();
    loop {
        let page = store.query(&tenant(), &q).await.expect("page");
        seen.extend(page.events.into_iter().map(|e| (e.seq.get(), e.json)));
        match page.next {
            Some(cursor) => q.page = PageRequest::After(cursor),
            None => break,
        }
    }
    (seen, store.count(&tenant(), query).await.expect("count"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The same writes into a store whose mark is always at the head and one whose marks
    /// land at random points, with a random part of its recent postings merged after each
    /// write (and one that never indexes): every query answers the same.
    #[test]
    fn reads_cannot_tell_where_the_mark_is(
        picks in proptest::collection::vec(any::<[u8; 8]>(), 1..40),
        batches in proptest::collection::vec(1usize..12, 1..8),
        redact in proptest::option::of(any::<proptest::sample::Index>()),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("dir");
            let stores: Vec<Arc<dyn Store>> = [IndexMode::Eager, IndexMode::Random(seed), IndexMode::Never]
                .into_iter()
                .enumerate()
                .map(|(i, mode)| Arc::new(open(&dir.path().join(format!("{i}.db")), mode, u64::MAX)) as Arc<dyn Store>)
                .collect();
            let events: Vec<NewEvent> = picks.iter().enumerate().map(|(i, p)| parsed(event_body(i, p))).collect();
            let created = parsed(json!({"action": "stele.tenant.created"}));
            let redacted = parsed(json!({"action": "stele.event.redacted"}));
            for store in &stores {
                make_tenant_with(&**store, created.clone()).await;
                let mut rest = events.as_slice();
                for size in batches.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (batch, tail) = rest.split_at((*size).min(rest.len()));
                    store.append(&tenant(), batch.to_vec(), None).await.expect("append");
                    rest = tail;
                }
                if let Some(index) = &redact {
                    let victim = index.get(&events).event.id;
                    let r = Redaction { reason: "erasure".into(), by: "test".into(), at: Timestamp::from_micros(1) };
                    store.redact(&tenant(), &victim, r, redacted.clone()).await.expect("redact");
                }
            }
            for query in queries() {
                let expected = read_all(&*stores[0], &query).await;
                for store in &stores[1..] {
                    let got = read_all(&**store, &query).await;
                    prop_assert_eq!(&got, &expected, "query {:?}", query);
                }
            }
            for store in &stores {
                store.close().await;
            }
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_refused_past_the_lag_bound_until_the_index_catches_up() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("stele.db"), IndexMode::Never, 5);
    make_tenant(&store).await;
    let batch = || -> Vec<NewEvent> { (0..5).map(|i| parsed(json!({"action": format!("a.{i}")}))).collect() };
    // Positive control: within the bound (1 event behind), the append is taken.
    assert!(store.accepts_appends().is_ok(), "nothing behind yet");
    store.append(&tenant(), batch(), None).await.expect("within the bound");
    assert_eq!(store.index_lag(), 6);
    // Ingest asks before it reads a body: the same answer as the append's.
    assert!(matches!(store.accepts_appends(), Err(StoreError::IndexBehind(6))));
    let refused = store.append(&tenant(), batch(), None).await;
    assert!(matches!(refused, Err(StoreError::IndexBehind(6))), "{refused:?}");
    assert_eq!(store.count(&tenant(), &Query::default()).await.expect("count"), 6, "nothing of it stored");
    store.catch_up_index().await.expect("indexed");
    assert_eq!(store.index_lag(), 0);
    assert!(store.accepts_appends().is_ok(), "caught up");
    store.append(&tenant(), batch(), None).await.expect("taken again");
    store.close().await;
}

/// Past the bound, ingest's admission waits for the indexer instead of refusing at once: it
/// is woken by the indexer's commit (long before its wait would end) and taken. With no
/// wait it is refused at once, as `append` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_past_the_lag_bound_waits_for_the_indexer() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stele.db");
    let wait = std::time::Duration::from_secs(600);
    let options =
        SqliteOptions { index: IndexMode::Never, max_index_lag: 5, index_lag_wait: wait, ..SqliteOptions::default() };
    let store = Arc::new(SqliteStore::open_with(&path, options).expect("open"));
    make_tenant(&*store).await;
    // Positive control: within the bound, admitted at once.
    store.admit_appends().await.expect("nothing behind yet");
    let batch: Vec<NewEvent> = (0..5).map(|i| parsed(json!({"action": format!("a.{i}")}))).collect();
    store.append(&tenant(), batch, None).await.expect("within the bound");
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.admit_appends().await })
    };
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "6 behind, bound 5: waits");
    store.catch_up_index().await.expect("indexed");
    let admitted = tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("woken by the indexer's commit, not by the end of its 600 s wait");
    admitted.expect("joined").expect("admitted once caught up");
    store.close().await;

    // With no wait, admission past the bound is refused at once.
    let options = SqliteOptions {
        index: IndexMode::Never,
        max_index_lag: 5,
        index_lag_wait: std::time::Duration::ZERO,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, options).expect("open");
    let batch: Vec<NewEvent> = (0..6).map(|i| parsed(json!({"action": format!("b.{i}")}))).collect();
    store.append(&tenant(), batch, None).await.expect("within the bound");
    assert!(matches!(store.admit_appends().await, Err(StoreError::IndexBehind(6))));
    store.close().await;
}

/// The indexer reads a group's events in chunks of 1 000 (so that a group's JSON is never
/// all in memory) but sorts the group's postings as one: a group that spans several chunks
/// answers exactly as the unindexed log does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_larger_than_a_read_chunk_is_indexed_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("stele.db"), IndexMode::Never, u64::MAX);
    make_tenant(&store).await;
    // Each attribute cycles with its own period, so the values mix across the chunks.
    const PERIODS: [usize; 8] = [251, 7, 1, 5, 3, 11, 13, 17];
    let events: Vec<NewEvent> = (0..2_300).map(|i| parsed(event_body(i, &PERIODS.map(|p| (i % p) as u8)))).collect();
    for batch in events.chunks(500) {
        store.append(&tenant(), batch.to_vec(), None).await.expect("append");
    }
    // Pages of 500: the comparison is of the whole answer, not of paging (the proptest's).
    let limit = Limit::new(500).expect("limit");
    let queries: Vec<Query> = queries().into_iter().map(|q| Query { limit, ..q }).collect();
    // Mark at 0: every read is a scan of the log.
    let mut scanned = Vec::new();
    for q in &queries {
        scanned.push(read_all(&store, q).await);
    }
    assert_eq!(store.index_lag(), 2_301);
    store.catch_up_index().await.expect("indexed");
    // Mark at the head: every read is served from the index.
    assert_eq!(store.index_lag(), 0);
    for (q, expected) in queries.iter().zip(&scanned) {
        assert_eq!(&read_all(&store, q).await, expected, "{q:?}");
    }
    // Positive control: matches come from every chunk (the last event's seq is 2 301).
    let last_seen = scanned.iter().filter_map(|(events, _)| events.iter().map(|(seq, _)| *seq).max()).max();
    assert!(last_seen > Some(2_000), "{last_seen:?}");
    assert!(scanned.iter().filter(|(events, _)| !events.is_empty()).count() > 10);
    store.close().await;
}

/// A store on a fresh directory with the indexer following every append (`IndexMode::Eager`),
/// the test tenant and `events` appended to it: the directory, the database's path, the store.
async fn indexed_log(events: Vec<NewEvent>) -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stele.db");
    let store = open(&path, IndexMode::Eager, u64::MAX);
    make_tenant(&store).await;
    store.append(&tenant(), events, None).await.expect("append");
    (dir, path, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_index_from_the_log() {
    let (_dir, path, store) = indexed_log((0..60).map(|i| parsed(event_body(i, &[i as u8; 8]))).collect()).await;
    let mut before = Vec::new();
    for q in queries() {
        before.push(read_all(&store, &q).await);
    }
    store.close().await;
    drop(store);
    let mut reported = Vec::new();
    let total = SqliteStore::reindex(&path, |done, total| reported.push((done, total))).expect("reindex");
    assert_eq!(total, 61);
    assert_eq!(reported.last(), Some(&(61, 61)));
    // Reopened without an indexer, every read is served from the rebuilt index alone.
    let store = open(&path, IndexMode::Never, u64::MAX);
    assert_eq!(store.index_lag(), 0);
    for (q, expected) in queries().iter().zip(&before) {
        assert_eq!(&read_all(&store, q).await, expected, "{q:?}");
    }
    // Positive control: the comparison sees results (the queries are not all empty).
    assert!(before.iter().filter(|(events, _)| !events.is_empty()).count() > 10);
    store.close().await;
}

/// An index file of an older layout (here layout 3, whose trigram index took every third
/// character of a message) is dropped and rebuilt from the log when the store opens: a
/// 4-character needle, which layout 3 could not answer, is then found through the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_an_older_layout_is_rebuilt_when_the_store_opens() {
    let events =
        (0..20).map(|i| parsed(json!({"action": "user.login", "message": format!("seen by quokka{i} at noon")})));
    let (_dir, path, store) = indexed_log(events.collect()).await;
    store.close().await;
    drop(store);
    let needle = Query {
        filter: Some(Filter::parse(r#"message co "ka7 ""#).expect("filter")),
        limit: Limit::new(50).expect("limit"),
        ..Query::default()
    };
    // What the file of an older layout looks like to this one: its trigram documents are
    // not this layout's (emptied here), so the index misses the message.
    let emptied = |version: i64| {
        let conn = rusqlite::Connection::open(stele_sqlite::index_path(&path)).expect("open the index");
        conn.execute_batch("DELETE FROM tri_blocks").expect("empty the trigram index");
        conn.pragma_update(None, "user_version", version).expect("version");
    };
    // Positive control: with the layout's own version the file is kept as it is, and the
    // needle's event is not found (so the check below can fail).
    let current: i64 = rusqlite::Connection::open(stele_sqlite::index_path(&path))
        .expect("open the index")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    emptied(current);
    let store = open(&path, IndexMode::Never, u64::MAX);
    assert_eq!(store.index_lag(), 0, "nothing to index");
    let plan = store.explain(&tenant(), &needle).await.expect("plan").join(" | ");
    assert!(plan.contains("from tri_blocks"), "the needle is looked up in the trigram index: {plan}");
    assert_eq!(store.count(&tenant(), &needle).await.expect("count"), 0, "the emptied index misses it");
    store.close().await;
    drop(store);
    // An older layout: rebuilt from the log.
    emptied(3);
    let store = open(&path, IndexMode::Never, u64::MAX);
    assert_eq!(store.index_lag(), 21, "the whole log is to be indexed again");
    store.catch_up_index().await.expect("indexed");
    assert_eq!(store.index_lag(), 0);
    assert_eq!(store.count(&tenant(), &needle).await.expect("count"), 1, "quokka7, from the rebuilt index");
    let page = store.query(&tenant(), &needle).await.expect("page");
    assert_eq!(page.events.len(), 1);
    assert!(page.events[0].json.contains("quokka7 at"), "{}", page.events[0].json);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_redaction_purge_rebuilds_the_tenants_index_at_start() {
    let (_dir, path, store) = indexed_log((0..10).map(|i| parsed(event_body(i, &[1; 8]))).collect()).await;
    store.close().await;
    drop(store);
    // Positive control: a clean start has nothing to index.
    let store = open(&path, IndexMode::Never, u64::MAX);
    assert_eq!(store.index_lag(), 0);
    store.close().await;
    drop(store);
    // What a crash between a tombstone's commit and its purge leaves: a pending position.
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute("INSERT INTO index_purges (pos) SELECT pos FROM events WHERE seq = 4", []).expect("pending purge");
    drop(conn);
    let store = open(&path, IndexMode::Never, u64::MAX);
    assert_eq!(store.index_lag(), 11, "the tenant's index is dropped, to be rebuilt from the log");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let pending: i64 = conn.query_row("SELECT COUNT(*) FROM index_purges", [], |r| r.get(0)).expect("count");
    assert_eq!(pending, 0);
    store.catch_up_index().await.expect("rebuilt");
    let words = Query { text: TextQuery::parse("zoe").expect("q"), ..Query::default() };
    assert_eq!(store.count(&tenant(), &words).await.expect("count"), 10);
    store.close().await;
}

/// Whether `word` occurs in the bytes of any of the index's files.
fn index_holds(db: &std::path::Path, word: &str) -> bool {
    stele_sqlite::index_files(db)
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .any(|bytes| bytes.windows(word.len()).any(|w| w == word.as_bytes()))
}

/// Blocks of the trigram index holding `trigram` (three lowercase characters, aligned in the
/// message), read from the file: the trigram packed as the index packs it (three code points
/// of 21 bits).
fn trigram_blocks(db: &std::path::Path, trigram: &str) -> i64 {
    let conn = rusqlite::Connection::open(stele_sqlite::index_path(db)).expect("open the index");
    let gram = trigram.chars().fold(0i64, |acc, c| (acc << 21) | i64::from(u32::from(c)));
    conn.query_row("SELECT COUNT(*) FROM tri_blocks WHERE gram = ?1", [gram], |r| r.get(0)).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_purges_the_events_entries_from_the_index_file() {
    purge_from_the_index_file(false).await;
}

/// The same with the event's postings merged from `recent_postings` into `postings` first:
/// they are purged from there, and the merge left no copy in the pages it freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_purges_merged_postings_from_the_index_file() {
    purge_from_the_index_file(true).await;
}

async fn purge_from_the_index_file(merged: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stele.db");
    let store = open(&path, IndexMode::Eager, u64::MAX);
    make_tenant(&store).await;
    let victim = parsed(json!({"action": "user.login", "message": "seen by quokkaword",
        "actor": {"id": "zanzibaractor", "email": "zanzibar@example.org"},
        "targets": [{"id": "zanzibartarget"}, {"id": "sharedtarget"}], "context": {"lab": "zanzibarcontext"}}));
    let others: Vec<NewEvent> = (0..5)
        .map(|i| {
            parsed(
                json!({"action": "user.login", "message": format!("other {i}"), "targets": [{"id": "sharedtarget"}]}),
            )
        })
        .collect();
    store.append(&tenant(), vec![victim.clone()], None).await.expect("append");
    store.append(&tenant(), others, None).await.expect("append");
    if merged {
        store.merge_index().await.expect("merge");
    }
    let words = ["quokkaword", "zanzibaractor", "zanzibar@example.org", "zanzibartarget", "zanzibarcontext"];
    // Positive control: indexed (the mark is at the head), the values are in the index file.
    for w in words {
        assert!(index_holds(&path, w), "{w} is in the index before the redaction");
    }
    // The trigram index holds packed trigrams, not the message's bytes: asked directly.
    assert_eq!(trigram_blocks(&path, "kaw"), 1, "the message is in the trigram index");
    let shared =
        Query { filter: Some(Filter::parse(r#"target.id eq "sharedtarget""#).expect("filter")), ..Query::default() };
    assert_eq!(store.count(&tenant(), &shared).await.expect("count"), 6, "the shared term's postings, all indexed");
    let r = Redaction { reason: "erasure".into(), by: "test".into(), at: Timestamp::now() };
    store
        .redact(&tenant(), &victim.event.id, r, parsed(json!({"action": "stele.event.redacted"})))
        .await
        .expect("redact");
    for w in words {
        assert!(!index_holds(&path, w), "{w} is still in the index file after the redaction");
    }
    assert_eq!(trigram_blocks(&path, "kaw"), 0, "the message's trigrams are purged");
    // A term the redacted event shared stays in the dictionary for the others' postings.
    assert!(index_holds(&path, "sharedtarget"), "the shared term is still in the index");
    assert_eq!(store.count(&tenant(), &shared).await.expect("count"), 5, "the others are still found by it");
    // The rest of the index is intact: the other events are still found by their words.
    let words = Query { text: TextQuery::parse("other").expect("q"), ..Query::default() };
    assert_eq!(store.count(&tenant(), &words).await.expect("count"), 5);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_opens_under_a_path_with_uri_characters() {
    let dir = tempfile::tempdir().expect("dir");
    let odd = dir.path().join("a%25b?c#d");
    std::fs::create_dir_all(&odd).expect("dir");
    let store = open(&odd.join("stele.db"), IndexMode::Eager, u64::MAX);
    make_tenant(&store).await;
    store
        .append(&tenant(), vec![parsed(json!({"action": "doc.read", "message": "odd path"}))], None)
        .await
        .expect("append");
    let query = Query { filter: Some(Filter::parse(r#"action eq "doc.read""#).expect("filter")), ..Query::default() };
    assert_eq!(store.count(&tenant(), &query).await.expect("count"), 1);
    assert!(stele_sqlite::index_path(&odd.join("stele.db")).exists());
    store.close().await;
}

/// Rows of one table of the index file, read through a connection of the test's own.
fn index_rows(db: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(stele_sqlite::index_path(db)).expect("open the index");
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).expect("count")
}

/// The background indexer, once idle, merges the recent postings into `postings`: at rest
/// everything is in one table, and a query finds every event through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_indexer_merges_the_recent_postings() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stele.db");
    let store = open(&path, IndexMode::Background, u64::MAX);
    make_tenant(&store).await;
    let events: Vec<NewEvent> =
        (0..200).map(|i| parsed(json!({"action": "doc.edit", "targets": [{"id": format!("d_{i}")}]}))).collect();
    store.append(&tenant(), events, None).await.expect("append");
    // Waits on the condition (the indexer's idle merge comes a second after its last group).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.index_lag() > 0 || index_rows(&path, "recent_postings") > 0 {
        assert!(std::time::Instant::now() < deadline, "the recent postings were never merged");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Each event's action, status and target id, and the tenant's creation's action and status.
    assert_eq!(index_rows(&path, "postings"), 200 * 3 + 2, "every posting, in the merged table");
    let query =
        Query { filter: Some(stele_core::Filter::parse(r#"target.id eq "d_7""#).expect("filter")), ..Query::default() };
    assert_eq!(store.count(&tenant(), &query).await.expect("count"), 1);
    store.close().await;
}

/// Under single events every indexer group is small, and a trigram has a block in each group
/// that holds it: the small groups are merged as they come, so a tenant keeps few groups
/// (under 16 small ones here) while `message co` stays exact — across a redaction between
/// merges, too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_trigram_groups_are_merged_and_stay_exact() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stele.db");
    let store = open(&path, IndexMode::Eager, u64::MAX);
    make_tenant(&store).await;
    let message =
        |i: usize| format!("request {i} from {}", if i.is_multiple_of(5) { "the platypus" } else { "a wombat" });
    let mut ids = Vec::new();
    for i in 0..120 {
        let event = parsed(json!({"action": "user.login", "message": message(i)}));
        ids.push(event.event.id);
        // One append, one indexer group (eager mode).
        store.append(&tenant(), vec![event], None).await.expect("append");
        if i == 60 {
            let r = Redaction { reason: "erasure".into(), by: "test".into(), at: Timestamp::now() };
            store
                .redact(&tenant(), &ids[55], r, parsed(json!({"action": "stele.event.redacted"})))
                .await
                .expect("redact");
        }
    }
    let groups = || -> Vec<(i64, i64, i64)> {
        let conn = rusqlite::Connection::open(stele_sqlite::index_path(&path)).expect("open the index");
        let mut stmt =
            conn.prepare("SELECT first, last, events FROM tri_groups ORDER BY tenant_no, first").expect("sql");
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("groups");
        rows.collect::<Result<_, _>>().expect("rows")
    };
    let groups = groups();
    // 123 events (the tenant's creation, 120, the redaction's tombstone) in 122 groups, merged.
    assert!(groups.len() < 16 + 1, "{} groups: {groups:?}", groups.len());
    assert!(groups.iter().any(|g| g.2 >= 8), "merged groups hold many events: {groups:?}");
    assert!(groups.windows(2).all(|w| w[1].0 == w[0].1 + 1), "adjacent, none lost: {groups:?}");
    let platypus = Query {
        filter: Some(Filter::parse(r#"message co "platypus""#).expect("filter")),
        limit: Limit::new(500).expect("limit"),
        ..Query::default()
    };
    // Every fifth event but the redacted 55th.
    let page = store.query(&tenant(), &platypus).await.expect("page");
    let mut found: Vec<String> = page
        .events
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.json).expect("json")["message"].as_str().expect("message").to_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = (0..120).filter(|i: &usize| i.is_multiple_of(5) && *i != 55).map(message).collect();
    want.sort();
    assert_eq!(found, want);
    assert_eq!(store.count(&tenant(), &platypus).await.expect("count"), want.len() as u64);
    let plan = store.explain(&tenant(), &platypus).await.expect("plan").join(" | ");
    assert!(plan.contains(&format!("LISTED {} candidates", want.len())), "from the trigram index: {plan}");
    store.close().await;
}
