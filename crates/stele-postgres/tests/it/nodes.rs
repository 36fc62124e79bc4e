//! Behaviour specific to PostgreSQL: several nodes on one database, partitions, plans and
//! full-text search. Skipped (saying so) when `STELE_TEST_POSTGRES_URL` is not set.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use stele_core::{Limit, PageRequest, Query, TextQuery, Timestamp};
use stele_postgres::PostgresStore;
use stele_store::conformance::event;
use stele_store::{NewTenant, RetentionStore, Store};
use tokio_postgres::NoTls;

fn tenant(id: &str) -> stele_core::TenantId {
    stele_core::TenantId::parse(id).expect("tenant id")
}

async fn make_tenant(store: &dyn Store, id: &str) {
    let new = NewTenant { id: tenant(id), name: id.into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(new, event("stele.tenant.created", 1)).await.expect("tenant");
}

/// Two stores ("nodes") on one database; 8 tasks spread across them append to the same 3
/// tenants at once. Every tenant's log must come out gapless, without duplicates, with exact
/// counts, whichever node wrote what.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_one_database() {
    let Some(url) = common::server_url("two_nodes_share_one_database") else { return };
    let db = common::fresh_database(&url).await;
    // Both nodes start (and migrate) at once.
    let (a, b) = tokio::join!(PostgresStore::connect(&db), PostgresStore::connect(&db));
    let nodes: [Arc<dyn Store>; 2] = [Arc::new(a.expect("node a")), Arc::new(b.expect("node b"))];
    let tenants = ["acme", "globex", "initech"];
    for (i, t) in tenants.iter().enumerate() {
        make_tenant(&*nodes[i % 2], t).await;
    }
    const TASKS: i64 = 8;
    const ROUNDS: i64 = 25;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let node = nodes[(task % 2) as usize].clone();
        handles.push(tokio::spawn(async move {
            let mut got: Vec<(&str, u64)> = Vec::new();
            for round in 0..ROUNDS {
                let t = tenants[((task + round) % 3) as usize];
                let size = 1 + (round % 4) as usize;
                let batch = (0..size).map(|i| event("n", task * 10_000 + round * 10 + i as i64)).collect();
                let out = node.append(&tenant(t), batch, None).await.expect("append");
                got.extend(out.receipts().iter().map(|r| (t, r.seq.get())));
            }
            got
        }));
    }
    let mut by_tenant: HashMap<&str, Vec<u64>> = HashMap::new();
    for h in handles {
        for (t, seq) in h.await.expect("task") {
            by_tenant.entry(t).or_default().push(seq);
        }
    }
    let mut total = 0;
    for t in tenants {
        let mut seqs = by_tenant.remove(t).unwrap_or_default();
        seqs.sort_unstable();
        let n = seqs.len() as u64;
        total += n;
        assert_eq!(seqs, (2..=n + 1).collect::<Vec<u64>>(), "{t}: receipts gapless and unique");
        for node in &nodes {
            assert_eq!(node.count(&tenant(t), &Query::default()).await.expect("count"), n + 1, "{t}: exact count");
        }
        // The stored log itself: seqs 1..=n+1, each once, on a single page.
        let page = nodes[1]
            .query(&tenant(t), &Query { limit: Limit::new(1000).expect("limit"), ..Query::default() })
            .await
            .expect("query");
        let mut stored: Vec<u64> = page.events.iter().map(|e| e.seq.get()).collect();
        stored.sort_unstable();
        assert_eq!(stored, (1..=n + 1).collect::<Vec<u64>>(), "{t}: stored log gapless and unique");
    }
    let sizes: i64 = (0..ROUNDS).map(|r| 1 + r % 4).sum();
    assert_eq!(total as i64, TASKS * sizes);
    for node in nodes {
        node.close().await;
    }
}

