//! [`ViewFilter`]: a key's view filter, the access boundary AND-ed into everything the key
//! reads and checked against everything it writes.
//!
//! A view is not a search. Searches compare text case-insensitively (SCIM's
//! `caseExact=false`), but an access boundary that folds case lets a reseller `r1` read
//! reseller `R1`'s events. So a view's string comparisons are **exact** (byte for byte,
//! context keys too), in the SQL compilers ([`crate::Query::view`] is compiled apart from the
//! user's filter) and in [`ViewFilter::matches`], which decides whether a key may write an
//! event. What a view may contain is narrower than a search, so that both agree:
//!
//! - no ordering (`gt ge lt le`) on text: exact byte order and the case-folded order of
//!   searches would disagree at the boundary;
//! - no `seq`: a written event has none yet, so the write check could not decide it.
//!
//! Views obey the same bounds as every filter ([`super::Filter`]).

use super::ast::{Attr, AttrKind, CompareOp, Expr, Value};
use super::bounded::Filter;
use super::parser::FilterError;
use crate::event::Event;

/// A key's view filter (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewFilter(Expr);

impl ViewFilter {
    /// Checks an expression for use as a view: the filter bounds and the view rules.
    pub fn new(expr: Expr) -> Result<Self, FilterError> {
        let at1 = |message: String| FilterError { position: 1, message };
        let expr = Filter::new(expr).map_err(|e| at1(e.to_string()))?.into_expr();
        check_view_rules(&expr).map_err(at1)?;
        Ok(Self(expr))
    }

    /// Parses view filter text.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let expr = Filter::parse(text)?.into_expr();
        Self::new(expr)
    }

    /// A view read back from storage, where it was checked when its key was made. Views
    /// stored before these rules existed are taken as they are (and still compared exactly).
    pub fn from_stored(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json).map(Self)
    }

    /// The stored form: the JSON of the AST, never text to parse again.
    pub fn to_stored(&self) -> String {
        // Serialising an `Expr` (strings, numbers, enums) cannot fail.
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    /// Both views at once (a key made by a filtered key; a CloudCockpit reseller claim on
    /// top of the key's view).
    pub fn and(self, other: ViewFilter) -> ViewFilter {
        ViewFilter(Expr::and(self.0, other.0))
    }

    pub fn expr(&self) -> &Expr {
        &self.0
    }

    /// Whether everything `other` lets through, this view lets through too, decided
    /// syntactically and soundly: every conjunct of `self` is a conjunct of `other` (a key
    /// made by a filtered key has the maker's view as conjuncts). `None` is "everything".
    pub fn covers(&self, other: Option<&ViewFilter>) -> bool {
        let Some(other) = other else { return false };
        let theirs = conjuncts(&other.0);
        conjuncts(&self.0).iter().all(|c| theirs.contains(c))
    }

    /// Whether `event` is inside the view, with exact comparisons (the write check).
    pub fn matches(&self, event: &Event) -> bool {
        eval(&self.0, event)
    }
}

impl std::fmt::Display for ViewFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::And(items) => items.iter().flat_map(conjuncts).collect(),
        other => vec![other],
    }
}

fn check_view_rules(e: &Expr) -> Result<(), String> {
    match e {
        Expr::And(items) | Expr::Or(items) => items.iter().try_for_each(check_view_rules),
        Expr::Not(inner) => check_view_rules(inner),
        Expr::Present(attr) | Expr::Compare { attr, .. } if *attr == Attr::Seq => {
            Err("a view filter cannot use seq (a written event has none yet)".into())
        }
        Expr::Compare { attr, op, value: Value::String(_) } if op.is_ordering() => Err(format!(
            "a view filter compares text exactly and cannot order it: {attr} {op} (use eq, ne, co, sw or ew)"
        )),
        _ => Ok(()),
    }
}

