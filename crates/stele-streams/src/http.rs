//! What the HTTP sinks share: one client setup and one mapping of transport errors to a
//! [`FailureKind`]. The status of an answer is left to each sink to judge.
//!
//! The client follows no redirects (a destination that answers 3xx is misconfigured, and a
//! followed redirect could carry a token to another host) and bounds every request by the
//! context's timeout, connect included. A response body is never read: it could be large,
//! slow, or an internal service's page, and no sink needs it.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{RequestBuilder, StatusCode};

use crate::config::ConfigError;
use crate::sink::{DeliveryError, FailureKind, SinkContext};

pub(crate) fn client(ctx: &SinkContext) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ctx.timeout)
        .connect_timeout(ctx.timeout)
        .user_agent(ctx.user_agent.clone())
        .build()
        .map_err(|e| {
            tracing::debug!(error = %e, "stream http client");
            ConfigError::new("url", "no HTTP client could be built")
        })
}

/// Sends `request` and returns the answer's status, or the transport failure.
pub(crate) async fn send(request: RequestBuilder, timeout: Duration) -> Result<StatusCode, DeliveryError> {
    match request.send().await {
        Ok(response) => Ok(response.status()),
        Err(e) => {
            let kind = classify(&e);
            // Without the URL: a presigned S3 URL is a credential for a while.
            let e = e.without_url();
            tracing::debug!(error = %Chain(&e), ?kind, "stream delivery failed");
            Err(DeliveryError::new(kind, timeout))
        }
    }
}

/// A header value holding a secret, marked sensitive (hidden from `Debug` output).
pub(crate) fn secret_header(value: &str, field: &str) -> Result<HeaderValue, ConfigError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| ConfigError::new(field, "is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The answer `status` as a delivery result: any 2xx acknowledges.
pub(crate) fn acknowledged(status: StatusCode, timeout: Duration) -> Result<(), DeliveryError> {
    if status.is_success() {
        Ok(())
    } else {
        tracing::debug!(%status, "stream destination refused the batch");
        Err(DeliveryError::new(FailureKind::Status(status.as_u16()), timeout))
    }
}

fn classify(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        return FailureKind::Timeout;
    }
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(err) = source {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return FailureKind::Tls;
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return io_kind(io);
        }
        // hyper-util's `ConnectError` names a failed lookup with this fixed message.
        if err.to_string() == "dns error" {
            return FailureKind::Dns;
        }
        source = err.source();
    }
    if e.is_connect() {
        FailureKind::Connect
    } else {
        FailureKind::Connection
    }
}

/// The kind of an I/O error of a connection (also used by the syslog sink).
pub(crate) fn io_kind(e: &io::Error) -> FailureKind {
    // An `io::Error` wrapping a TLS error hides it from `source()`; look inside.
    if let Some(inner) = e.get_ref() {
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return FailureKind::Tls;
        }
        if let Some(io) = inner.downcast_ref::<io::Error>() {
            return io_kind(io);
        }
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::ConnectionRefused,
        io::ErrorKind::TimedOut => FailureKind::Timeout,
        io::ErrorKind::InvalidData => FailureKind::Tls,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable | io::ErrorKind::AddrNotAvailable => {
            FailureKind::Connect
        }
        _ => FailureKind::Connection,
    }
}

/// An error with its sources, for the debug log only.
pub(crate) struct Chain<'a>(pub &'a (dyn StdError + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
