//! The ingest load's HTTP client: one keep-alive HTTP/1.1 connection per simulated client,
//! posting bodies prepared before the clock starts.
//!
//! Not `reqwest`, whose per-request work (URL parsing, pooling, header maps, a body copy)
//! cost ~106 µs of CPU per single-event request (`stele bench ingest --server …`, client CPU
//! with 40 000 minus 10 000 single events, session 26). On this 2-core machine the load
//! generator shares the cores with the server it measures, so that client held single
//! events to ~4 k/s where `wrk` drove the same server to ~7 k/s. Here a request is hyper's
//! connection API with the headers built once and the body a shared `Bytes`; plain `http://`
//! only (the servers measured are local), anything else is refused with the reason.

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where and as whom to post: parsed once from the server's base URL and the key.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `host:port`, to connect to.
    authority: String,
    /// The `Host` header.
    host: HeaderValue,
    /// The path of `/v1/events` under the base URL.
    path: String,
    /// `Bearer <key>`.
    auth: HeaderValue,
}

impl Endpoint {
    pub(crate) fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(base).with_context(|| format!("server URL {base}"))?;
        if url.scheme() != "http" {
            bail!("the ingest load speaks plain HTTP; give the server as an http:// URL (got {base})");
        }
        let host = url.host_str().context("the server URL has no host")?;
        let port = url.port_or_known_default().context("the server URL has no port")?;
        let authority = format!("{host}:{port}");
        let path = format!("{}/v1/events", url.path().trim_end_matches('/'));
        Ok(Self {
            host: HeaderValue::from_str(&authority)?,
            authority,
            path,
            auth: HeaderValue::from_str(&format!("Bearer {key}"))?,
        })
    }
}

/// What the server answered to one post.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// `Retry-After` in seconds, when given.
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Bytes,
}

/// `Retry-After` given in seconds (how Stele gives it), if present.
pub(crate) fn retry_after_seconds(headers: &hyper::HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.parse().ok()
}

/// One client's connection; reconnects when the server has closed it.
pub(crate) struct Poster {
    endpoint: Endpoint,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Poster {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, sender: None }
    }

    async fn connect(&self) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.endpoint.authority)
            .await
            .with_context(|| format!("connecting to {}", self.endpoint.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Posts `body` to `/v1/events`. A connection the server closed (idle timeout, restart)
    /// before the request went out is replaced once before the error counts.
    pub(crate) async fn post(&mut self, body: &Bytes) -> anyhow::Result<Answer> {
        for attempt in 0..2 {
            let mut sender = match self.sender.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            let request = Request::post(self.endpoint.path.as_str())
                .header(HOST, self.endpoint.host.clone())
                .header(AUTHORIZATION, self.endpoint.auth.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(Full::new(body.clone()))?;
            let sent = match sender.ready().await {
                Ok(()) => sender.send_request(request).await,
                Err(e) => Err(e),
            };
            let response = match sent {
                Ok(r) => r,
                // Only errors that mean the request was never sent are retried: a connection
                // lost after sending may have been ingested, and a post is not idempotent.
                Err(e) if attempt == 0 && (e.is_closed() || e.is_canceled()) => continue,
                Err(e) => return Err(e.into()),
            };
            let status = response.status();
            let retry_after = retry_after_seconds(response.headers());
            let body = response.into_body().collect().await?.to_bytes();
            self.sender = Some(sender);
            return Ok(Answer { status, retry_after, body });
        }
        bail!("the server closed the connection twice in a row")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_keeps_the_base_path_and_refuses_what_it_cannot_speak() {
        let e = Endpoint::new("http://127.0.0.1:8080/stele/", "k").expect("http");
        assert_eq!((e.authority.as_str(), e.path.as_str()), ("127.0.0.1:8080", "/stele/v1/events"));
        assert_eq!(e.auth, "Bearer k");
        let e = Endpoint::new("http://localhost", "k").expect("default port");
        assert_eq!((e.authority.as_str(), e.path.as_str()), ("localhost:80", "/v1/events"));
        let refused = Endpoint::new("https://audit.example.com", "k").err().expect("https is refused");
        assert!(refused.to_string().contains("plain HTTP"), "{refused}");
    }

    /// A real server on port 0: posts go through, the answer's status and `Retry-After` are
    /// read, and a connection the server closes after each answer is replaced.
    #[tokio::test]
    async fn posts_reach_the_server_and_a_closed_connection_is_replaced() {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/v1/events",
            post(|headers: hyper::HeaderMap, body: Bytes| async move {
                let auth = headers.get(AUTHORIZATION).cloned();
                let status = if auth.as_ref().is_some_and(|a| a == "Bearer k") && &body[..] == b"{}" {
                    StatusCode::CREATED
                } else {
                    StatusCode::UNAUTHORIZED
                };
                // `Connection: close`: the next post needs a new connection.
                (status, [(RETRY_AFTER, "3"), (hyper::header::CONNECTION, "close")], "ok")
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut poster = Poster::new(Endpoint::new(&base, "k").expect("endpoint"));
        for _ in 0..3 {
            let answer = poster.post(&Bytes::from_static(b"{}")).await.expect("post");
            assert_eq!(
                (answer.status, answer.retry_after, &answer.body[..]),
                (StatusCode::CREATED, Some(3), &b"ok"[..])
            );
        }
        let mut wrong = Poster::new(Endpoint::new(&base, "other").expect("endpoint"));
        let answer = wrong.post(&Bytes::from_static(b"{}")).await.expect("post");
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "the control: the server does check the key");
    }
}
