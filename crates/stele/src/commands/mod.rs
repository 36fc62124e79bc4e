pub mod admin;
pub mod bench;
pub mod list;
pub mod send;
