//! A OneUptime list request (`query`, `select`, `sort`, `skip`, `limit`) parsed into the
//! query model: plain values (equality), arrays (IN), `null` (IS NULL) and the operator
//! objects `{"_type": "...", ...}` become filter expressions; nothing is filtered here.

use serde_json::{Map, Value as Json};
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Expr, Sort};

use super::columns::{stele_statuses, Column, MODEL, SCIM_PREFIX};

/// Default and largest page size (the documented limits).
pub const DEFAULT_LIMIT: u64 = 10;
pub const MAX_LIMIT: u64 = 100;

/// A message for a 400 `{"error": ...}` answer.
pub type Message = String;

/// JavaScript's `parseInt` of a query-string or body value (`None` for NaN).
fn parse_int(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Json::String(s) => {
            let t = s.trim_start();
            let (sign, digits) = match t.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, t.strip_prefix('+').unwrap_or(t)),
            };
            let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            digits[..end].parse::<i64>().ok().map(|n| sign * n)
        }
        _ => None,
    }
}

/// Whether a value has digits `parse_int` could not hold: a number too large must be
/// refused, not read as NaN (which would silently mean the default).
fn overflows(v: &Json) -> bool {
    match v {
        Json::String(s) => {
            let t = s.trim_start();
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            end > 0 && parse_int(v).is_none()
        }
        Json::Number(n) => n.as_i64().is_none() && n.as_f64().is_some_and(|f| f.abs() >= i64::MAX as f64),
        _ => false,
    }
}

/// `skip` and `limit`: `parseInt(x) || default`, negative refused, `limit` at most 100; a
/// number too large for 64 bits is refused like any other out-of-range one.
pub fn paging(skip: Option<&Json>, limit: Option<&Json>, max_skip: u64) -> Result<(u64, u64), Message> {
    if skip.is_some_and(overflows) {
        return Err(format!("Skip should be less than or equal to {max_skip}"));
    }
    if limit.is_some_and(overflows) {
        return Err(format!("Limit should be less than or equal to {MAX_LIMIT}"));
    }
    let limit = limit.and_then(parse_int).filter(|n| *n != 0).unwrap_or(DEFAULT_LIMIT as i64);
    let skip = skip.and_then(parse_int).unwrap_or(0);
    if limit > MAX_LIMIT as i64 {
        return Err(format!("Limit should be less than or equal to {MAX_LIMIT}"));
    }
    if limit < 0 || skip < 0 {
        return Err("positiveNumber cannot be less than 0".into());
    }
    if skip as u64 > max_skip {
        return Err(format!("Skip should be less than or equal to {max_skip}"));
    }
    Ok((skip as u64, limit as u64))
}

fn column(name: &str) -> Result<Column, Message> {
    Column::parse(name).ok_or_else(|| format!("Invalid column on {MODEL} - {name}. Column does not exist."))
}

/// `select`: the columns to answer; `_id` always. Omitted or empty: only `_id`.
pub fn select(select: Option<&Json>) -> Result<Vec<Column>, Message> {
    let mut out = vec![Column::Id];
    let Some(select) = select.filter(|s| !s.is_null()) else { return Ok(out) };
    let map = select.as_object().ok_or("Invalid select clause. It must be an object.")?;
    for (name, wanted) in map {
        let col = Column::parse(name).ok_or_else(|| format!("Invalid select clause. Cannot select on \"{name}\"."))?;
        if !matches!(wanted, Json::Bool(false) | Json::Null) && !out.contains(&col) {
            out.push(col);
        }
    }
    Ok(out)
}

