//! The PostgreSQL store's tests against a real server (`STELE_TEST_POSTGRES_URL`), as one
//! test binary.

mod common;

mod conformance;
mod index;
mod nodes;
mod tls;
