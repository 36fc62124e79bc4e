//! Row-level SQL: the one insert of a run of events.
//!
//! A run of events is inserted with one statement whatever its length: every column is sent
//! as one array parameter and `unnest` turns the arrays back into rows, so a batch of 1000
//! events is one round trip (a multi-row INSERT with a fixed number of parameters, which
//! PostgreSQL plans once per connection). Each row carries its terms and its full-text
//! document text; the indexer (`index.rs`) makes them postings later (issue #13).

use std::borrow::Borrow;
use std::collections::BTreeSet;

use stele_core::NewEvent;
use tokio_postgres::{GenericClient, Statement};

pub(crate) const INSERT_EVENTS: &str = "INSERT INTO events (tenant_no, seq, id, time, received_at, action, status,
        origin, actor_type, actor_id, actor_name, actor_email, actor_ip, message, reason, correlation_id,
        request_id, request_method, request_path, request_status, metadata, search, terms, json)
    SELECT $1, u.seq, u.id, u.time, u.received_at, u.action, u.status, u.origin, u.actor_type, u.actor_id,
        u.actor_name, u.actor_email, u.actor_ip, u.message, u.reason, u.correlation_id, u.request_id,
        u.request_method, u.request_path, u.request_status, u.metadata::jsonb, u.search,
        ARRAY(SELECT jsonb_array_elements_text(u.terms::jsonb)), u.json
    FROM unnest($2::int8[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[],
        $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
        $18::text[], $19::text[], $20::int8[], $21::text[], $22::text[], $23::text[], $24::text[])
      AS u(seq, id, time, received_at, action, status, origin, actor_type, actor_id, actor_name, actor_email,
        actor_ip, message, reason, correlation_id, request_id, request_method, request_path, request_status,
        metadata, search, terms, json)";

pub(crate) const INSERT_NODES: &str = "INSERT INTO merkle_nodes (tenant_no, level, idx, hash)
    SELECT $1, u.level, u.idx, u.hash FROM unnest($2::int4[], $3::int8[], $4::bytea[]) AS u(level, idx, hash)";

/// The token that starts every document of a tenant (so a query with no word matches them all).
pub fn tenant_token(tenant_no: i64) -> String {
    format!("zzt{tenant_no}")
}

/// A word of a document as the full-text index keys it: under its tenant's number, so that a
/// word's postings are one tenant's (migration 16's `stele_doc` prefixes every word of
/// `events.search` with it before the text is parsed). The number is digits and `x` is not one, so no two
/// tenants' keys are alike.
pub fn tenant_key(tenant_no: i64, word: &str) -> String {
    format!("{tenant_no}x{word}")
}

/// How many low bits of an event's time (µs) its time bucket leaves out: buckets of 2^35 µs,
/// about 9.5 hours (migration 17's `stele_bucket`; an arithmetic shift in both languages, so
/// times before 1970 fall in the bucket below, as in SQL).
pub const BUCKET_SHIFT: u32 = 35;

/// The time bucket of a time (µs).
pub fn bucket(time: i64) -> i64 {
    time >> BUCKET_SHIFT
}

/// The first time (µs) of a bucket.
pub fn bucket_start(bucket: i64) -> i64 {
    bucket.saturating_mul(1 << BUCKET_SHIFT)
}

/// The index key of a tenant's time bucket, as migration 17's `stele_bucket` writes it beside
/// each document's words and each message's trigrams: a space, which neither holds, between
/// the tenant's number and the bucket.
pub fn bucket_key(tenant_no: i64, bucket: i64) -> String {
    format!("{tenant_no} {bucket}")
}

/// The terms of an event (see [`stele_store::derived::terms`]).
pub fn terms(new: &NewEvent) -> BTreeSet<String> {
    stele_store::derived::terms(&new.event)
}

/// The full-text document text of an event (`events.search`): its tenant's token, then its
/// search text with every character that is not a letter or a digit made a space; indexed
/// and tested with each word under its tenant's key ([`tenant_key`], `stele_doc`). PostgreSQL's parser would keep
/// `user.login`, `ana@acme.io` or `s3_bucket` as one lexeme; split like this, the words are
/// SQLite's (FTS5 `unicode61`), and [`crate::compile::ts_query`] splits query words the same way.
pub fn document(tenant_no: i64, new: &NewEvent) -> String {
    let text = stele_store::derived::search_text(&new.event);
    let words: String = text.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    format!("{} {words}", tenant_token(tenant_no))
}

/// The writer connection's prepared statements: a run's inserts, and the head's lock and move.
pub(crate) struct Inserts {
    pub events: Statement,
    pub nodes: Statement,
    /// Moves a tenant's head: `(no, head_seq)`.
    pub move_head: Statement,
    /// A tenant's number and head, its row locked: `(id)`.
    pub lock_head: Statement,
    /// Locks a group's tenants in one order: `(ids)`.
    pub lock_group: Statement,
}

impl Inserts {
    pub(crate) async fn prepare(client: &impl GenericClient) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            events: client.prepare(INSERT_EVENTS).await?,
            nodes: client.prepare(INSERT_NODES).await?,
            move_head: client.prepare("UPDATE tenants SET head_seq = $2 WHERE no = $1").await?,
            lock_head: client.prepare("SELECT no, head_seq FROM tenants WHERE id = $1 FOR UPDATE").await?,
            lock_group: client.prepare("SELECT no, id FROM tenants WHERE id = ANY($1) ORDER BY id FOR UPDATE").await?,
        })
    }
}