/// `sort`: one column, `ASC`/`DESC` (any case) or `1`/`-1`. Default `createdAt` descending.
pub fn sort(sort: Option<&Json>) -> Result<Sort, Message> {
    let Some(map) = sort.and_then(Json::as_object).filter(|m| !m.is_empty()) else {
        if sort.is_some_and(|s| !s.is_null() && !s.is_object()) {
            return Err("Invalid sort clause. It must be an object.".into());
        }
        return Ok(Sort::default());
    };
    if map.len() > 1 {
        return Err("Sorting by more than one column is not supported".into());
    }
    let Some((name, order)) = map.iter().next() else { return Ok(Sort::default()) };
    let col = column(name)?;
    let attr = col.sort_attr().ok_or_else(|| format!("Cannot sort on {name}"))?;
    let descending = match order {
        Json::String(s) if s.eq_ignore_ascii_case("desc") || s == "-1" => true,
        Json::String(s) if s.eq_ignore_ascii_case("asc") || s == "1" => false,
        Json::Number(n) if n.as_i64() == Some(-1) => true,
        Json::Number(n) if n.as_i64() == Some(1) => false,
        _ => return Err(format!("Invalid sort order for {name}: use ASC or DESC")),
    };
    Ok(Sort { attr, descending })
}

/// `query`: the AND of a condition per column, after the SCIM log rows
/// (`action sw "scim."`). `project_alias` is the tenant's `projectId`.
pub fn filter(query: Option<&Json>, project_alias: Option<&str>) -> Result<Expr, Message> {
    let mut parts = vec![Expr::compare(Attr::Action, CompareOp::Sw, Value::String(SCIM_PREFIX.into()))];
    if let Some(query) = query.filter(|q| !q.is_null()) {
        let map = query.as_object().ok_or("Invalid query. It must be an object.")?;
        for (name, cond) in map {
            parts.push(condition(column(name)?, cond, project_alias)?);
        }
    }
    Ok(parts.into_iter().reduce(Expr::and).unwrap_or_else(truth))
}

/// The expression that is always true (an empty AND).
fn truth() -> Expr {
    Expr::And(Vec::new())
}

/// The expression that is always false (an empty OR).
fn falsity() -> Expr {
    Expr::Or(Vec::new())
}

/// An operator object's `_type`, if it is one.
fn op_type(v: &Json) -> Option<&str> {
    v.as_object().and_then(|o| o.get("_type")).and_then(Json::as_str)
}

/// A plain value, with OneUptime's typed wrappers (`{"_type":"ObjectID","value":…}`) decoded.
fn plain(v: &Json) -> &Json {
    match (op_type(v), v.get("value")) {
        (Some("ObjectID" | "DateTime" | "Email" | "Name" | "Text" | "Phone" | "URL" | "Domain"), Some(inner)) => inner,
        _ => v,
    }
}

fn condition(col: Column, cond: &Json, alias: Option<&str>) -> Result<Expr, Message> {
    let name = col.name();
    let invalid = |why: &str| format!("Invalid query for {name}: {why}");
    if col == Column::LogBody {
        return Err(invalid("logBody cannot be queried"));
    }
    let ty = op_type(cond);
    let wrapped = matches!(ty, Some("ObjectID" | "DateTime" | "Email" | "Name" | "Text" | "Phone" | "URL" | "Domain"));
    let value = || cond.get("value").ok_or_else(|| invalid("the operator needs a value"));
    let expr = match (cond, ty) {
        (Json::Null, _) => not_present(col, alias),
        (Json::Array(items), _) => any_of(col, items, alias)?,
        (Json::Object(_), None) => return Err(invalid("expected a value or an operator object")),
        (_, None) => cmp(col, CompareOp::Eq, cond, alias)?,
        (_, Some(_)) if wrapped => cmp(col, CompareOp::Eq, plain(cond), alias)?,
        (_, Some("EqualTo")) => cmp(col, CompareOp::Eq, plain(value()?), alias)?,
        (_, Some("NotEqual")) => cmp(col, CompareOp::Ne, plain(value()?), alias)?,
        (_, Some("EqualToOrNull")) => {
            Expr::or(cmp(col, CompareOp::Eq, plain(value()?), alias)?, not_present(col, alias))
        }
        (_, Some("Search")) => cmp(col, CompareOp::Co, plain(value()?), alias)?,
        (_, Some("StartsWith")) => cmp(col, CompareOp::Sw, plain(value()?), alias)?,
        (_, Some("EndsWith")) => cmp(col, CompareOp::Ew, plain(value()?), alias)?,
        (_, Some("NotContains")) => Expr::not(cmp(col, CompareOp::Co, plain(value()?), alias)?),
        (_, Some("GreaterThan")) => cmp(col, CompareOp::Gt, plain(value()?), alias)?,
        (_, Some("GreaterThanOrEqual")) => cmp(col, CompareOp::Ge, plain(value()?), alias)?,
        (_, Some("LessThan")) => cmp(col, CompareOp::Lt, plain(value()?), alias)?,
        (_, Some("LessThanOrEqual")) => cmp(col, CompareOp::Le, plain(value()?), alias)?,
        (_, Some("GreaterThanOrNull")) => {
            Expr::or(cmp(col, CompareOp::Gt, plain(value()?), alias)?, not_present(col, alias))
        }
        (_, Some("LessThanOrNull")) => {
            Expr::or(cmp(col, CompareOp::Lt, plain(value()?), alias)?, not_present(col, alias))
        }
        (_, Some("InBetween")) => {
            let start = cond.get("startValue").ok_or_else(|| invalid("InBetween needs startValue"))?;
            let end = cond.get("endValue").ok_or_else(|| invalid("InBetween needs endValue"))?;
            Expr::and(cmp(col, CompareOp::Ge, plain(start), alias)?, cmp(col, CompareOp::Le, plain(end), alias)?)
        }
        (_, Some("Includes" | "IncludesAll")) => {
            let items = value()?.as_array().ok_or_else(|| invalid("the value must be an array"))?;
            any_of(col, items, alias)?
        }
        (_, Some("IncludesNone")) => {
            let items = value()?.as_array().ok_or_else(|| invalid("the value must be an array"))?;
            Expr::not(any_of(col, items, alias)?)
        }
        (_, Some("IsNull")) => not_present(col, alias),
        (_, Some("NotNull")) => Expr::not(not_present(col, alias)),
        (_, Some(other)) => return Err(invalid(&format!("unknown operator {other}"))),
    };
    expr.checked().map_err(|e| invalid(&e.message))
}

