// Throwaway: per-word timings of message co / q pages on the 10 M PostgreSQL corpus.
use std::time::Instant;
use stele_store::Store;
#[tokio::main]
async fn main() {
    let url = "postgres://stele@127.0.0.1:54329/stele_bench_query_10000000";
    let store = stele_postgres::PostgresStore::connect(url).await.unwrap();
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let tenant_id: String = std::env::args().nth(1).unwrap_or("t01".into());
    let no: i64 = client.query_one("SELECT no FROM tenants WHERE id = $1", &[&tenant_id]).await.unwrap().get(0);
    let tenant = stele_core::TenantId::parse(&tenant_id).unwrap();
    let rows = client
        .query(
            "SELECT message FROM event_messages WHERE tenant_no = $1 AND seq % 997 = 13 ORDER BY seq LIMIT 60",
            &[&no],
        )
        .await
        .unwrap();
    let mut words: Vec<String> = rows
        .iter()
        .flat_map(|r| r.get::<_, String>(0).split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| w.len() >= 4 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    words.sort();
    words.dedup();
    words.truncate(40);
    for w in &words {
        for kind in ["co", "q"] {
            let q = if kind == "co" {
                stele_core::Query {
                    filter: Some(stele_core::Filter::parse(&format!("message co {w:?}")).unwrap()),
                    ..Default::default()
                }
            } else {
                stele_core::Query { text: stele_core::TextQuery::parse(w).unwrap(), ..Default::default() }
            };
            let plan = store.explain(&tenant, &q).await.unwrap();
            let first = plan.first().cloned().unwrap_or_default();
            let mut ts = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                let p = store.query(&tenant, &q).await.unwrap();
                ts.push(t.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(p);
            }
            ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!("{kind:3} {w:12} {:7.2} ms  {}", ts[2], first.chars().take(70).collect::<String>());
        }
    }
}
