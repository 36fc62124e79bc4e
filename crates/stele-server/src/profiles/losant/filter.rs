//! Losant's `auditLogFilter`, sent in bracket notation
//! (`auditLogFilter[primaryTarget][0][type]=Organization`), parsed into a filter expression:
//! OR within a key's array, AND across keys, and inside one element the fields it gives.

use std::collections::BTreeMap;

use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Expr};

/// The query-string name of the filter.
pub const PARAM: &str = "auditLogFilter";

/// The keys the filter schema allows, and the fields of their elements.
const KEYS: &[(&str, &[&str])] = &[
    ("primaryTarget", &["id", "type", "name"]),
    ("secondaryTarget", &["id", "type", "name"]),
    ("actor", &["id", "type", "name"]),
    ("request", &["resource", "action"]),
    ("responseCode", &[]),
];

/// Longest string a filter field may hold (the schema's `maxLength`).
const MAX_LEN: usize = 1024;

/// One array element: its fields (`responseCode` elements are a bare value under `""`).
type Element = BTreeMap<String, String>;

/// Whether a query-string name belongs to the filter.
pub fn is_filter_param(name: &str) -> bool {
    name == PARAM || name.starts_with("auditLogFilter[")
}

/// `[a][b][c]` → `["a", "b", "c"]`.
fn segments(rest: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        let inner = s.strip_prefix('[')?;
        let end = inner.find(']')?;
        out.push(&inner[..end]);
        s = &inner[end + 1..];
    }
    Some(out)
}

/// Parses the filter's `name=value` pairs into an expression (`None` when there are none).
/// Errors are messages for a 400 `Validation` answer.
pub fn parse<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Result<Option<Expr>, String> {
    let mut keys: BTreeMap<&'static str, BTreeMap<u32, Element>> = BTreeMap::new();
    for (name, value) in pairs {
        let bad = || format!("{name} is not a valid {PARAM} parameter");
        let rest = name.strip_prefix(PARAM).ok_or_else(bad)?;
        let segs = segments(rest).ok_or_else(bad)?;
        let (key, fields) = KEYS.iter().find(|(k, _)| Some(k) == segs.first()).ok_or_else(|| match segs.first() {
            Some(k) => format!("{PARAM}.{k} is not allowed"),
            None => bad(),
        })?;
        let index: u32 =
            segs.get(1).and_then(|i| i.parse().ok()).ok_or_else(|| format!("{PARAM}.{key} must be an array"))?;
        let field = match (fields.is_empty(), segs.len()) {
            (true, 2) => String::new(),
            (false, 3) if fields.contains(&segs[2]) => segs[2].to_owned(),
            (false, 3) => return Err(format!("{PARAM}.{key}[{index}].{} is not allowed", segs[2])),
            _ => return Err(bad()),
        };
        if value.chars().count() > MAX_LEN {
            return Err(format!("{PARAM}.{key}[{index}].{field} must be at most {MAX_LEN} characters"));
        }
        keys.entry(key).or_default().entry(index).or_default().insert(field, value.to_owned());
    }
    let mut all = Vec::new();
    for (key, elements) in keys {
        let mut any = Vec::new();
        for (index, element) in elements {
            any.push(element_expr(key, index, &element)?);
        }
        all.push(any.into_iter().reduce(Expr::or).ok_or_else(|| format!("{PARAM}.{key} is empty"))?);
    }
    Ok(all.into_iter().reduce(Expr::and))
}

fn eq(attr: Attr, value: &str) -> Expr {
    Expr::compare(attr, CompareOp::Eq, Value::String(value.to_owned()))
}