fn any_of(col: Column, items: &[Json], alias: Option<&str>) -> Result<Expr, Message> {
    let parts = items.iter().map(|v| cmp(col, CompareOp::Eq, plain(v), alias)).collect::<Result<Vec<_>, _>>()?;
    Ok(parts.into_iter().reduce(Expr::or).unwrap_or_else(falsity))
}

fn not_present(col: Column, alias: Option<&str>) -> Expr {
    match col.attr() {
        Some(attr) => Expr::not(Expr::Present(attr)),
        None if alias.is_none() => truth(),
        None => falsity(),
    }
}

/// `column op value`, with the column's value translated into the event's terms.
fn cmp(col: Column, op: CompareOp, v: &Json, alias: Option<&str>) -> Result<Expr, Message> {
    let name = col.name();
    let invalid = |why: &str| format!("Invalid query for {name}: {why}");
    let text = || match v {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid("expected a string")),
    };
    match col {
        // One project per tenant: decided here, not per event.
        Column::ProjectId => {
            let given = text()?;
            let same = alias.is_some_and(|a| a.eq_ignore_ascii_case(&given));
            match op {
                CompareOp::Eq => Ok(if same { truth() } else { falsity() }),
                CompareOp::Ne => Ok(if same { falsity() } else { truth() }),
                _ => Err(invalid("projectId supports only equality")),
            }
        }
        Column::Status => {
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(invalid("status supports only equality"));
            }
            let text = text()?;
            let any = stele_statuses(&text)
                .iter()
                .map(|s| Expr::compare(Attr::Status, CompareOp::Eq, Value::String((*s).to_owned())))
                .reduce(Expr::or)
                .unwrap_or_else(falsity);
            Ok(if op == CompareOp::Ne { Expr::not(any) } else { any })
        }
        Column::OperationType => {
            let text = text()?;
            // The operation is the action after `scim.`; a contains or ends-with match needs no prefix.
            let value = if matches!(op, CompareOp::Co | CompareOp::Ew) { text } else { format!("{SCIM_PREFIX}{text}") };
            Ok(Expr::compare(Attr::Action, op, Value::String(value)))
        }
        Column::HttpStatusCode => {
            let n =
                parse_int(v).filter(|_| v.is_number() || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok()));
            let n = n.ok_or_else(|| invalid("expected a number"))?;
            Ok(Expr::compare(Attr::RequestStatusCode, op, Value::Int(n)))
        }
        other => {
            let attr = other.attr().ok_or_else(|| invalid("this column cannot be queried"))?;
            Ok(Expr::compare(attr, op, Value::String(text()?)))
        }
    }
}

