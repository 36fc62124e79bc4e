//! What parsing and validating an ingest body costs per event, in-process (no HTTP, no
//! store): `cargo run --release -p stele-core --example ingest_parse`. Singles are parsed one
//! body per event, batches 1 000 events per body; five rounds, so the machine's drift shows.
//! Compare two builds by running each in turn (ARCHITECTURE, session 23).

use std::time::Instant;

use stele_core::{parse_ingest_body, IngestError, Limits, Timestamp};

/// An event of about 1 KB with every part an event can have, varied by `i`.
fn event(i: usize) -> String {
    let (a, w, b, c) = (i % 7, i % 13, i % 250, i % 200);
    format!(
        r#"{{"action":"document.update.{a}","status":"success","message":"User u{i} updated document d{i} in workspace w{w} with a fairly long description of what happened","actor":{{"type":"user","id":"u{i}","name":"User Number {i}","email":"user{i}@example.com","ip":"10.0.{b}.{c}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}},"origin":"user","targets":[{{"type":"document","id":"d{i}","name":"Quarterly report {i}"}},{{"type":"workspace","id":"w{w}"}}],"context":{{"product_id":"p{w}","region":"eu-west-1","plan":"enterprise"}},"request":{{"id":"req-{i}","method":"PATCH","path":"/v1/documents/d{i}","query":{{"expand":"owner","version":"{i}"}},"status_code":200,"body":{{"title":"Quarterly report {i}","tags":["finance","q{a}"],"shared":true,"size":{i}}}}},"changes":{{"before":{{"title":"Draft {i}","size":10}},"after":{{"title":"Quarterly report {i}","size":{i}}}}},"correlation_id":"corr-{i}","metadata":{{"source":"web","attempt":1,"flags":{{"beta":true,"rollout":0.25}}}}}}"#
    )
}

fn main() -> Result<(), IngestError> {
    let (limits, now) = (Limits::default(), Timestamp::now());
    let singles: Vec<String> = (0..2000).map(event).collect();
    let batch = format!("{{\"events\":[{}]}}", (0..1000).map(event).collect::<Vec<_>>().join(","));
    println!("an event is {} bytes, a batch {} bytes", singles[0].len(), batch.len());
    for round in 1..=5 {
        let start = Instant::now();
        for _ in 0..10 {
            for body in &singles {
                parse_ingest_body(body.as_bytes(), &limits, now)?;
            }
        }
        let single = start.elapsed().as_secs_f64() * 1e6 / (10 * singles.len()) as f64;
        let start = Instant::now();
        for _ in 0..20 {
            parse_ingest_body(batch.as_bytes(), &limits, now)?;
        }
        let batched = start.elapsed().as_secs_f64() * 1e6 / 20_000.0;
        println!("round {round}: one event per body {single:.1} µs/event, 1000 per body {batched:.1} µs/event");
    }
    Ok(())
}
