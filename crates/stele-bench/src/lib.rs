//! Stele's benchmarks. Each reports its figures next to a baseline measured in the same run,
//! because the machines they run on are shared and absolute numbers drift.

pub mod corpus;
pub mod ingest;
pub mod integrity;
pub mod pg;
mod poster;
pub mod process;
pub mod query;
pub mod query_corpus;
pub mod scim;
pub mod soak;
mod stats;
pub mod streams;
pub mod viewer;

pub use ingest::IngestOptions;
