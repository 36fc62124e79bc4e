//! The HTTP-level tests, as one test binary whose modules were once a binary each: every
//! binary links the whole server (~80 MB), and 34 of them (~3 GB) filled CI's disk.

mod common;
mod jwt_keys;

mod admin;
mod auth;
mod contract;
mod deadlines;
mod directory;
mod hardening;
mod ingest;
mod ingest_bounds;
mod integrity;
mod operations;
mod profile_clients;
mod profile_cloudcockpit;
mod profile_configcat;
mod profile_crosscheck;
mod profile_losant;
mod profile_memory;
mod profile_oneuptime;
mod profile_retraced;
mod protocol;
mod rate_limits;
mod reads;
mod redaction_erasure;
mod retention;
mod scim;
mod scim_conformance;
mod streams;
mod tail;
mod tenants_update;
mod viewer;
mod viewer_admin;
mod viewer_browser;
mod viewer_sso;
mod viewer_streams;
mod views;
