//! The CLI's process tests, as one test binary whose modules were once a binary each
//! (every binary links the whole server).

mod common;

mod backup;
mod cli;
mod crash_loop;
mod durability;
mod full_disk;
mod nodes;
mod streams;
mod tail;
mod verify;