/// The current and next months have their partitions; today's events go there, old ones
/// to the DEFAULT partition; a restart (second connect) changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_created_ahead() {
    let Some(url) = common::server_url("partitions_are_created_ahead") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect");
    let again = PostgresStore::connect(&db).await.expect("connect again");
    again.close().await;
    make_tenant(&store, "acme").await;
    let now = Timestamp::now().as_micros();
    store.append(&tenant("acme"), vec![event("now", now), event("old", 1)], None).await.expect("append");

    let (client, connection) = tokio_postgres::connect(&db, NoTls).await.expect("connect");
    let driver = tokio::spawn(connection);
    let parts: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass ORDER BY 1",
            &[],
        )
        .await
        .expect("partitions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let today = time::OffsetDateTime::now_utc();
    let this_month = stele_postgres::schema::partition_name(today.year(), u8::from(today.month()));
    assert_eq!(parts.len(), 1 + 1 + stele_postgres::schema::MONTHS_AHEAD as usize, "{parts:?}");
    assert!(parts.contains(&"events_default".to_owned()) && parts.contains(&this_month), "{parts:?}");
    let placed: Vec<(String, String)> = client
        .query("SELECT tableoid::regclass::text, action FROM events ORDER BY seq", &[])
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        placed,
        vec![
            ("events_default".to_owned(), "stele.tenant.created".to_owned()),
            (this_month, "now".to_owned()),
            ("events_default".to_owned(), "old".to_owned())
        ]
    );
    drop(client);
    let _ = driver.await;
    store.close().await;
}

