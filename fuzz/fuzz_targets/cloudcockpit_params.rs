//! Fuzzes the CloudCockpit profile's query parameters (`GET /v1/AuditLogs`): paging, the
//! interval, `Operations`, `Status`, `Reseller`, `Customer`, `resellerId` and the
//! `ContinuationToken`, for a CSP caller and a reseller's. The input is a query string.
//! Parsing must never panic and never fail as anything but a 400 naming a parameter (or a
//! 403 for a reseller naming another); what it accepts must be in range, its filter and the
//! token's narrowed filter expressions of the one query model
//! (`stele_fuzz::check_profile_expr`), and the reseller it restricts to a valid view.
//!
//! Run with `cargo +nightly fuzz run cloudcockpit_params corpus/cloudcockpit_params` from
//! `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Expr, Timestamp, ViewFilter};
use stele_server::fuzzing::cloudcockpit::{continuation, parse, Failure, Pairs, Role};

/// The server's clock for every run (2026-06-01T00:00:00Z).
const NOW: Timestamp = Timestamp::from_micros(1_780_272_000_000_000);
const OWN: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn refused_well(f: &Failure, role: &Role) {
    let status = f.status().as_u16();
    match (status, role) {
        (400, _) => assert!(f.property().is_some(), "a 400 names its parameter"),
        (403, Role::Reseller(_)) => {}
        _ => panic!("answered {status}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let pairs = Pairs(form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned())).collect());
    for role in [Role::Csp, Role::Reseller(OWN.to_owned())] {
        let parsed = match parse(&pairs, &role, NOW) {
            Ok(parsed) => parsed,
            Err(f) => {
                refused_well(&f, &role);
                continue;
            }
        };
        assert!((1..=2000).contains(&parsed.page_size));
        assert!((1..=i32::MAX as u64).contains(&parsed.page_number));
        assert!(parsed.range.from <= parsed.range.to, "{:?}", parsed.range);
        if let Some(filter) = &parsed.filter {
            stele_fuzz::check_profile_expr(filter.expr());
        }
        match (&role, &parsed.reseller) {
            (Role::Reseller(own), reseller) => assert_eq!(reseller.as_ref(), Some(own)),
            (Role::Csp, Some(id)) => {
                let view = Expr::compare(Attr::Context("reseller_id".into()), CompareOp::Eq, Value::String(id.clone()));
                assert!(ViewFilter::new(view).is_ok(), "reseller {id:?} is not a view");
            }
            (Role::Csp, None) => {}
        }
        if let Some(token) = pairs.get("ContinuationToken") {
            match continuation(parsed.filter.as_ref(), token) {
                Ok((cursor, narrowed)) => {
                    assert!(cursor.seq > 0);
                    stele_fuzz::check_profile_expr(narrowed.expr());
                }
                Err(f) => refused_well(&f, &role),
            }
        }
    }
});
