//! Stream delivery: pushing a tenant's audit events to the tenant's SIEM (issue #14).
//!
//! This crate knows destinations and their wire formats, and nothing of SQL or of the
//! server. The server keeps the stream records, reads events in `seq` order, hands a
//! [`Batch`] to a [`Sink`] and advances its durable cursor only after
//! [`Sink::deliver`] returned `Ok` — delivery is at least once, and receivers dedupe by the
//! event's `id` (or `seq`). A retried batch carries the same events again, so every format
//! here is built from the batch alone (the S3 key, for one, is a function of its seqs, and a
//! retry overwrites the same object).
//!
//! Layout:
//! - [`config`]: the POST body of a stream → [`Destination`] (stored as JSON, shown by GET)
//!   and [`Secrets`] (sealed by the server; their `Debug` prints no secret). Every error
//!   names its field.
//! - [`sink`](mod@sink): the [`Sink`] trait, [`Batch`]/[`Item`], [`Policy`] (how big and how old a
//!   batch may get), [`DeliveryError`] with a [`FailureKind`] and a detail that is safe to
//!   show a tenant admin, and [`sink()`](sink::sink) which builds a sink from the stored
//!   settings. One module per destination kind, each of which only formats a batch and
//!   classifies its destination's answers: [`webhook`] (Stripe-style HMAC signature; the
//!   receiver side is [`webhook::verify_signature`]), `splunk_hec`, `datadog`, `syslog`
//!   (RFC 5424 over TCP or TLS, RFC 6587 octet counting), `s3` (one gzipped NDJSON object per
//!   batch, in the format `stele verify` checks offline).
//! - `http`: the one HTTP client setup (no redirects, the context's timeout) and the one
//!   mapping of transport errors to [`FailureKind`], shared by the HTTP sinks.
//! - [`retry`]: the one backoff (capped exponential, full jitter) the server's worker uses
//!   between attempts.

pub mod config;
mod datadog;
mod http;
pub mod retry;
mod s3;
pub mod sink;
mod splunk_hec;
mod syslog;
pub mod webhook;

pub use config::{parse, ConfigError, Destination, Kind, ParseOptions, Secret, Secrets};
pub use retry::Backoff;
pub use sink::{sink, Batch, DeliveryError, FailureKind, Item, Policy, Sink, SinkContext};
pub use webhook::verify_signature;