/// The text values an event holds for a text attribute: one or none, several for `target.*`
/// (empty values count as absent, as the stores index them).
fn texts<'a>(event: &'a Event, attr: &Attr) -> Vec<&'a str> {
    let one = |v: Option<&'a String>| v.map(String::as_str).filter(|s| !s.is_empty()).into_iter().collect();
    let actor = event.actor.as_ref();
    let request = event.request.as_ref();
    let targets = |f: fn(&'a crate::event::Target) -> Option<&'a String>| {
        event.targets.iter().filter_map(f).map(String::as_str).filter(|s| !s.is_empty()).collect()
    };
    match attr {
        Attr::Action => vec![event.action.as_str()],
        Attr::Status => vec![event.status.as_str()],
        Attr::Origin => event.origin.map(|o| o.as_str()).into_iter().collect(),
        Attr::Message => one(event.message.as_ref()),
        Attr::Reason => one(event.reason.as_ref()),
        Attr::CorrelationId => one(event.correlation_id.as_ref()),
        Attr::ActorType => one(actor.and_then(|a| a.kind.as_ref())),
        Attr::ActorId => one(actor.and_then(|a| a.id.as_ref())),
        Attr::ActorName => one(actor.and_then(|a| a.name.as_ref())),
        Attr::ActorEmail => one(actor.and_then(|a| a.email.as_ref())),
        Attr::ActorIp => one(actor.and_then(|a| a.ip.as_ref())),
        Attr::RequestMethod => one(request.and_then(|r| r.method.as_ref())),
        Attr::RequestPath => one(request.and_then(|r| r.path.as_ref())),
        Attr::RequestId => one(request.and_then(|r| r.id.as_ref())),
        Attr::TargetType => targets(|t| t.kind.as_ref()),
        Attr::TargetId => targets(|t| t.id.as_ref()),
        Attr::TargetName => targets(|t| t.name.as_ref()),
        Attr::TargetEmail => targets(|t| t.email.as_ref()),
        Attr::Context(key) => one(event.context.get(key)),
        Attr::Id | Attr::Seq | Attr::Time | Attr::ReceivedAt | Attr::RequestStatusCode | Attr::Metadata(_) => vec![],
    }
}

/// The JSON value at a metadata path (a JSON `null` counts as absent).
fn metadata(event: &Event, path: &[String]) -> Option<serde_json::Value> {
    let (first, rest) = path.split_first()?;
    // Metadata is held as canonical text; a view that looks inside parses it.
    let mut at = event.metadata.as_ref()?.to_value();
    for seg in std::iter::once(first).chain(rest) {
        at = at.as_object_mut()?.remove(seg)?;
    }
    (!at.is_null()).then_some(at)
}

fn present(event: &Event, attr: &Attr) -> bool {
    match attr {
        Attr::Id | Attr::Time | Attr::ReceivedAt => true,
        Attr::Seq => false,
        Attr::RequestStatusCode => event.request.as_ref().and_then(|r| r.status_code).is_some(),
        Attr::Metadata(path) => metadata(event, path).is_some(),
        text => !texts(event, text).is_empty(),
    }
}

fn text_matches(have: &str, op: CompareOp, want: &str) -> bool {
    match op {
        CompareOp::Eq => have == want,
        CompareOp::Ne => have != want,
        CompareOp::Co => have.contains(want),
        CompareOp::Sw => have.starts_with(want),
        CompareOp::Ew => have.ends_with(want),
        // `check_view_rules` refuses ordering text in a view filter, so these are never
        // reached; if they were, the event would not be in the view (fail closed).
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => false,
    }
}

