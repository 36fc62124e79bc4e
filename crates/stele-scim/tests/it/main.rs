//! stele-scim's integration tests, one binary (fewer link steps). Vendor request bodies are
//! replayed verbatim from `tests/fixtures/` (sources in `tests/fixtures/SOURCES.md`).

mod bulk;
mod common;
mod filter;
mod list;
mod patch;
mod project;
mod resource;
