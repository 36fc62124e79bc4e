use proptest::prelude::*;

use super::*;
use crate::timestamp::Timestamp;

fn ok(text: &str) -> Expr {
    match parse(text) {
        Ok(e) => e,
        Err(e) => panic!("{text:?} should parse, got {e}"),
    }
}

fn present(attr: Attr) -> Expr {
    Expr::Present(attr)
}

fn cmp(attr: Attr, op: CompareOp, value: Value) -> Expr {
    Expr::compare(attr, op, value)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn ts(v: &str) -> Value {
    Value::Time(Timestamp::parse(v).expect("test timestamp"))
}

/// Valid filters and their canonical text; every canonical text must parse back to the
/// same AST.
const VALID: &[(&str, &str)] = &[
    // Each attribute family and operator.
    (r#"id eq "0190a1b2-0000-7000-8000-000000000000""#, r#"id eq "0190a1b2-0000-7000-8000-000000000000""#),
    ("id pr", "id pr"),
    ("seq gt 100", "seq gt 100"),
    ("seq ge -5", "seq ge -5"),
    ("seq eq 0", "seq eq 0"),
    ("seq ne -9223372036854775808", "seq ne -9223372036854775808"),
    ("request.status_code lt 500", "request.status_code lt 500"),
    ("request.status_code le +499", "request.status_code le 499"),
    (r#"time gt "2026-11-22T10:15:00Z""#, r#"time gt "2026-11-22T10:15:00.000000Z""#),
    (r#"time lt "2026-11-22T11:15:00.5+01:00""#, r#"time lt "2026-11-22T10:15:00.500000Z""#),
    (r#"received_at ge "2026-01-01T00:00:00-05:00""#, r#"received_at ge "2026-01-01T05:00:00.000000Z""#),
    (r#"received_at le "2026-11-22T10:15:00.123456Z""#, r#"received_at le "2026-11-22T10:15:00.123456Z""#),
    (r#"time ne "2026-11-22T10:15:00Z""#, r#"time ne "2026-11-22T10:15:00.000000Z""#),
    (r#"published gt "2026-11-22T10:15:00Z""#, r#"time gt "2026-11-22T10:15:00.000000Z""#),
    (r#"eventType eq "user.session.start""#, r#"action eq "user.session.start""#),
    (r#"action sw "user.""#, r#"action sw "user.""#),
    (r#"action ew ".start""#, r#"action ew ".start""#),
    (r#"action co "session""#, r#"action co "session""#),
    (r#"action ne "x""#, r#"action ne "x""#),
    (r#"status eq "failure""#, r#"status eq "failure""#),
    (r#"status ne "SUCCESS""#, r#"status ne "success""#),
    (r#"origin eq "Api""#, r#"origin eq "api""#),
    (r#"message co "denied""#, r#"message co "denied""#),
    ("reason pr", "reason pr"),
    (r#"correlation_id eq "abc""#, r#"correlation_id eq "abc""#),
    (r#"actor.type eq "User""#, r#"actor.type eq "User""#),
    (r#"actor.id eq "u1""#, r#"actor.id eq "u1""#),
    (r#"actor.name sw "Ali""#, r#"actor.name sw "Ali""#),
    (r#"actor.ip eq "10.0.0.1""#, r#"actor.ip eq "10.0.0.1""#),
    (r#"actor.id gt "m""#, r#"actor.id gt "m""#),
    (r#"target.type eq "group""#, r#"target.type eq "group""#),
    (r#"target.id eq "g1""#, r#"target.id eq "g1""#),
    (r#"target.name co "admin""#, r#"target.name co "admin""#),
    (r#"target.email ew "@example.com""#, r#"target.email ew "@example.com""#),
    (r#"request.method eq "POST""#, r#"request.method eq "POST""#),
    (r#"request.path sw "/api/""#, r#"request.path sw "/api/""#),
    (r#"request.id eq "r-1""#, r#"request.id eq "r-1""#),
    // Context keys and metadata paths.
    (r#"context.region eq "eu""#, r#"context.region eq "eu""#),
    (r#"context.app.version eq "1.2""#, r#"context.app.version eq "1.2""#),
    ("CONTEXT.Tenant-Key_2 pr", "context.Tenant-Key_2 pr"),
    ("metadata.risk.score gt 0.5", "metadata.risk.score gt 0.5"),
    ("metadata.flag eq true", "metadata.flag eq true"),
    ("metadata.flag ne FALSE", "metadata.flag ne false"),
    ("metadata.n eq -1.5e3", "metadata.n eq -1500.0"),
    ("metadata.n lt 2E-3", "metadata.n lt 0.002"),
    ("metadata.n ge 1e2", "metadata.n ge 100.0"),
    ("metadata.n eq +7", "metadata.n eq 7"),
    ("Metadata.Deep_path.x-y eq null", "metadata.Deep_path.x-y eq null"),
    (r#"metadata.s co "x""#, r#"metadata.s co "x""#),
    // Case rules.
    (r#"ACTION EQ "x""#, r#"action eq "x""#),
    (r#"Actor.Email eq "A@Example.com""#, r#"actor.email eq "A@Example.com""#),
    (r#"actor.id Sw "x" AND actor.name pr OR NOT id pr"#, r#"actor.id sw "x" and actor.name pr or not id pr"#),
    // null
    ("actor.id eq null", "actor.id eq null"),
    ("actor.id ne NULL", "actor.id ne null"),
    ("time eq null", "time eq null"),
    ("status ne null", "status ne null"),
    // Precedence and grouping.
    ("actor.id pr or actor.name pr and actor.email pr", "actor.id pr or actor.name pr and actor.email pr"),
    ("actor.id pr and actor.name pr or actor.email pr", "actor.id pr and actor.name pr or actor.email pr"),
    ("not actor.id pr and actor.name pr", "not actor.id pr and actor.name pr"),
    ("not (actor.id pr and actor.name pr)", "not (actor.id pr and actor.name pr)"),
    (r#"not actor.id eq "x""#, r#"not actor.id eq "x""#),
    ("not(actor.id pr)", "not actor.id pr"),
    ("(actor.id pr or actor.name pr) and actor.email pr", "(actor.id pr or actor.name pr) and actor.email pr"),
    ("((((actor.id pr))))", "actor.id pr"),
    ("actor.id pr and (actor.name pr and actor.email pr)", "actor.id pr and actor.name pr and actor.email pr"),
    ("(actor.id pr or (actor.name pr or actor.email pr))", "actor.id pr or actor.name pr or actor.email pr"),
    ("not not actor.id pr", "not not actor.id pr"),
    ("not (not (actor.id pr))", "not not actor.id pr"),
    ("(actor.id pr)and(actor.name pr)", "actor.id pr and actor.name pr"),
    (
        r#"status eq "pending" or (status eq "warning" and not (origin eq "user" or origin eq "api"))"#,
        r#"status eq "pending" or status eq "warning" and not (origin eq "user" or origin eq "api")"#,
    ),
    (
        r#"published ge "2026-11-22T10:15:00.123456Z" and eventType sw "user.""#,
        r#"time ge "2026-11-22T10:15:00.123456Z" and action sw "user.""#,
    ),
    // Escapes and whitespace.
    (r#"message eq "a\"b\\c\/d\b\f\n\r\t""#, r#"message eq "a\"b\\c/d\b\f\n\r\t""#),
    (r#"message eq "caf\u00e9""#, r#"message eq "café""#),
    (r#"message eq "caf\u00E9 ☕""#, r#"message eq "café ☕""#),
    (r#"message eq "\ud83d\ude00""#, r#"message eq "😀""#),
    (r#"message eq "\u0001""#, r#"message eq "\u0001""#),
    (r#"message eq """#, r#"message eq """#),
    ("  actor.id   eq\t\"x\"\n", r#"actor.id eq "x""#),
];

#[test]
fn valid_filters_give_their_canonical_text() {
    assert!(VALID.len() >= 50);
    for (text, canonical) in VALID {
        let expr = ok(text);
        assert_eq!(expr.to_string(), *canonical, "display of {text:?}");
        assert_eq!(ok(canonical), expr, "canonical text of {text:?} parses back differently");
    }
}

#[test]
fn valid_filters_give_the_expected_ast() {
    use Attr::*;
    use CompareOp::*;
    let cases: Vec<(&str, Expr)> = vec![
        (r#"published gt "2026-11-22T10:15:00Z""#, cmp(Time, Gt, ts("2026-11-22T10:15:00Z"))),
        (r#"eventType eq "a.b""#, cmp(Action, Eq, s("a.b"))),
        (r#"ACTION EQ "x""#, cmp(Action, Eq, s("x"))),
        (r#"Actor.Email eq "x""#, cmp(ActorEmail, Eq, s("x"))),
        ("seq ge -5", cmp(Seq, Ge, Value::Int(-5))),
        ("metadata.a.B-c_d lt -1.5e3", cmp(Metadata(vec!["a".into(), "B-c_d".into()]), Lt, Value::Float(-1500.0))),
        ("metadata.x eq 2.25", cmp(Metadata(vec!["x".into()]), Eq, Value::Float(2.25))),
        ("metadata.x eq True", cmp(Metadata(vec!["x".into()]), Eq, Value::Bool(true))),
        ("context.App.Version pr", present(Context("App.Version".into()))),
        (r#"status eq "Failure""#, cmp(Status, Eq, s("failure"))),
        ("actor.id eq null", cmp(ActorId, Eq, Value::Null)),
        (r#"message eq "caf\u00e9 \ud83d\ude00""#, cmp(Message, Eq, s("café 😀"))),
        ("id pr or seq pr and reason pr", Expr::Or(vec![present(Id), Expr::And(vec![present(Seq), present(Reason)])])),
        ("not id pr and seq pr", Expr::And(vec![Expr::not(present(Id)), present(Seq)])),
        ("not (id pr and seq pr)", Expr::not(Expr::And(vec![present(Id), present(Seq)]))),
        ("id pr and (seq pr and (reason pr))", Expr::And(vec![present(Id), present(Seq), present(Reason)])),
        ("id pr or seq pr or reason pr", Expr::Or(vec![present(Id), present(Seq), present(Reason)])),
        (
            "(id pr or seq pr) and reason pr",
            Expr::And(vec![Expr::Or(vec![present(Id), present(Seq)]), present(Reason)]),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(ok(text), expected, "{text:?}");
    }
}

/// Invalid filters with their exact error text.
const INVALID: &[(&str, &str)] = &[
    (r#"actr.id eq "x""#, r#"filter: unknown attribute "actr.id" at 1"#),
    ("and id pr", r#"filter: unknown attribute "and" at 1"#),
    (r#"actor.id "x""#, "filter: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) at 10"),
    ("actor.id", "filter: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) at 9"),
    (r#"actor.id equals "x""#, "filter: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) at 10"),
    ("actor.id eq", "filter: expected a value (a string, number, true, false or null) at 12"),
    ("actor.id eq yesterday", "filter: expected a value (a string, number, true, false or null) at 13"),
    (r#"actor.id eq "abc"#, "filter: unterminated string at 13"),
    (r#"actor.id eq "abc\"#, "filter: unterminated string at 13"),
    (r#"actor.id eq "a\qb""#, r#"filter: invalid escape "\q" at 15"#),
    (r#"message eq "\u12""#, r#"filter: invalid \u escape (expected four hex digits) at 13"#),
    (r#"message eq "\ud83d""#, r#"filter: invalid \u escape (unpaired surrogate) at 13"#),
    (r#"message eq "\ud83dx""#, r#"filter: invalid \u escape (unpaired surrogate) at 13"#),
    (r#"message eq "\ude00""#, r#"filter: invalid \u escape (unpaired surrogate) at 13"#),
    (r#"message eq "\ud83d\u0041""#, r#"filter: invalid \u escape (unpaired surrogate) at 13"#),
    ("message eq \"a\nb\"", "filter: control character in string (escape it) at 14"),
    ("(actor.id pr", r#"filter: expected ")" at 13"#),
    ("(actor.id pr actor.name pr)", r#"filter: expected ")" at 14"#),
    ("actor.id pr)", "filter: expected end of filter at 12"),
    ("actor.id pr actor.name pr", "filter: expected end of filter at 13"),
    ("()", r#"filter: expected an attribute name, "(" or "not" at 2"#),
    (r#"actor.id eq "x" and"#, r#"filter: expected an attribute name, "(" or "not" at 20"#),
    ("not", r#"filter: expected an attribute name, "(" or "not" at 4"#),
    (r#"actor.id eq "x" & id pr"#, r#"filter: unexpected character "&" at 17"#),
    (r#"emails[type eq "work"]"#, r#"filter: unknown attribute "emails" at 1"#),
    (r#"id pr [type eq "work"]"#, "filter: complex attribute filters ([...]) are not supported at 7"),
    (
        r#"time gt "yesterday""#,
        r#"filter: time compares only with an RFC 3339 date-time string such as "2026-11-22T10:15:00Z" at 9"#,
    ),
    (
        r#"time gt "2026-11-22""#,
        r#"filter: time compares only with an RFC 3339 date-time string such as "2026-11-22T10:15:00Z" at 9"#,
    ),
    (
        "received_at lt 5",
        r#"filter: received_at compares only with an RFC 3339 date-time string such as "2026-11-22T10:15:00Z" at 16"#,
    ),
    (r#"time co "2026-11-22T10:15:00Z""#, "filter: co cannot be used with time at 6"),
    (r#"seq eq "x""#, "filter: seq compares only with an integer at 8"),
    ("seq eq 1.5", "filter: seq compares only with an integer at 8"),
    ("seq sw 1", "filter: sw cannot be used with seq at 5"),
    ("request.status_code eq true", "filter: request.status_code compares only with an integer at 24"),
    (r#"status eq "ok""#, "filter: status must be one of success, failure, warning, pending at 11"),
    (r#"status gt "success""#, "filter: status supports only eq, ne and pr at 8"),
    (r#"origin eq "robot""#, "filter: origin must be one of user, api, system at 11"),
    ("actor.id co 5", "filter: co compares only with a string at 13"),
    ("metadata.x ew true", "filter: ew compares only with a string at 15"),
    ("actor.id gt null", "filter: gt cannot compare with null at 13"),
    ("metadata.x lt true", "filter: lt cannot compare with a boolean at 15"),
    ("actor.id eq 5", "filter: actor.id compares only with a string at 13"),
    ("context.k eq false", "filter: context.k compares only with a string at 14"),
    ("seq eq 12abc", "filter: invalid number at 8"),
    ("seq eq 1.", "filter: invalid number at 8"),
    ("seq eq -", "filter: invalid number at 8"),
    ("seq eq 99999999999999999999", "filter: integer out of range at 8"),
    ("metadata.x eq 1e999", "filter: number out of range at 15"),
    ("context. pr", "filter: context key must be 1-128 characters of A-Z, a-z, 0-9, '_', '-' or '.' at 1"),
    ("metadata.a..b pr", "filter: metadata path must be dot-separated names of A-Z, a-z, 0-9, '_' or '-' at 1"),
    ("metadata. pr", "filter: metadata path must be dot-separated names of A-Z, a-z, 0-9, '_' or '-' at 1"),
    ("", "filter: empty filter at 1"),
    (" \t\n ", "filter: empty filter at 1"),
];

#[test]
fn invalid_filters_give_exact_errors() {
    assert!(INVALID.len() >= 25);
    for (text, expected) in INVALID {
        match parse(text) {
            Ok(e) => panic!("{text:?} should fail, parsed as {e:?}"),
            Err(e) => assert_eq!(e.to_string(), *expected, "{text:?}"),
        }
    }
}

#[test]
fn length_bound() {
    let at_limit = format!("id pr{}", " ".repeat(MAX_FILTER_LEN - 5));
    assert_eq!(at_limit.chars().count(), MAX_FILTER_LEN);
    assert!(parse(&at_limit).is_ok());
    let over = format!("{at_limit} ");
    assert_eq!(parse(&over).map_err(|e| e.to_string()), Err("filter: longer than 4096 characters at 4097".into()));
    // Counted in characters, not bytes.
    let wide = format!(r#"message eq "{}""#, "é".repeat(MAX_FILTER_LEN - 13));
    assert!(parse(&wide).is_ok());
    // Huge input is refused without reading it all.
    let huge = "(".repeat(1_000_000);
    assert_eq!(parse(&huge).map_err(|e| e.position), Err(4097));
}

#[test]
fn depth_bound() {
    let parens = |n: usize| format!("{}id pr{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(ok(&parens(32)), present(Attr::Id));
    assert_eq!(parse(&parens(33)).map_err(|e| e.to_string()), Err("filter: nested deeper than 32 levels at 33".into()));

    let nots = |n: usize| format!("{}id pr", "not ".repeat(n));
    assert!(parse(&nots(32)).is_ok());
    assert_eq!(parse(&nots(33)).map_err(|e| e.to_string()), Err("filter: nested deeper than 32 levels at 129".into()));

    let mixed = |n: usize| format!("{}id pr{}", "not (".repeat(n), ")".repeat(n));
    assert!(parse(&mixed(16)).is_ok());
    assert_eq!(parse(&mixed(17)).map_err(|e| e.position), Err(81));

    // Deep but within the length bound: refused, no stack overflow.
    assert!(parse(&"(".repeat(MAX_FILTER_LEN)).is_err());
    assert!(parse(&"not ".repeat(MAX_FILTER_LEN / 4)).is_err());

    // Long flat chains are fine: they are not nesting.
    let chain = vec!["id pr"; 400].join(" and ");
    assert!(chain.len() <= MAX_FILTER_LEN);
    match ok(&chain) {
        Expr::And(items) => assert_eq!(items.len(), 400),
        other => panic!("expected And, got {other:?}"),
    }
}

#[test]
fn display_needs_no_more_nesting_than_the_source() {
    let deep = format!("{}id pr{}", "(id pr or (seq pr and ".repeat(16), "))".repeat(16));
    let expr = ok(&deep);
    assert_eq!(ok(&expr.to_string()), expr);
}

#[test]
fn and_helper_flattens() {
    let a = ok("id pr and seq pr");
    let b = ok("reason pr or message pr");
    let both = Expr::and(a.clone(), b.clone());
    assert_eq!(both.to_string(), "id pr and seq pr and (reason pr or message pr)");
    assert_eq!(ok(&both.to_string()), both);
    assert_eq!(Expr::and(Expr::And(vec![]), b.clone()), b);
    assert_eq!(Expr::or(a.clone(), b.clone()).to_string(), "id pr and seq pr or reason pr or message pr");
    // Empty and single-element And/Or print as their meaning.
    assert_eq!(Expr::And(vec![]).to_string(), "id pr");
    assert_eq!(Expr::Or(vec![]).to_string(), "not id pr");
    let single = Expr::And(vec![Expr::Or(vec![b.clone()]), present(Attr::Id)]);
    assert_eq!(single.to_string(), "(reason pr or message pr) and id pr");
}

#[test]
fn attr_names_and_multi() {
    for (name, attr) in Attr::FIXED {
        assert_eq!(attr.name(), *name);
        assert_eq!(name.parse::<Attr>().as_ref(), Ok(attr));
        assert_eq!(name.to_uppercase().parse::<Attr>().as_ref(), Ok(attr));
        assert_eq!(attr.is_multi(), name.starts_with("target."));
    }
    assert_eq!(Attr::Context("a.B".into()).name(), "context.a.B");
    assert_eq!(Attr::Metadata(vec!["a".into(), "b".into()]).name(), "metadata.a.b");
    assert_eq!("published".parse::<Attr>(), Ok(Attr::Time));
    assert_eq!("EventType".parse::<Attr>(), Ok(Attr::Action));
    assert!("nope".parse::<Attr>().is_err());
    assert!("context.é".parse::<Attr>().is_err());
    assert!(format!("context.{}", "k".repeat(128)).parse::<Attr>().is_ok());
    assert!(format!("context.{}", "k".repeat(129)).parse::<Attr>().is_err());
}

#[test]
fn serde_round_trip() {
    let expr = ok(r#"not (time ge "2026-11-22T10:15:00Z" or metadata.a.b eq 1.5) and context.k eq null"#);
    let json = serde_json::to_string(&expr).expect("serialises");
    assert_eq!(serde_json::from_str::<Expr>(&json).expect("deserialises"), expr);
    let built: Expr = serde_json::from_value(serde_json::json!({
        "compare": { "attr": "Actor.ID", "op": "eq", "value": { "string": "u1" } }
    }))
    .expect("deserialises");
    assert_eq!(built, cmp(Attr::ActorId, CompareOp::Eq, s("u1")));
    assert_eq!(serde_json::to_value(Attr::ActorId).expect("serialises"), serde_json::json!("actor.id"));
    assert!(serde_json::from_value::<Attr>(serde_json::json!("actr.id")).is_err());
}

#[test]
fn checked_applies_type_rules_to_built_asts() {
    let built = Expr::and(
        cmp(Attr::Time, CompareOp::Gt, s("2026-11-22T10:15:00Z")),
        cmp(Attr::Status, CompareOp::Eq, s("FAILURE")),
    );
    let checked = built.checked().expect("valid");
    assert_eq!(checked, ok(r#"time gt "2026-11-22T10:15:00Z" and status eq "failure""#));
    let bad = cmp(Attr::Seq, CompareOp::Eq, s("x")).checked();
    assert_eq!(bad.map_err(|e| e.to_string()), Err("filter: seq compares only with an integer at 0".into()));
    assert!(cmp(Attr::Metadata(vec![]), CompareOp::Eq, Value::Null).checked().is_err());
    assert!(cmp(Attr::Context("a b".into()), CompareOp::Eq, Value::Null).checked().is_err());
    assert!(cmp(Attr::ActorId, CompareOp::Eq, ts("2026-11-22T10:15:00Z")).checked().is_err());
    assert!(cmp(Attr::Metadata(vec!["x".into()]), CompareOp::Eq, Value::Float(f64::NAN)).checked().is_err());
}

// ---- property tests ----

fn fixed_attr() -> impl Strategy<Value = Attr> {
    prop::sample::select(Attr::FIXED.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>())
}

fn any_attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        4 => fixed_attr(),
        1 => "[A-Za-z0-9_.-]{1,20}".prop_map(Attr::Context),
        1 => prop::collection::vec("[A-Za-z0-9_-]{1,8}", 1..4).prop_map(Attr::Metadata),
    ]
}

fn any_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"\\\\/ \t\n\u{1}\u{7f}é😀]{0,12}"]
}

/// A literal of the right type for `attr` with `op` (None when the pair has none).
fn value_for(attr: &Attr, op: CompareOp) -> BoxedStrategy<Value> {
    use super::ast::{AttrKind, ORIGIN_VALUES, STATUS_VALUES};
    let eq_like = matches!(op, CompareOp::Eq | CompareOp::Ne);
    let null = Just(Value::Null);
    let typed: BoxedStrategy<Value> = match attr.kind() {
        AttrKind::Text => text_value().prop_map(Value::String).boxed(),
        AttrKind::Integer => any::<i64>().prop_map(Value::Int).boxed(),
        AttrKind::Time => (-62_135_596_800_000_000i64..253_402_300_799_999_999)
            .prop_map(|m| Value::Time(Timestamp::from_micros(m)))
            .boxed(),
        AttrKind::Enum(_) if *attr == Attr::Status => {
            prop::sample::select(STATUS_VALUES).prop_map(|w| Value::String(w.into())).boxed()
        }
        AttrKind::Enum(_) => prop::sample::select(ORIGIN_VALUES).prop_map(|w| Value::String(w.into())).boxed(),
        AttrKind::Any if op.is_substring() => text_value().prop_map(Value::String).boxed(),
        AttrKind::Any if op.is_ordering() => prop_oneof![
            text_value().prop_map(Value::String),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::Float),
        ]
        .boxed(),
        AttrKind::Any => prop_oneof![
            text_value().prop_map(Value::String),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::Float),
            any::<bool>().prop_map(Value::Bool),
        ]
        .boxed(),
    };
    if eq_like {
        prop_oneof![5 => typed, 1 => null].boxed()
    } else {
        typed
    }
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        1 => any_attr().prop_map(Expr::Present),
        5 => (any_attr(), any_op())
            .prop_filter("operator fits the attribute", |(attr, op)| {
                use super::ast::AttrKind;
                match attr.kind() {
                    AttrKind::Enum(_) => matches!(op, CompareOp::Eq | CompareOp::Ne),
                    AttrKind::Time | AttrKind::Integer => !op.is_substring(),
                    _ => true,
                }
            })
            .prop_flat_map(|(attr, op)| {
                value_for(&attr, op).prop_map(move |value| Expr::compare(attr.clone(), op, value))
            }),
    ]
}

fn any_expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5)
                .prop_map(|items| items.into_iter().reduce(Expr::and).unwrap_or(Expr::And(vec![]))),
            prop::collection::vec(inner.clone(), 2..5)
                .prop_map(|items| items.into_iter().reduce(Expr::or).unwrap_or(Expr::Or(vec![]))),
            inner.prop_map(Expr::not),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn display_parses_back_to_the_same_ast(expr in any_expr()) {
        let text = expr.to_string();
        prop_assume!(text.chars().count() <= MAX_FILTER_LEN);
        prop_assert_eq!(parse(&text), Ok(expr.clone()), "text: {}", text);
        prop_assert_eq!(expr.clone().checked(), Ok(expr));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn filter_like_strings_never_panic_and_reparse(
        text in r#"[a-z._ ()"\\0-9+-]{0,40}|((not |\(|id pr|seq eq [0-9.e+-]{1,4}| and | or |\)|message eq "[a-z\\u0-9]{0,6}"|metadata\.x [a-z]{2} (true|null|1\.5)){0,12})"#
    ) {
        if let Ok(expr) = parse(&text) {
            prop_assert_eq!(parse(&expr.to_string()), Ok(expr));
        }
    }
}
