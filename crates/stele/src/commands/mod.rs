pub mod admin;
pub mod backup;
pub mod bench;
pub mod directory;
pub mod list;
pub mod query;
pub mod send;
pub mod verify;
