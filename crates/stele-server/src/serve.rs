//! The HTTP/1 accept loop: timeouts for slow and idle clients, a connection cap, and graceful
//! shutdown (security review, issue #10 finding 4).
//!
//! `axum::serve` has none of the first two: a client that sends half a request head, or a
//! body one byte a minute, or nothing at all, held its socket forever, and a few hundred of
//! them used up a modest file limit so that `/healthz` stopped answering. Here, every
//! connection is bounded by the `[server]` settings ([`crate::config::Server`]):
//!
//! - **head**: hyper's `header_read_timeout` closes a connection whose request head is not
//!   complete in time. Its timer starts as soon as hyper waits for a head, so it also closes
//!   idle keep-alive connections.
//! - **idle**: a watchdog closes a connection on which no byte moved either way for
//!   `idle_timeout_ms` while no handler was running (a client that stopped reading a response).
//! - **body**: each request body is wrapped in tower-http's `TimeoutBody` (the longest pause
//!   between two pieces); a stalled body is answered 408 and the connection closed.
//! - **request**: a handler that has not produced a response head after `request_timeout_ms`
//!   is dropped (which also cancels its store read) and answered 503 `request-timeout`.
//! - **unread body**: a request answered without its body being read (refused by a check
//!   that comes first: a wrong key, a rate limit, ingest busy or the index behind) has the
//!   rest of its body read off the connection and dropped before the answer is sent, up to
//!   the largest body the server takes ([`Unread`]). hyper would otherwise close the
//!   connection with the body unread, and a client still writing a large batch got a broken
//!   pipe or a reset instead of the answer and its `Retry-After`.
//! - **cap**: at most `max_connections` connections are served; the loop stops accepting at
//!   the cap, so further clients wait in the kernel backlog (a slow connect, no error, no cost
//!   to the server) and are served as soon as a connection closes — which the timeouts above
//!   guarantee happens. A quick 503 would need accepting (a file descriptor) for each refusal,
//!   which is the resource being protected.
//!
//! Only HTTP/1.1 is served (as before: the workspace builds axum without HTTP/2).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::Server;
use crate::error::ApiError;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish.
/// `unread_limit` is the largest body any route reads (`limits.max_batch_bytes`): an unread
/// body up to that size is read off the connection before a refusal is sent.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: Server,
    unread_limit: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let bounds = Bounds { settings: settings.clone(), unread_limit };
    let app = app.layer(axum::middleware::from_fn_with_state(bounds, bound_request));
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(ms(settings.header_read_timeout_ms));
    let idle = ms(settings.idle_timeout_ms);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning (as axum::serve does).
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
        let service = {
            let (app, activity) = (app.clone(), activity.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                // The client's address, for the failed-authentication limit (`rate.rs`).
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                let (app, busy) = (app.clone(), Busy::enter(&activity));
                async move {
                    let response = tower::ServiceExt::oneshot(app, request.map(Body::new)).await;
                    drop(busy);
                    response
                }
            })
        };
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                served = connection => if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                () = activity.idle_for(idle) => tracing::debug!("closing an idle connection"),
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What [`bound_request`] bounds a request by.
#[derive(Clone)]
struct Bounds {
    settings: Server,
    unread_limit: usize,
}

/// Middleware: bounds the time to read the body and to produce the response head, and reads
/// off the connection what a handler left of its body.
async fn bound_request(
    axum::extract::State(Bounds { settings, unread_limit }): axum::extract::State<Bounds>,
    request: Request,
    next: Next,
) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let (back, mut returned) = tokio::sync::oneshot::channel();
    let request = {
        let stalled = stalled.clone();
        let empty = http_body::Body::is_end_stream(request.body());
        request.map(|body| {
            let timed = tower_http::timeout::TimeoutBody::new(ms(settings.body_timeout_ms), body);
            let timed = Body::new(timed.map_err(move |e| {
                if e.is::<tower_http::timeout::TimeoutError>() {
                    stalled.store(true, Ordering::Relaxed);
                }
                e
            }));
            // A body already at its end (a GET's) has nothing to leave unread.
            Body::new(Unread { body: Some(timed), ended: empty, back: Some(back) })
        })
    };
    let answered = tokio::time::timeout(ms(settings.request_timeout_ms), next.run(request)).await;
    let mut response = match answered {
        _ if stalled.load(Ordering::Relaxed) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            "Request timeout",
            "the request body stalled; send it without pauses",
        )
        .into_response(),
        Ok(mut response) => {
            // The handler dropped its body before the end (it answered without reading it).
            if let Ok(rest) = returned.try_recv() {
                let within = declared.is_none_or(|n| n <= unread_limit as u64);
                let read = within
                    && tokio::time::timeout(ms(settings.request_timeout_ms), discard(rest, unread_limit))
                        .await
                        .unwrap_or(false);
                if !read {
                    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
            }
            return response;
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request-timeout",
            "Request took too long",
            "the server could not answer in time; narrow the request or retry later",
        )
        .into_response(),
    };
    // The rest of a stalled body is unread, and a timed-out request may still be sending.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Reads `body` to its end and drops it, chunk by chunk (no memory held); whether it ended
/// within `limit` bytes and without an error (a stalled body fails by its pause timeout).
async fn discard(mut body: Body, limit: usize) -> bool {
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                seen = seen.saturating_add(frame.data_ref().map_or(0, |d| d.len()));
                if seen > limit {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// A request body that, dropped before its end, hands what is left of it back to
/// [`bound_request`], which reads it off the connection before the answer goes out.
struct Unread {
    body: Option<Body>,
    ended: bool,
    back: Option<tokio::sync::oneshot::Sender<Body>>,
}

impl http_body::Body for Unread {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let Some(body) = this.body.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.as_ref().map(http_body::Body::size_hint).unwrap_or_default()
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let (Some(body), Some(back)) = (self.body.take(), self.back.take()) {
            if !http_body::Body::is_end_stream(&body) {
                // No one waits any more when the request already timed out; nothing to read then.
                let _ = back.send(body);
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests are being handled.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), last_ms: AtomicU64::new(0), busy: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Completes once the connection has been idle (no bytes, no handler) for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let due = last + idle;
            if Instant::now() >= due {
                if self.busy.load(Ordering::Relaxed) == 0 {
                    return;
                }
                // A handler is running: look again one period later.
                self.touch();
                continue;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

/// A running handler on a connection (keeps the idle watchdog away).
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A TCP stream that records when bytes last moved (for the idle watchdog).
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