/// `q` words are AND-ed, `word*` is a prefix, and search never leaves the tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_search_and_explain() {
    let Some(url) = common::server_url("text_search_and_explain") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect");
    make_tenant(&store, "acme").await;
    make_tenant(&store, "globex").await;
    let ev = |action: &str| event(action, 5);
    store
        .append(&tenant("acme"), vec![ev("invoice.paid"), ev("user.created"), ev("user.deleted")], None)
        .await
        .expect("a");
    store.append(&tenant("globex"), vec![ev("user.created")], None).await.expect("g");
    let search = |text: &str| Query { text: TextQuery::parse(text).expect("words"), ..Query::default() };
    let count = |q: Query| {
        let store = &store;
        async move { store.count(&tenant("acme"), &q).await.expect("count") }
    };
    assert_eq!(count(search("user.created")).await, 1);
    assert_eq!(count(search("user*")).await, 2);
    assert_eq!(count(search("ana@acme.io user.deleted")).await, 1);
    assert_eq!(count(search("nothing-like-it")).await, 0);
    assert_eq!(count(search("it's \\ o'clock*")).await, 0, "quotes and backslashes are words");

    let filtered = Query {
        filter: Some(stele_core::Filter::parse(r#"action eq "USER.CREATED""#).expect("filter")),
        page: PageRequest::Offset(0),
        ..Query::default()
    };
    let plan = store.explain(&tenant("acme"), &filtered).await.expect("explain");
    assert!(!plan.is_empty());
    assert!(plan.iter().any(|l| l.contains("events")), "{plan:?}");
    store.close().await;
}

/// Migration 8 rebuilds every full-text document split at non-letters, as new documents
/// are: events stored with a document of the old kind (`user.login` one lexeme) are found by
/// `q=login` once it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_eight_splits_old_documents() {
    let Some(url) = common::server_url("migration_eight_splits_old_documents") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect");
    make_tenant(&store, "acme").await;
    store.append(&tenant("acme"), vec![event("user.login", 5), event("s3_bucket.emptied", 6)], None).await.expect("a");
    store.close().await;
    let (client, connection) = tokio_postgres::connect(&db, NoTls).await.expect("connect");
    let driver = tokio::spawn(connection);
    // Documents as version 7 wrote them, and the schema back at version 7 (later versions'
    // tables dropped, so they are made again; the terms in `event_terms`, as versions before
    // 11 wrote them at commit).
    client
        .batch_execute(
            "INSERT INTO event_terms (tenant_no, term, seq)
                 SELECT tenant_no, unnest(terms), seq FROM events ON CONFLICT DO NOTHING;
             ALTER TABLE events ADD COLUMN doc tsvector NOT NULL DEFAULT ''::tsvector;
             UPDATE events SET doc = to_tsvector('simple', 'zzt' || tenant_no || ' ' || action);
             CREATE INDEX events_doc ON events USING gin (doc);
             UPDATE events SET message = 'Bucket Emptied by Ana' WHERE action = 's3_bucket.emptied';
             DROP TABLE viewer_links, oidc_providers, streams, retention, event_docs, index_marks, event_messages;
             ALTER TABLE events DROP COLUMN redacted, DROP COLUMN terms, DROP COLUMN search;
             DELETE FROM stele_migrations WHERE version >= 8;",
        )
        .await
        .expect("old documents");
    let sql = "SELECT count(*) FROM events WHERE doc @@ to_tsquery('simple', 'login')";
    let found = client.query_one(sql, &[]).await.expect("count").get::<_, i64>(0);
    assert_eq!(found, 0, "the old documents hide the word");
    let search = |text: &str| Query { text: TextQuery::parse(text).expect("words"), ..Query::default() };
    let store = PostgresStore::connect(&db).await.expect("connect and migrate");
    // Migration 11 moved the (rebuilt) documents into the postings, and migration 16 keyed
    // their words under the tenant's number.
    let sql = "SELECT count(*) FROM event_docs d JOIN tenants t ON t.no = d.tenant_no
               WHERE t.id = 'acme' AND doc @@ to_tsquery('simple', t.no || 'xlogin')";
    let found = client.query_one(sql, &[]).await.expect("count").get::<_, i64>(0);
    assert_eq!(found, 1, "the migrations split them and keyed them by tenant");
    let sql = "SELECT count(*) FROM event_docs WHERE doc @@ to_tsquery('simple', 'login')";
    let found = client.query_one(sql, &[]).await.expect("count").get::<_, i64>(0);
    assert_eq!(found, 0, "no word is a key of every tenant's");
    for (word, expected) in [("login", 1), ("bucket", 1), ("s3", 1), ("user.login", 1), ("emptied", 1)] {
        assert_eq!(store.count(&tenant("acme"), &search(word)).await.expect("count"), expected, "{word}");
    }
    // Migration 11 gave the old rows their terms and document text: the postings rebuilt
    // from the rows alone answer the same.
    let by_term =
        Query { filter: Some(stele_core::Filter::parse(r#"context.env eq "prod""#).expect("f")), ..Query::default() };
    let before = store.count(&tenant("acme"), &by_term).await.expect("count");
    assert!(before > 0, "the old rows have terms");
    // Migration 12 gave the indexed rows their messages for `message co`.
    let co =
        Query { filter: Some(stele_core::Filter::parse(r#"message co "EMPTIED BY""#).expect("f")), ..Query::default() };
    assert_eq!(store.count(&tenant("acme"), &co).await.expect("count"), 1);
    store.reindex().await.expect("reindex");
    assert_eq!(store.count(&tenant("acme"), &by_term).await.expect("count"), before);
    for (word, expected) in [("login", 1), ("bucket", 1), ("s3", 1), ("user.login", 1), ("emptied", 1)] {
        assert_eq!(store.count(&tenant("acme"), &search(word)).await.expect("count"), expected, "{word} after reindex");
    }
    assert_eq!(store.count(&tenant("acme"), &co).await.expect("count"), 1, "message co after reindex");
    store.close().await;
    drop(client);
    let _ = driver.await;
}

/// Rows of a month that the DEFAULT partition already holds (events an older version accepted
/// far in the future, appended before their month's partition existed) move into the month's
/// partition when it is created: creation no longer fails, no row is lost or duplicated, and
/// later events of the month go to the new partition instead of DEFAULT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_partition_moves_that_months_rows_out_of_default() {
    let Some(url) = common::server_url("creating_a_partition_moves_that_months_rows_out_of_default") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect");
    make_tenant(&store, "acme").await;
    let at = |s: &str| Timestamp::parse(s).expect("time").as_micros();
    let (first, last) = (at("2090-03-01T00:00:00Z"), at("2090-03-31T23:59:59.999999Z"));
    store
        .append(
            &tenant("acme"),
            vec![event("march.first", first), event("march.last", last), event("april", at("2090-04-01T00:00:00Z"))],
            None,
        )
        .await
        .expect("append to DEFAULT");
    let (mut client, connection) = tokio_postgres::connect(&db, NoTls).await.expect("connect");
    let driver = tokio::spawn(connection);
    // And one row written straight into DEFAULT, as an old deployment would have left it.
    client
        .execute(
            "INSERT INTO events_default (tenant_no, seq, id, time, received_at, action, status, origin, actor_type,
                actor_id, actor_name, actor_email, actor_ip, message, reason, correlation_id, request_id,
                request_method, request_path, request_status, metadata, search, terms, json)
             SELECT tenant_no, seq, id || '-raw', time + 1, received_at, 'march.raw', status,
                origin, actor_type, actor_id, actor_name, actor_email, actor_ip, message, reason, correlation_id,
                request_id, request_method, request_path, request_status, metadata, search, terms, json
             FROM events WHERE action = 'march.first'",
            &[],
        )
        .await
        .expect("raw insert into DEFAULT");
    async fn rows(client: &tokio_postgres::Client) -> Vec<(String, String)> {
        client
            .query("SELECT tableoid::regclass::text, action FROM events WHERE action <> 'stele.tenant.created' ORDER BY time, seq", &[])
            .await
            .expect("rows")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
    let default = |a: &str| ("events_default".to_owned(), a.to_owned());
    assert_eq!(
        rows(&client).await,
        vec![default("march.first"), default("march.raw"), default("march.last"), default("april")]
    );

    let now = time::macros::datetime!(2090-03-15 12:00 UTC);
    let created = stele_postgres::schema::ensure_partitions(&mut client, now).await.expect("ensure");
    assert_eq!(created, vec!["events_209003", "events_209004", "events_209005"]);
    let march = |a: &str| ("events_209003".to_owned(), a.to_owned());
    assert_eq!(
        rows(&client).await,
        vec![
            march("march.first"),
            march("march.raw"),
            march("march.last"),
            ("events_209004".to_owned(), "april".to_owned())
        ]
    );
    let total: i64 = client.query_one("SELECT count(*) FROM events", &[]).await.expect("count").get(0);
    let distinct: i64 = client.query_one("SELECT count(DISTINCT id) FROM events", &[]).await.expect("count").get(0);
    assert_eq!((total, distinct), (5, 5), "no row lost or duplicated");
    // Creating again is a no-op, and new events of the month go to its partition.
    assert!(stele_postgres::schema::ensure_partitions(&mut client, now).await.expect("again").is_empty());
    store.append(&tenant("acme"), vec![event("march.later", first + 5)], None).await.expect("append");
    let later: String = client
        .query_one("SELECT tableoid::regclass::text FROM events WHERE action = 'march.later'", &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(later, "events_209003");
    // Counted row by row (a filter; a bare count is the log size, which the raw row is not in).
    let every_row = Query { filter: Some(stele_core::Filter::parse("seq ge 1").expect("filter")), ..Query::default() };
    let counted = store.count(&tenant("acme"), &every_row).await.expect("count");
    assert_eq!(counted, 6, "the store still sees every row (tenant.created and the raw row included)");
    drop(client);
    let _ = driver.await;
    store.close().await;
}

/// Retention's space on PostgreSQL: a past month whose every event (of every tenant) is a
/// tombstone has its partition replaced by a compact copy of the tombstones and dropped; a
/// month with one live event stays. Every read answers the same before and after, the tree
/// is untouched, the space went down, later events of the month still land, and a second
/// reclaim does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_drops_a_month_of_tombstones_and_reads_do_not_change() {
    let Some(url) = common::server_url("reclaim_drops_a_month_of_tombstones_and_reads_do_not_change") else { return };
    let db = common::fresh_database(&url).await;
    let store = PostgresStore::connect(&db).await.expect("connect");
    let (mut client, connection) = tokio_postgres::connect(&db, NoTls).await.expect("connect");
    let driver = tokio::spawn(connection);
    for (y, m) in [(2030, 1), (2030, 2)] {
        let (from, to) = stele_postgres::schema::month_bounds(y, m).expect("bounds");
        let name = stele_postgres::schema::partition_name(y, m);
        stele_postgres::schema::create_partition(&mut client, &name, from, to).await.expect("partition");
    }
    let at = |s: &str| Timestamp::parse(s).expect("time").as_micros();
    let (jan, feb) = (at("2030-01-10T00:00:00Z"), at("2030-02-10T00:00:00Z"));
    let padded = |action: &str, time: i64| {
        let body = serde_json::json!({
            "action": action,
            "time": Timestamp::from_micros(time).to_string(),
            "actor": {"id": "u_1", "email": "ana@acme.io"},
            "message": "x".repeat(1500),
            "context": {"env": "prod"}
        });
        let any_time = stele_core::Limits { max_future_skew_seconds: u64::MAX, ..stele_core::Limits::default() };
        stele_core::parse_ingest_body(body.to_string().as_bytes(), &any_time, Timestamp::now())
            .expect("event")
            .events
            .remove(0)
    };
    make_tenant(&store, "acme").await;
    make_tenant(&store, "globex").await;
    for chunk in 0..3 {
        let batch = (0..300).map(|i| padded("jan", jan + chunk * 1000 + i)).collect();
        store.append(&tenant("acme"), batch, None).await.expect("append");
    }
    store.append(&tenant("acme"), vec![padded("feb", feb)], None).await.expect("append");
    store.append(&tenant("globex"), vec![padded("jan", jan), padded("feb", feb)], None).await.expect("append");

    // Expire all of January (both tenants) and acme's February; globex's February stays.
    let now = Timestamp::parse("2030-04-01T00:00:00Z").expect("now");
    let expire_before = |t: &'static str, before: &'static str| {
        let store = &store;
        async move {
            let ids: Vec<_> = store
                .expirable(&tenant(t), Timestamp::parse(before).expect("before"), u64::MAX, 10_000)
                .await
                .expect("expirable")
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            let redaction = stele_store::Redaction { reason: "retention".into(), by: "test".into(), at: now };
            store.expire(&tenant(t), ids, redaction, event("stele.retention.applied", 2)).await.expect("expire");
        }
    };
    let size = |name: &'static str| {
        let client = &client;
        async move {
            let row = client.query_one("SELECT pg_total_relation_size(to_regclass($1))", &[&name]).await.expect("size");
            row.get::<_, Option<i64>>(0)
        }
    };
    // Nothing expired yet: nothing to drop (the positive control comes next).
    assert_eq!(store.reclaim(now).await.expect("reclaim"), Vec::<String>::new());
    expire_before("acme", "2030-03-01T00:00:00Z").await;
    expire_before("globex", "2030-02-01T00:00:00Z").await;

    async fn everything(store: &PostgresStore, t: &str) -> Vec<(u64, String)> {
        let query = Query { limit: Limit::new(1000).expect("limit"), ..Query::default() };
        let page = store.query(&tenant(t), &query).await.expect("query");
        page.events.iter().map(|e| (e.seq.get(), e.json.clone())).collect()
    }
    let before: Vec<_> = [everything(&store, "acme").await, everything(&store, "globex").await].concat();
    let trees = (store.tree(&tenant("acme")).await.expect("tree"), store.tree(&tenant("globex")).await.expect("tree"));
    let jan_size = size("events_203001").await.expect("january's partition exists");
    assert!(
        before.iter().filter(|(_, j)| j.contains("\"redacted\"")).count() >= 902,
        "January and acme's February are tombstones"
    );

    let dropped = store.reclaim(now).await.expect("reclaim");
    assert_eq!(dropped, vec!["events_203001".to_owned()], "January only: February still holds a live event of globex");
    assert_eq!(size("events_203001").await, None, "the old partition is gone");
    assert!(size("events_203002").await.is_some(), "February is kept as it was");
    let kept = size("events_203001_expired").await.expect("the compact copy is attached");
    assert!(kept < jan_size, "space given back: {kept} bytes of tombstones < {jan_size} bytes before");
    let after: Vec<_> = [everything(&store, "acme").await, everything(&store, "globex").await].concat();
    assert_eq!(after, before, "every event and tombstone answers the same");
    assert_eq!(
        (store.tree(&tenant("acme")).await.expect("tree"), store.tree(&tenant("globex")).await.expect("tree")),
        trees
    );
    // A late event of January still has a place, and a second reclaim has nothing to do.
    store.append(&tenant("globex"), vec![padded("jan.late", jan + 1)], None).await.expect("append");
    let home: String = client
        .query_one("SELECT tableoid::regclass::text FROM events WHERE action = 'jan.late'", &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(home, "events_203001_expired");
    assert_eq!(store.reclaim(now).await.expect("reclaim again"), Vec::<String>::new());
    drop(client);
    let _ = driver.await;
}
