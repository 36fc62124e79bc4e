//! Fuzzes the Losant profile's list parameters (`GET /instance/{id}/audit-logs`), whose
//! `auditLogFilter[key][i][field]=value` bracket notation becomes a filter expression. The
//! input is a query string. Parsing must never panic; what it accepts must have a page size
//! in range, compare only the attributes the filter schema maps to, and be an expression of
//! the one query model (`stele_fuzz::check_profile_expr`: type rules, canonical text, SQL).
//!
//! Run with `cargo +nightly fuzz run losant_filter corpus/losant_filter` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_core::{Attr, Expr};
use stele_server::fuzzing::losant::{is_filter_param, parse_filter, parse_list};

/// The attributes `auditLogFilter` keys map to.
fn allowed(attr: &Attr) -> bool {
    matches!(
        attr,
        Attr::TargetId
            | Attr::TargetType
            | Attr::TargetName
            | Attr::ActorId
            | Attr::ActorType
            | Attr::ActorName
            | Attr::ActorEmail
            | Attr::Action
            | Attr::RequestStatusCode
    )
}

fn attrs_allowed(e: &Expr) -> bool {
    match e {
        Expr::And(items) | Expr::Or(items) => !items.is_empty() && items.iter().all(attrs_allowed),
        Expr::Not(_) | Expr::Present(_) => false,
        Expr::Compare { attr, .. } => allowed(attr),
    }
}

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let Ok(params) = parse_list(&pairs) else { return };
    assert!((1..=1000).contains(&params.per_page));
    let filter_pairs = pairs.iter().filter(|(n, _)| is_filter_param(n)).map(|(n, v)| (n.as_str(), v.as_str()));
    assert_eq!(parse_filter(filter_pairs).ok().as_ref(), Some(&params.filter));
    if let Some(expr) = &params.filter {
        assert!(attrs_allowed(expr), "{expr:?}");
        stele_fuzz::check_profile_expr(expr);
    }
});