/// Tree nodes to insert with a run of events: leaves (level 0) and stored-level nodes.
#[derive(Default)]
pub(crate) struct Nodes {
    pub level: Vec<i32>,
    pub idx: Vec<i64>,
    pub hash: Vec<Vec<u8>>,
}

impl Nodes {
    pub(crate) fn push(&mut self, level: u32, idx: u64, hash: &stele_core::integrity::Hash) {
        self.level.push(level as i32);
        self.idx.push(idx as i64);
        self.hash.push(hash.0.to_vec());
    }
}

/// Inserts tree nodes of a tenant.
pub(crate) async fn insert_nodes(
    client: &impl GenericClient,
    stmts: &Inserts,
    tenant_no: i64,
    nodes: &Nodes,
) -> Result<(), tokio_postgres::Error> {
    if !nodes.idx.is_empty() {
        client.execute(&stmts.nodes, &[&tenant_no, &nodes.level, &nodes.idx, &nodes.hash]).await?;
    }
    Ok(())
}

/// Inserts `events` as seqs `first_seq, first_seq + 1, …` of a tenant's log.
pub(crate) async fn insert_events<E: Borrow<NewEvent>>(
    client: &impl GenericClient,
    stmts: &Inserts,
    tenant_no: i64,
    first_seq: i64,
    events: &[E],
) -> Result<(), tokio_postgres::Error> {
    let n = events.len();
    let mut seq = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut time = Vec::with_capacity(n);
    let mut received_at = Vec::with_capacity(n);
    let mut action = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut origin = Vec::with_capacity(n);
    let mut actor_type = Vec::with_capacity(n);
    let mut actor_id = Vec::with_capacity(n);
    let mut actor_name = Vec::with_capacity(n);
    let mut actor_email = Vec::with_capacity(n);
    let mut actor_ip = Vec::with_capacity(n);
    let mut message = Vec::with_capacity(n);
    let mut reason = Vec::with_capacity(n);
    let mut correlation_id = Vec::with_capacity(n);
    let mut request_id = Vec::with_capacity(n);
    let mut request_method = Vec::with_capacity(n);
    let mut request_path = Vec::with_capacity(n);
    let mut request_status = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut search = Vec::with_capacity(n);
    let mut term_lists = Vec::with_capacity(n);
    let mut json = Vec::with_capacity(n);
    for (i, new) in events.iter().enumerate() {
        let new = new.borrow();
        let e = &new.event;
        let s = first_seq + i as i64;
        let actor = e.actor.as_ref();
        let req = e.request.as_ref();
        seq.push(s);
        id.push(e.id.to_string());
        time.push(e.time.as_micros());
        received_at.push(e.received_at.as_micros());
        action.push(e.action.as_str());
        status.push(e.status.as_str());
        origin.push(e.origin.map(|o| o.as_str()));
        actor_type.push(actor.and_then(|a| a.kind.as_deref()));
        actor_id.push(actor.and_then(|a| a.id.as_deref()));
        actor_name.push(actor.and_then(|a| a.name.as_deref()));
        actor_email.push(actor.and_then(|a| a.email.as_deref()));
        actor_ip.push(actor.and_then(|a| a.ip.as_deref()));
        message.push(e.message.as_deref());
        reason.push(e.reason.as_deref());
        correlation_id.push(e.correlation_id.as_deref());
        request_id.push(req.and_then(|r| r.id.as_deref()));
        request_method.push(req.and_then(|r| r.method.as_deref()));
        request_path.push(req.and_then(|r| r.path.as_deref()));
        request_status.push(req.and_then(|r| r.status_code).map(i64::from));
        metadata.push(e.metadata.as_ref().map(|m| m.as_str().to_owned()));
        search.push(document(tenant_no, new));
        // A JSON array of strings cannot fail to serialise.
        term_lists.push(serde_json::to_string(&terms(new)).unwrap_or_else(|_| String::from("[]")));
        json.push(new.json.as_str());
    }
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 24] = [
        &tenant_no,
        &seq,
        &id,
        &time,
        &received_at,
        &action,
        &status,
        &origin,
        &actor_type,
        &actor_id,
        &actor_name,
        &actor_email,
        &actor_ip,
        &message,
        &reason,
        &correlation_id,
        &request_id,
        &request_method,
        &request_path,
        &request_status,
        &metadata,
        &search,
        &term_lists,
        &json,
    ];
    client.execute(&stmts.events, &params).await?;
    Ok(())
}
