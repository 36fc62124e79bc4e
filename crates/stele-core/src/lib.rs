//! Stele's core: the event model, its validation, the query model, identifiers and key
//! secrets. This crate does no I/O and knows nothing of HTTP or SQL; every other crate
//! builds on the types defined here.

pub mod event;
pub mod filter;
pub mod free;
pub mod ids;
pub mod ijson;
pub mod ingest;
pub mod integrity;
pub mod keys;
pub mod limits;
pub mod project;
pub mod query;
pub mod redact;
pub mod text;
pub mod timestamp;
pub mod tombstone;
pub mod unique_keys;

pub use event::{
    Actor, Changes, ChangesInput, Event, EventInput, NewEvent, Origin, RequestInfo, RequestInput, Status, StoredEvent,
    Target,
};
pub use filter::{parse as parse_filter, Attr, BoundsError, CompareOp, Expr, Filter, FilterError, ViewFilter};
pub use free::{FreeInput, FreeJson};
pub use ids::{EventId, IdError, KeyId, Seq, TenantId};
pub use ingest::{accept_event, parse_ingest_body, parse_ingest_body_with, IngestError, IngestErrorKind, Ingested};
pub use keys::{KeySecret, Scope, SecretHash};
pub use limits::Limits;
pub use project::{Fields, FieldsError};
pub use query::{Cursor, Limit, PageRequest, Query, QueryError, Sort, TextQuery, TimeRange};
pub use timestamp::Timestamp;
pub use unique_keys::{check_unique_keys, DuplicateKey, UniqueKeysError};
