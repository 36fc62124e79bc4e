//! The SQLite store's tests, as one test binary (but `tests/memory.rs`, whose SQLite heap
//! limit is process-wide, has one of its own).

mod conformance;
mod index;
mod pages;
mod plans;
mod wal;
