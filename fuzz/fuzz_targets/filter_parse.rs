//! Fuzzes the filter parser: it must never panic, and whatever it accepts must print as
//! canonical text that parses back to the same expression (when that text is within the
//! length bound: escaping can make canonical text longer than the input, which is why stored
//! filters are kept as their JSON AST, not as text).
//!
//! Run with `cargo +nightly fuzz run filter_parse corpus/filter_parse` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_core::filter::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(expr) = parse(s) {
            let text = expr.to_string();
            if text.chars().count() > stele_core::filter::MAX_FILTER_LEN {
                return;
            }
            assert_eq!(parse(&text).as_ref(), Ok(&expr), "canonical text {text:?} of {s:?}");
        }
    }
});
