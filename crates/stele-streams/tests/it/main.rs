//! stele-streams against destinations: a local HTTP receiver (webhook, Splunk HEC, Datadog
//! formats and failure classification), TLS and plain TCP syslog listeners in the test, a
//! real rsyslogd and a real S3 API (moto). One binary for the crate's integration tests.

mod common;
mod http;
mod s3;
mod syslog;