fn ordered<T: PartialOrd>(have: T, op: CompareOp, want: T) -> bool {
    match op {
        CompareOp::Eq => have == want,
        CompareOp::Ne => have != want,
        CompareOp::Gt => have > want,
        CompareOp::Ge => have >= want,
        CompareOp::Lt => have < want,
        CompareOp::Le => have <= want,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn eval(e: &Expr, event: &Event) -> bool {
    match e {
        Expr::And(items) => items.iter().all(|i| eval(i, event)),
        Expr::Or(items) => items.iter().any(|i| eval(i, event)),
        Expr::Not(inner) => !eval(inner, event),
        Expr::Present(attr) => present(event, attr),
        Expr::Compare { attr, op, value: Value::Null } => present(event, attr) == (*op == CompareOp::Ne),
        Expr::Compare { attr, op, value } => compare(event, attr, *op, value),
    }
}

fn compare(event: &Event, attr: &Attr, op: CompareOp, value: &Value) -> bool {
    match (attr, value) {
        (Attr::Time, Value::Time(t)) => ordered(event.time, op, *t),
        (Attr::ReceivedAt, Value::Time(t)) => ordered(event.received_at, op, *t),
        (Attr::Id, Value::String(s)) => text_matches(&event.id.to_string(), op, s),
        (Attr::RequestStatusCode, Value::Int(n)) => match event.request.as_ref().and_then(|r| r.status_code) {
            Some(code) => ordered(i64::from(code), op, *n),
            None => op == CompareOp::Ne,
        },
        (Attr::Metadata(path), _) => {
            let have = metadata(event, path);
            let hit = match (have.as_ref(), value) {
                (Some(serde_json::Value::String(h)), Value::String(w)) => text_matches(h, positive(op), w),
                (Some(serde_json::Value::Bool(h)), Value::Bool(w)) => ordered(*h, positive(op), *w),
                (Some(serde_json::Value::Number(h)), Value::Int(w)) => {
                    h.as_f64().is_some_and(|h| ordered(h, positive(op), *w as f64))
                }
                (Some(serde_json::Value::Number(h)), Value::Float(w)) => {
                    h.as_f64().is_some_and(|h| ordered(h, positive(op), *w))
                }
                _ => false,
            };
            // `ne` on a single value is "not equal", counting a missing or mistyped value.
            if op == CompareOp::Ne {
                !hit
            } else {
                hit
            }
        }
        (attr, Value::String(want)) if attr.kind() != AttrKind::Time => {
            let have = texts(event, attr);
            if attr.is_multi() {
                // Any target matches (for `ne` too: some target holds another value).
                have.iter().any(|h| text_matches(h, op, want))
            } else if op == CompareOp::Ne {
                !have.iter().any(|h| h == want)
            } else {
                have.iter().any(|h| text_matches(h, op, want))
            }
        }
        _ => false,
    }
}

/// `ne` is evaluated as the negation of `eq` on single values.
fn positive(op: CompareOp) -> CompareOp {
    if op == CompareOp::Ne {
        CompareOp::Eq
    } else {
        op
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, RequestInfo, Status, Target};
    use crate::ids::EventId;
    use crate::timestamp::Timestamp;

    fn event() -> Event {
        Event {
            id: EventId::new_v7(),
            time: Timestamp::from_micros(1_000_000),
            received_at: Timestamp::from_micros(2_000_000),
            action: "user.created".into(),
            status: Status::Success,
            message: None,
            reason: None,
            actor: Some(Actor { email: Some("ana@acme.io".into()), ..Actor::default() }),
            origin: None,
            targets: vec![Target { id: Some("u_7".into()), ..Target::default() }],
            context: [("reseller_id".to_owned(), "r1".to_owned())].into(),
            request: Some(RequestInfo { status_code: Some(201), ..RequestInfo::default() }),
            changes: None,
            correlation_id: None,
            metadata: serde_json::from_str(r#"{"n": 5, "tier": "gold", "flag": true, "ratio": 0.75, "gone": null}"#)
                .ok(),
            truncated: false,
        }
    }

    #[test]
    fn views_compare_exactly() {
        let table = [
            (r#"context.reseller_id eq "r1""#, true),
            (r#"context.reseller_id eq "R1""#, false),
            (r#"context.Reseller_id eq "r1""#, false),
            (r#"context.reseller_id ne "R1""#, true),
            (r#"context.other ne "x""#, true),
            (r#"actor.email sw "ana@""#, true),
            (r#"actor.email ew "ACME.IO""#, false),
            (r#"target.id eq "u_7""#, true),
            (r#"target.id eq "U_7""#, false),
            (r#"metadata.tier eq "gold""#, true),
            (r#"metadata.tier eq "Gold""#, false),
            (r#"metadata.n ge 5"#, true),
            (r#"metadata.n eq "5""#, false),
            (r#"action eq "user.created" and not status eq "failure""#, true),
            (r#"message pr or reason eq null"#, true),
            (r#"request.status_code eq 200"#, false),
            (r#"time lt "1970-01-01T00:00:02Z""#, true),
            // Instants and numbers are ordered; every operator at its edge.
            (r#"time eq "1970-01-01T00:00:01Z""#, true),
            (r#"time ne "1970-01-01T00:00:01Z""#, false),
            (r#"time ge "1970-01-01T00:00:01Z""#, true),
            (r#"time gt "1970-01-01T00:00:01Z""#, false),
            (r#"time le "1970-01-01T00:00:00Z""#, false),
            (r#"received_at gt "1970-01-01T00:00:01Z""#, true),
            (r#"received_at lt "1970-01-01T00:00:02Z""#, false),
            ("request.status_code eq 201", true),
            ("request.status_code ne 201", false),
            ("request.status_code gt 200", true),
            ("request.status_code ge 202", false),
            ("request.status_code lt 201", false),
            ("request.status_code le 201", true),
            ("metadata.flag eq true", true),
            ("metadata.flag eq false", false),
            ("metadata.ratio gt 0.5", true),
            ("metadata.ratio lt 0.5", false),
            (r#"metadata.tier ne "gold""#, false),
            (r#"metadata.tier ne "x""#, true),
            ("metadata.n pr", true),
            ("metadata.gone pr", false),
            ("metadata.missing.deeper pr", false),
            // Presence of text, ids and targets.
            ("actor.email pr", true),
            ("not message pr", true),
            ("reason pr", false),
            ("id pr", true),
            (r#"id eq "x""#, false),
            (r#"id ne "x""#, true),
            (r#"target.id ne "u_7""#, false),
            (r#"target.id ne "x""#, true),
            (r#"target.name pr"#, false),
        ];
        let e = event();
        for (text, want) in table {
            let view = ViewFilter::parse(text).expect(text);
            assert_eq!(view.matches(&e), want, "{text}");
        }
    }

    #[test]
    fn views_refuse_text_ordering_and_seq() {
        let nested = r#"action eq "a" or (context.k eq "v" and not (actor.id lt "m"))"#;
        for bad in [r#"context.reseller_id gt "r""#, "seq gt 5", "seq pr", nested, r#"action eq "a" and seq ge 2"#] {
            assert!(ViewFilter::parse(bad).is_err(), "{bad}");
        }
        assert!(ViewFilter::parse("request.status_code ge 400").is_ok());
    }

    #[test]
    fn a_stored_view_reads_back_the_same() {
        let view = ViewFilter::parse(r#"context.reseller_id eq "r1" and not actor.email ew "@x.io""#).expect("view");
        let stored = view.to_stored();
        assert!(stored.starts_with('{'), "{stored}");
        assert_eq!(ViewFilter::from_stored(&stored).expect("stored"), view);
        assert_eq!(view.to_string(), r#"context.reseller_id eq "r1" and not actor.email ew "@x.io""#);
    }

    #[test]
    fn a_view_matches_the_event_id_and_a_missing_status_code() {
        let e = event();
        let id = e.id.to_string();
        assert!(ViewFilter::parse(&format!(r#"id eq "{id}""#)).expect("view").matches(&e));
        assert!(!ViewFilter::parse(&format!(r#"id ne "{id}""#)).expect("view").matches(&e));
        assert!(ViewFilter::parse(&format!(r#"id sw "{}""#, &id[..8])).expect("view").matches(&e));
        let other = EventId::new_v7().to_string();
        assert!(!ViewFilter::parse(&format!(r#"id eq "{other}""#)).expect("view").matches(&e));
        // Without a request, a status code equals nothing and differs from everything.
        let bare = Event { request: None, ..event() };
        assert!(ViewFilter::parse("request.status_code ne 200").expect("view").matches(&bare));
        assert!(!ViewFilter::parse("request.status_code eq 200").expect("view").matches(&bare));
        assert!(!ViewFilter::parse("request.status_code lt 900").expect("view").matches(&bare));
    }

    #[test]
    fn a_view_cannot_order_text_or_use_seq() {
        for op in ["gt", "ge", "lt", "le"] {
            let err = ViewFilter::parse(&format!(r#"actor.email {op} "ana""#)).expect_err(op);
            assert!(err.message.contains("cannot order"), "{op}: {err:?}");
            // Positive control: numbers and instants are ordered.
            ViewFilter::parse(&format!("metadata.n {op} 5")).expect(op);
        }
        assert!(ViewFilter::parse("seq gt 5").expect_err("seq").message.contains("seq"));
    }

    #[test]
    fn a_view_covers_views_made_from_it() {
        let outer = ViewFilter::parse(r#"context.reseller_id eq "r1""#).expect("view");
        let inner = outer.clone().and(ViewFilter::parse(r#"action sw "user.""#).expect("view"));
        assert!(outer.covers(Some(&inner)));
        assert!(outer.covers(Some(&outer)));
        assert!(!inner.covers(Some(&outer)));
        assert!(!outer.covers(None));
        let other = ViewFilter::parse(r#"context.reseller_id eq "r2""#).expect("view");
        assert!(!outer.covers(Some(&other)));
    }
}