/// Reads an optional JSON request body (empty: `{}`).
pub fn body(bytes: &[u8]) -> Result<Map<String, Json>, Message> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Json>(bytes) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err("The request body must be a JSON object".into()),
        Err(_) => Err("The request body is not valid JSON".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(query: Json) -> Result<String, Message> {
        filter(Some(&query), Some("550e8400-e29b-41d4-a716-446655440000")).map(|e| e.to_string())
    }

    #[test]
    fn plain_values_arrays_null_and_operators() {
        assert_eq!(
            text(json!({"operationType": "CreateUser"})),
            Ok("action sw \"scim.\" and action eq \"scim.CreateUser\"".into())
        );
        assert_eq!(
            text(json!({"status": ["Error", "Warning"]})),
            Ok("action sw \"scim.\" and (status eq \"failure\" or status eq \"warning\" or status eq \"pending\")"
                .into())
        );
        assert_eq!(text(json!({"statusMessage": null})), Ok("action sw \"scim.\" and not message pr".into()));
        assert_eq!(
            text(json!({"createdAt": {"_type": "GreaterThan", "value": "2026-08-21T00:00:00.000Z"}})),
            Ok("action sw \"scim.\" and time gt \"2026-08-21T00:00:00.000000Z\"".into())
        );
        assert_eq!(
            text(json!({"statusPageId": {"_type": "ObjectID", "value": "abc"}})),
            Ok("action sw \"scim.\" and context.status_page_id eq \"abc\"".into())
        );
        assert_eq!(
            text(json!({"httpStatusCode": {"_type": "InBetween", "startValue": 400, "endValue": "499"}})),
            Ok("action sw \"scim.\" and request.status_code ge 400 and request.status_code le 499".into())
        );
        assert_eq!(
            text(json!({"projectId": "550E8400-e29b-41d4-a716-446655440000"})),
            Ok("action sw \"scim.\"".into())
        );
    }

    #[test]
    fn errors_name_the_column() {
        for (query, needle) in [
            (json!({"nope": 1}), "Invalid column on Status Page SCIM Log - nope"),
            (json!({"createdAt": "yesterday"}), "Invalid query for createdAt"),
            (json!({"httpStatusCode": "abc"}), "Invalid query for httpStatusCode"),
            (json!({"status": {"_type": "Search", "value": "x"}}), "status supports only equality"),
            (json!({"requestPath": {"_type": "Frobnicate", "value": "x"}}), "unknown operator Frobnicate"),
            (json!({"logBody": "x"}), "logBody cannot be queried"),
        ] {
            let e = text(query).expect_err("invalid");
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let p = |s: Json, l: Json| paging(Some(&s), Some(&l), 1_000_000);
        assert_eq!(paging(None, None, 10), Ok((0, 10)));
        assert_eq!(p(json!("5"), json!("0")), Ok((5, 10)));
        assert_eq!(p(json!(0), json!("20abc")), Ok((0, 20)));
        assert_eq!(p(json!(0), json!(101)), Err("Limit should be less than or equal to 100".into()));
        assert_eq!(p(json!(-1), json!(10)), Err("positiveNumber cannot be less than 0".into()));
    }

    #[test]
    fn select_and_sort() {
        assert_eq!(select(None), Ok(vec![Column::Id]));
        assert_eq!(select(Some(&json!({"status": true}))), Ok(vec![Column::Id, Column::Status]));
        assert!(select(Some(&json!({"password": true}))).is_err());
        assert_eq!(sort(Some(&json!({"createdAt": -1}))).map(|s| s.as_text()), Ok("-time".into()));
        assert_eq!(
            sort(Some(&json!({"httpStatusCode": "asc"}))).map(|s| s.as_text()),
            Ok("request.status_code".into())
        );
        assert!(sort(Some(&json!({"statusPageId": 1}))).is_err());
        assert!(sort(Some(&json!({"createdAt": 1, "status": 1}))).is_err());
    }
}
