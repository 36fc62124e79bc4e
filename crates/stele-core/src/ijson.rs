//! I-JSON numbers (RFC 7493 §2.2), which RFC 8785 canonical JSON requires: an event's leaf
//! hash is computed over its canonical form, where every number is an IEEE 754 double. An
//! integer beyond ±(2^53 − 1) has no exact double, so two different integers (9007199254740993
//! and 9007199254740992) would hash alike while being stored differently. Such an event is
//! refused at ingest, naming the field. So is a fraction whose double is such an integer
//! (`222222000000000000.5`): canonical JSON writes an integral double under 10^21 as an
//! integer, so it would be stored as one that JSON numbers cannot hold exactly, and its
//! event's stored content would be refused if it were sent again. (JSON text cannot hold NaN
//! or infinities, and a number too large for a double is already refused by the JSON parser.)

use serde_json::Value;

/// The largest integer every JSON implementation represents exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Whether `n` is exact as a double: an integer within ±[`MAX_SAFE_INTEGER`], or a float
/// that passes [`is_safe_double`].
fn is_safe(n: &serde_json::Number) -> bool {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u <= MAX_SAFE_INTEGER,
        (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
        (None, None) => n.as_f64().is_none_or(is_safe_double),
    }
}

/// Whether canonical JSON writes the double `f` as something other than an integer beyond
/// ±[`MAX_SAFE_INTEGER`]: ECMAScript's number-to-text (RFC 8785) writes an integral double
/// below 10^21 in magnitude without a fraction or an exponent.
pub fn is_safe_double(f: f64) -> bool {
    let magnitude = f.abs();
    !(magnitude > MAX_SAFE_INTEGER as f64 && magnitude < 1e21 && magnitude.fract() == 0.0)
}

/// The path (`body.items[2].amount`, under `path`) of the first number in `value` that is
/// not an I-JSON number, if any. The path is written only for the number found: formatting
/// one for every member walked had been a tenth of the ingest parse.
pub fn unsafe_number(value: &Value, path: &str) -> Option<String> {
    let mut trail = Vec::new();
    find(value, &mut trail).then(|| render(path, &trail))
}

enum Step<'a> {
    Index(usize),
    Key(&'a str),
}

/// Whether `value` holds a number that is not I-JSON; `trail` then leads to it.
fn find<'a>(value: &'a Value, trail: &mut Vec<Step<'a>>) -> bool {
    match value {
        Value::Number(n) => !is_safe(n),
        Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
            trail.push(Step::Index(i));
            let found = find(v, trail);
            if !found {
                trail.pop();
            }
            found
        }),
        Value::Object(members) => find_member(members, trail),
        _ => false,
    }
}

fn find_member<'a>(members: &'a serde_json::Map<String, Value>, trail: &mut Vec<Step<'a>>) -> bool {
    members.iter().any(|(k, v)| {
        trail.push(Step::Key(k));
        let found = find(v, trail);
        if !found {
            trail.pop();
        }
        found
    })
}

fn render(path: &str, trail: &[Step<'_>]) -> String {
    let mut out = path.to_owned();
    for step in trail {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_beyond_2_53_are_found_where_they_are() {
        let cases = [
            (json!({"n": 9_007_199_254_740_991_u64}), None),
            (json!({"n": -9_007_199_254_740_991_i64}), None),
            (json!({"n": 1.5e300}), None),
            (json!({"n": 9_007_199_254_740_992_u64}), Some("m.n")),
            (json!({"n": -9_007_199_254_740_992_i64}), Some("m.n")),
            (json!({"a": [1, {"b": u64::MAX}]}), Some("m.a[1].b")),
        ];
        for (value, expected) in cases {
            assert_eq!(unsafe_number(&value, "m").as_deref(), expected, "{value}");
        }
    }
}
