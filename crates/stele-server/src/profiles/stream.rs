//! Streaming a profile's JSON array with bounded memory (security review, issue #10
//! finding 6).
//!
//! ConfigCat V1 answers up to 10,000 events in one array and CloudCockpit pages of up to
//! 2,000; built in memory, at the 64 KiB event limit that is 640 MB of events held several
//! times over (stored JSON, typed events, items, the serialized body) per request. Here the
//! rows are read from the store [`CHUNK`] at a time, each chunk rendered to bytes and sent
//! through a channel of [`IN_FLIGHT`] chunks to the socket, as `/v1/events/export` does: a
//! request holds at most a few chunks (about 100 x 64 KiB each) whatever its size. The bytes
//! are exactly what serializing the whole document at once gives (`serde_json`, compact).
//!
//! The first chunk is read before the answer starts, so the usual failures (a read past its
//! deadline, the store shutting down) are still proper error answers; a failure after that
//! can only cut the body short (the client sees a truncated, invalid JSON document).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;
use stele_core::{Cursor, Event, Limit, PageRequest, Query, Seq, TenantId};
use stele_store::{Page, Store};
use tokio::sync::mpsc;

use super::common::ProfileError;
use crate::state::AppState;

/// Events read from the store at a time.
pub const CHUNK: u32 = 100;

/// Rendered chunks waiting for the socket.
const IN_FLIGHT: usize = 2;

/// Up to `n` rows of `query` (already readable by the caller) as a `200 application/json`
/// answer: `prefix`, each row rendered by `item` (commas between), then the text `suffix`
/// makes of (rows sent, the cursor after the last row when the store has more).
pub async fn json_rows<I, F>(
    state: &AppState,
    tenant: &TenantId,
    query: Query,
    n: u64,
    prefix: &'static str,
    item: fn(Seq, Event) -> I,
    suffix: F,
) -> Result<Response, ProfileError>
where
    I: Serialize + 'static,
    F: FnOnce(u64, Option<Cursor>) -> Result<String, ProfileError> + Send + 'static,
{
    let mut rows = Rows { store: state.store.clone(), tenant: tenant.clone(), query, left: n, sent: 0, next: None };
    let first = Ok(rows.chunk(item).await?);
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(IN_FLIGHT);
    tokio::spawn(async move {
        let mut out = prefix.as_bytes().to_vec();
        let mut chunk = first;
        loop {
            match chunk {
                Ok(Some(bytes)) => {
                    out.extend_from_slice(&bytes);
                    if tx.send(Ok(Bytes::from(std::mem::take(&mut out)))).await.is_err() {
                        return; // the client went away
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "a streamed profile answer stopped");
                    let _ = tx.send(Err(std::io::Error::other("the answer could not be completed"))).await;
                    return;
                }
            }
            chunk = rows.chunk(item).await;
        }
        match suffix(rows.sent, rows.next.take()) {
            Ok(text) => {
                out.extend_from_slice(text.as_bytes());
                let _ = tx.send(Ok(Bytes::from(out))).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "a streamed profile answer could not be finished");
                let _ = tx.send(Err(std::io::Error::other("the answer could not be completed"))).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Where a streamed read stands.
struct Rows {
    store: std::sync::Arc<dyn Store>,
    tenant: TenantId,
    query: Query,
    /// Rows still wanted.
    left: u64,
    /// Rows rendered so far.
    sent: u64,
    /// The cursor after the last row read, when the store has more.
    next: Option<Cursor>,
}

impl Rows {
    /// The next chunk of rows rendered (each preceded by a comma but the first), or `None`
    /// once `n` rows were sent or the store has no more.
    async fn chunk<I: Serialize>(&mut self, item: fn(Seq, Event) -> I) -> Result<Option<Vec<u8>>, ProfileError> {
        if self.left == 0 {
            return Ok(None);
        }
        let want = self.left.min(u64::from(CHUNK)) as u32;
        self.query.limit = Limit::new(want).map_err(|_| ProfileError::Internal)?;
        let page: Page = self.store.query(&self.tenant, &self.query).await?;
        if page.events.is_empty() {
            self.left = 0;
            return Ok(None);
        }
        let mut out = Vec::new();
        for stored in &page.events {
            let event = stored.event().map_err(|err| {
                tracing::error!(error = %err, seq = stored.seq.get(), "stored event is unreadable");
                ProfileError::Internal
            })?;
            if self.sent > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &item(stored.seq, event)).map_err(|_| ProfileError::Internal)?;
            self.sent += 1;
        }
        self.left = self.left.saturating_sub(page.events.len() as u64);
        self.next = page.next;
        match &self.next {
            Some(next) if self.left > 0 => self.query.page = PageRequest::After(next.clone()),
            _ => self.left = 0,
        }
        Ok(Some(out))
    }
}
