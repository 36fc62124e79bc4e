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
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: Server,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(settings.clone(), bound_request));
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

/// Middleware: bounds the time to read the body and to produce the response head.
async fn bound_request(
    axum::extract::State(settings): axum::extract::State<Server>,
    request: Request,
    next: Next,
) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let request = {
        let stalled = stalled.clone();
        request.map(|body| {
            let timed = tower_http::timeout::TimeoutBody::new(ms(settings.body_timeout_ms), body);
            Body::new(timed.map_err(move |e| {
                if e.is::<tower_http::timeout::TimeoutError>() {
                    stalled.store(true, Ordering::Relaxed);
                }
                e
            }))
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
        Ok(response) => return response,
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