fn element_expr(key: &str, index: u32, element: &Element) -> Result<Expr, String> {
    let mut parts = Vec::new();
    let get = |f: &str| element.get(f).map(String::as_str);
    match key {
        // Both target keys match any of the event's targets (the query model has no
        // positional target attributes).
        "primaryTarget" | "secondaryTarget" => {
            get("id").into_iter().for_each(|v| parts.push(eq(Attr::TargetId, v)));
            get("type").into_iter().for_each(|v| parts.push(eq(Attr::TargetType, v)));
            get("name").into_iter().for_each(|v| parts.push(eq(Attr::TargetName, v)));
        }
        "actor" => {
            get("id").into_iter().for_each(|v| parts.push(eq(Attr::ActorId, v)));
            get("type").into_iter().for_each(|v| parts.push(eq(Attr::ActorType, v)));
            // `actorName` shows the actor's name, or its email when it has none.
            get("name").into_iter().for_each(|v| parts.push(Expr::or(eq(Attr::ActorName, v), eq(Attr::ActorEmail, v))));
        }
        "request" => match (get("resource"), get("action")) {
            (Some(r), Some(a)) => parts.push(eq(Attr::Action, &format!("{r}.{a}"))),
            (Some(r), None) => parts.push(Expr::compare(Attr::Action, CompareOp::Sw, Value::String(format!("{r}.")))),
            (None, Some(a)) => parts.push(Expr::compare(Attr::Action, CompareOp::Ew, Value::String(format!(".{a}")))),
            (None, None) => {}
        },
        _ => {
            let text = get("").unwrap_or_default();
            let code: i64 = text
                .parse()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("{PARAM}.responseCode[{index}] must be an integer from 100 to 599"))?;
            parts.push(Expr::compare(Attr::RequestStatusCode, CompareOp::Eq, Value::Int(code)));
        }
    }
    parts.into_iter().reduce(Expr::and).ok_or_else(|| format!("{PARAM}.{key}[{index}] is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(pairs: &[(&str, &str)]) -> Result<String, String> {
        parse(pairs.iter().copied()).map(|e| e.map(|e| e.to_string()).unwrap_or_default())
    }

    #[test]
    fn documented_example() {
        let got = text(&[
            ("auditLogFilter[primaryTarget][0][type]", "Organization"),
            ("auditLogFilter[primaryTarget][1][type]", "ApiToken"),
            ("auditLogFilter[primaryTarget][1][id]", "575ec8687ae143cd83dc4a97"),
            ("auditLogFilter[actor][0][type]", "User"),
            ("auditLogFilter[actor][0][id]", "575ed70c7ae143cd83dc4aa9"),
        ])
        .expect("valid");
        assert_eq!(
            got,
            "actor.id eq \"575ed70c7ae143cd83dc4aa9\" and actor.type eq \"User\" and (target.type eq \"Organization\" \
             or target.id eq \"575ec8687ae143cd83dc4a97\" and target.type eq \"ApiToken\")"
        );
    }

    #[test]
    fn requests_and_codes() {
        assert_eq!(
            text(&[("auditLogFilter[request][0][resource]", "org"), ("auditLogFilter[request][0][action]", "delete")]),
            Ok("action eq \"org.delete\"".into())
        );
        assert_eq!(
            text(&[("auditLogFilter[responseCode][0]", "200"), ("auditLogFilter[responseCode][1]", "404")]),
            Ok("request.status_code eq 200 or request.status_code eq 404".into())
        );
    }

    #[test]
    fn errors_name_the_field() {
        for (pairs, needle) in [
            (vec![("auditLogFilter[nope][0][id]", "x")], "auditLogFilter.nope is not allowed"),
            (vec![("auditLogFilter[actor][0][email]", "x")], "auditLogFilter.actor[0].email is not allowed"),
            (vec![("auditLogFilter[actor][id]", "x")], "auditLogFilter.actor must be an array"),
            (vec![("auditLogFilter[responseCode][0]", "99")], "responseCode[0] must be an integer"),
            (vec![("auditLogFilter", "x")], "is not a valid"),
        ] {
            let e = text(&pairs).expect_err("invalid");
            assert!(e.contains(needle), "{e}");
        }
    }
}
