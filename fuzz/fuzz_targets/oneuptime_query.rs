//! Fuzzes the OneUptime profile's request body (`POST /api/status-page-scim-log/get-list`
//! and `count`): `query` (values, arrays, `null` and `{"_type": …}` operator objects),
//! `select`, `sort`, `skip` and `limit`. The input is the body. Parsing must never panic;
//! what it accepts must be in range (`limit` 1-100, `skip` at most the deepest offset),
//! select `_id` first and no column twice, sort by an order the native API could name, and
//! filter with an expression of the one query model (`stele_fuzz::check_profile_expr`),
//! for a tenant with a project alias and without.
//!
//! Run with `cargo +nightly fuzz run oneuptime_query corpus/oneuptime_query` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_core::Sort;
use stele_server::fuzzing::oneuptime::{body, filter, paging, select, sort, MAX_OFFSET};

const PROJECT: &str = "550e8400-e29b-41d4-a716-446655440000";

fuzz_target!(|data: &[u8]| {
    let Ok(body) = body(data) else { return };
    if let Ok((skip, limit)) = paging(body.get("skip"), body.get("limit"), MAX_OFFSET) {
        assert!(skip <= MAX_OFFSET && (1..=100).contains(&limit), "skip {skip}, limit {limit}");
    }
    if let Ok(columns) = select(body.get("select")) {
        assert_eq!(columns.first().map(|c| format!("{c:?}")).as_deref(), Some("Id"), "{columns:?}");
        for (i, c) in columns.iter().enumerate() {
            assert!(!columns[i + 1..].contains(c), "{columns:?}");
        }
    }
    if let Ok(order) = sort(body.get("sort")) {
        assert_eq!(Sort::parse(&order.as_text()), Ok(order.clone()), "sort {order:?}");
    }
    for alias in [Some(PROJECT), None] {
        if let Ok(expr) = filter(body.get("query"), alias) {
            stele_fuzz::check_profile_expr(&expr);
        }
    }
});
