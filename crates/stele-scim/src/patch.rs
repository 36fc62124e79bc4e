//! PATCH (RFC 7644 §3.5.2) on a canonical document, with what Okta and Microsoft Entra ID
//! actually send (fixtures in `tests/fixtures/`, sources in `SOURCES.md`).
//!
//! The request is all-or-nothing: operations apply in order to a copy, the result is
//! normalised again ([`crate::resource::normalize`]: types, required attributes, one
//! `primary`) and only then replaces the document. [`PatchEffect`] says what the store and
//! the server must act on: a deactivation (end the member's sessions) and membership changes.
//!
//! # Rules
//!
//! - `schemas` must contain the PatchOp URN and `Operations` must be a non-empty array
//!   (400 `invalidSyntax`). `op` is case-insensitive: Entra sends `Replace`, `Add`, `Remove`.
//! - Paths: `attr`, `attr.sub`, URN-qualified (`urn:...:enterprise:2.0:User:department`), the
//!   extension URN alone (its value is an object of extension attributes), and value paths
//!   `attr[filter]` / `attr[filter].sub`. An unknown attribute is 400 `invalidPath`; a filter
//!   that does not parse is 400 `invalidFilter`.
//! - Without `path`, `add`/`replace` take an object whose keys may be plain, dotted
//!   (`name.givenName`) or URN-qualified, each applied as if it were the path (Entra's
//!   `aadOptscim062020` requests). In that object `schemas`, `id`, `meta` and other readOnly
//!   keys are skipped (Okta's group rename sends `id`), and unknown keys are ignored as in
//!   POST bodies. `remove` without `path` is 400 `noTarget`.
//! - `add` on a multi-valued attribute appends, without duplicates (`members` by `value`,
//!   others by equal value); a new `primary` value clears the others' `primary`. `add` or
//!   `replace` on a complex single value merges sub-attributes (RFC 7644 §3.5.2.3).
//! - `remove` with a `value` array on a multi-valued attribute removes those values (Entra's
//!   `{"op":"Remove","path":"members","value":[{"value":"id"}]}`); a value path that matches
//!   nothing removes nothing (retries stay idempotent).
//! - `replace` (or `add`) on a value path that matches nothing adds a value built from the
//!   filter's equalities (`emails[type eq "work"].value` → `{"type":"work","value":...}`),
//!   which Entra relies on; a filter that is not a conjunction of equalities is 400 `noTarget`.
//! - `remove` of a required attribute (`userName`, Group `displayName`) and any operation
//!   on a readOnly path (`id`, `meta`, `groups`) is 400 `mutability`. `password` is accepted
//!   and discarded, as in POST (Okta syncs passwords by PATCH).
//! - `add`/`replace` with `"value": null` unassigns (RFC 7643 §2.5).

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{parse_value_path, ScimFilter};
use crate::resource::{coerce, coerce_one, container_mut, member_ids, normalize, set_or_remove, user_fields};
use crate::schema::{resolve, split_urn, AttrDef, AttrPath, ResourceKind, Returned};

/// The PatchOp message schema.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What a PATCH changed that Stele must act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchEffect {
    /// The document differs from before.
    pub changed: bool,
    /// A User's `active` went from true (or unassigned) to false: end its sessions.
    pub deactivated: bool,
    /// A User's `active` went from false to true.
    pub reactivated: bool,
    /// Group member ids added, in order.
    pub members_added: Vec<String>,
    /// Group member ids removed, in order.
    pub members_removed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Add,
    Remove,
    Replace,
}

/// One operation of the request, borrowed from it.
struct PatchOp<'a> {
    kind: OpKind,
    path: Option<&'a str>,
    value: Option<&'a Value>,
}

/// A parsed path: the attribute (with its sub-attribute when no filter is given), the
/// value filter, and the sub-attribute after the filter.
struct Target {
    path: AttrPath,
    filter: Option<ScimFilter>,
    sub_after_filter: Option<&'static AttrDef>,
}

/// Applies a PatchOp request to a canonical document (see the module documentation).
pub fn apply_patch(doc: &mut Value, kind: ResourceKind, request: &Value) -> Result<PatchEffect, ScimError> {
    let ops = operations(request)?;
    let mut work = doc.as_object().cloned().unwrap_or_default();
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut work, kind, op).map_err(|mut e| {
            e.detail = format!("Operations[{i}]: {}", e.detail);
            e
        })?;
    }
    let after = normalize(kind, &Value::Object(work))?;
    let mut effect = PatchEffect { changed: after != *doc, ..PatchEffect::default() };
    match kind {
        ResourceKind::User => {
            let (was, is) = (user_fields(doc).active, user_fields(&after).active);
            effect.deactivated = was && !is;
            effect.reactivated = !was && is;
        }
        ResourceKind::Group => {
            let (was, is) = (member_ids(doc), member_ids(&after));
            effect.members_added = is.iter().filter(|id| !was.contains(id)).cloned().collect();
            effect.members_removed = was.iter().filter(|id| !is.contains(id)).cloned().collect();
        }
    }
    *doc = after;
    Ok(effect)
}

/// The operations of a PatchOp request.
fn operations(request: &Value) -> Result<Vec<PatchOp<'_>>, ScimError> {
    let obj = request.as_object().ok_or_else(|| ScimError::invalid_syntax("a PATCH body must be a JSON object"))?;
    let schemas_ok = obj
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_SCHEMA))));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!("schemas must contain {PATCH_SCHEMA}")));
    }
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be a non-empty array"))?;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let bad = |m: &str| ScimError::invalid_syntax(format!("Operations[{i}]: {m}"));
        let op = op.as_object().ok_or_else(|| bad("an operation must be an object"))?;
        let get = |name: &str| op.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let kind = match get("op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => OpKind::Add,
            Some("remove") => OpKind::Remove,
            Some("replace") => OpKind::Replace,
            _ => return Err(bad("op must be add, remove or replace")),
        };
        let path = match get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim()),
            Some(_) => return Err(bad("path must be a string")),
        };
        let value = get("value");
        if kind != OpKind::Remove && value.is_none() {
            return Err(bad("add and replace need a value"));
        }
        out.push(PatchOp { kind, path, value });
    }
    Ok(out)
}

fn apply_op(doc: &mut Map<String, Value>, kind: ResourceKind, op: &PatchOp<'_>) -> Result<(), ScimError> {
    let PatchOp { kind: op, path, value } = op;
    let Some(path) = path else {
        if *op == OpKind::Remove {
            return Err(ScimError::no_target("remove needs a path"));
        }
        return apply_object(doc, kind, *op, value.unwrap_or(&Value::Null));
    };
    if let Some((schema, "")) = split_urn(kind, path) {
        // The extension URN (or the core URN) as the path: its value holds attributes.
        let mut wrapped = Map::new();
        wrapped.insert(schema.id.to_owned(), value.cloned().unwrap_or(Value::Null));
        if *op == OpKind::Remove {
            if schema.is_extension() {
                doc.remove(schema.id);
                return Ok(());
            }
            return Err(ScimError::mutability("the core schema cannot be removed"));
        }
        return apply_object(doc, kind, *op, &Value::Object(wrapped));
    }
    let target = parse_target(kind, path)?;
    if target.path.attr.returned == Returned::Never {
        return Ok(()); // password: accepted, discarded.
    }
    let read_only = |a: &AttrDef| a.is_read_only();
    if read_only(target.path.attr)
        || target.path.sub.is_some_and(read_only)
        || target.sub_after_filter.is_some_and(read_only)
    {
        return Err(ScimError::mutability(format!("{path} is readOnly")));
    }
    apply_target(doc, *op, &target, *value)
}

/// `add`/`replace` without a path: every key of the value object.
fn apply_object(doc: &mut Map<String, Value>, kind: ResourceKind, op: OpKind, value: &Value) -> Result<(), ScimError> {
    let Value::Object(obj) = value else {
        return Err(ScimError::invalid_syntax("without a path, the value must be an object of attributes"));
    };
    for (key, v) in obj {
        if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if let Some((schema, "")) = split_urn(kind, key) {
            let Value::Object(inner) = v else {
                return Err(ScimError::invalid_value(format!("{} must be an object", schema.id)));
            };
            let qualified: Map<String, Value> =
                inner.iter().map(|(k, v)| (format!("{}:{k}", schema.id), v.clone())).collect();
            apply_object(doc, kind, op, &Value::Object(qualified))?;
            continue;
        }
        let Ok(path) = resolve(kind, key) else { continue };
        let skipped = |a: &AttrDef| a.is_read_only() || a.returned == Returned::Never;
        if skipped(path.attr) || path.sub.is_some_and(skipped) {
            continue;
        }
        apply_target(doc, op, &Target { path, filter: None, sub_after_filter: None }, Some(v))?;
    }
    Ok(())
}

fn parse_target(kind: ResourceKind, text: &str) -> Result<Target, ScimError> {
    let Some(open) = text.find('[') else {
        let path = resolve(kind, text).map_err(ScimError::invalid_path)?;
        return Ok(Target { path, filter: None, sub_after_filter: None });
    };
    let attr_text = &text[..open];
    let attr = resolve(kind, attr_text).map_err(ScimError::invalid_path)?;
    if attr.sub.is_some() {
        return Err(ScimError::invalid_path(format!("{attr_text:?} has no values to filter")));
    }
    let close =
        closing_bracket(text, open).ok_or_else(|| ScimError::invalid_filter(format!("no \"]\" in {text:?}")))?;
    let (path, filter) = parse_value_path(kind, &text[..=close])?;
    let rest = &text[close + 1..];
    let sub_after_filter = match rest.strip_prefix('.') {
        None if rest.is_empty() => None,
        None => return Err(ScimError::invalid_path(format!("unexpected {rest:?} after the filter in {text:?}"))),
        Some(name) => Some(
            path.attr
                .sub(name)
                .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute {name:?} in {text:?}")))?,
        ),
    };
    Ok(Target { path, filter: Some(filter), sub_after_filter })
}

/// The byte index of the `]` closing the `[` at `open`, skipping JSON strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i <= open) {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn apply_target(doc: &mut Map<String, Value>, op: OpKind, t: &Target, value: Option<&Value>) -> Result<(), ScimError> {
    let attr = t.path.attr;
    let name = t.path.canonical();
    let Some(holder) = container_mut(doc, &t.path) else { return Ok(()) };
    let value = value.unwrap_or(&Value::Null);
    // A null value unassigns (RFC 7643 §2.5).
    let op = if op != OpKind::Remove && value.is_null() { OpKind::Remove } else { op };

    if let Some(filter) = &t.filter {
        return apply_filtered(holder, op, attr, filter, t.sub_after_filter, value, &name);
    }
    match (t.path.sub, op) {
        (None, OpKind::Remove) => {
            if attr.required {
                return Err(ScimError::mutability(format!("{name} is required and cannot be removed")));
            }
            match (attr.multi_valued, value) {
                (true, Value::Array(_) | Value::Object(_)) => {
                    let gone = coerce(attr, value, &name)?.and_then(|v| v.as_array().cloned()).unwrap_or_default();
                    let mut items = take_array(holder, attr.name);
                    items.retain(|item| !gone.iter().any(|g| same_value(attr, item, g)));
                    put_array(holder, attr.name, items);
                }
                _ => {
                    holder.remove(attr.name);
                }
            }
        }
        (None, op) => {
            let Some(new) = coerce(attr, value, &name)? else { return Ok(()) };
            if attr.multi_valued && op == OpKind::Add {
                let mut items = take_array(holder, attr.name);
                for item in new.as_array().cloned().unwrap_or_default() {
                    if items.iter().any(|x| same_value(attr, x, &item)) {
                        continue;
                    }
                    if item.get("primary") == Some(&Value::Bool(true)) {
                        clear_primary(&mut items);
                    }
                    items.push(item);
                }
                put_array(holder, attr.name, items);
            } else if attr.sub_attributes.is_empty() || attr.multi_valued {
                holder.insert(attr.name.to_owned(), new);
            } else {
                let mut obj = take_object(holder, attr.name);
                obj.extend(new.as_object().cloned().unwrap_or_default());
                put_object(holder, attr.name, obj);
            }
        }
        (Some(sub), op) => {
            let v = if op == OpKind::Remove { None } else { coerce_one(sub, value, &name)? };
            if attr.multi_valued {
                let mut items = take_array(holder, attr.name);
                if items.is_empty() && v.is_some() {
                    items.push(Value::Object(Map::new()));
                }
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    set_or_remove(item, sub.name, v.clone());
                }
                put_array(holder, attr.name, items);
            } else {
                let mut obj = take_object(holder, attr.name);
                set_or_remove(&mut obj, sub.name, v);
                put_object(holder, attr.name, obj);
            }
        }
    }
    Ok(())
}

fn apply_filtered(
    holder: &mut Map<String, Value>,
    op: OpKind,
    attr: &'static AttrDef,
    filter: &ScimFilter,
    sub: Option<&'static AttrDef>,
    value: &Value,
    name: &str,
) -> Result<(), ScimError> {
    let new_sub = match (sub, op) {
        (Some(sub), OpKind::Add | OpKind::Replace) => coerce_one(sub, value, &format!("{name}.{}", sub.name))?,
        _ => None,
    };
    let new_item = match (sub, op) {
        (None, OpKind::Add | OpKind::Replace) => coerce_one(attr, value, name)?,
        _ => None,
    };
    let mut items = take_array(holder, attr.name);
    let mut matched = 0;
    for item in items.iter_mut() {
        if !filter.matches_element(item) {
            continue;
        }
        matched += 1;
        match (op, sub) {
            (OpKind::Remove, None) => *item = Value::Null,
            (OpKind::Remove, Some(sub)) => {
                if let Some(m) = item.as_object_mut() {
                    m.remove(sub.name);
                }
            }
            (_, Some(sub)) => {
                if let Some(m) = item.as_object_mut() {
                    set_or_remove(m, sub.name, new_sub.clone());
                }
            }
            (OpKind::Replace, None) => *item = new_item.clone().unwrap_or(Value::Null),
            (_, None) => {
                if let (Some(m), Some(Value::Object(new))) = (item.as_object_mut(), &new_item) {
                    m.extend(new.clone());
                }
            }
        }
    }
    if matched == 0 && op != OpKind::Remove {
        let Some(mut fresh) = filter.as_new_value() else {
            put_array(holder, attr.name, items);
            return Err(ScimError::no_target(format!("no value of {name} matches the filter")));
        };
        match (sub, &new_sub, &new_item) {
            (Some(sub), Some(v), _) => {
                fresh.insert(sub.name.to_owned(), v.clone());
            }
            (None, _, Some(Value::Object(new))) => fresh.extend(new.clone()),
            _ => {}
        }
        items.push(Value::Object(fresh));
    }
    put_array(holder, attr.name, items);
    Ok(())
}

/// Whether two values of a multi-valued attribute are the same value: by `value` when the
/// attribute's `value` is case-exact (group members), else by equal JSON.
fn same_value(attr: &AttrDef, a: &Value, b: &Value) -> bool {
    match attr.value_sub() {
        Some(v) if v.case_exact => a.get("value").is_some() && a.get("value") == b.get("value"),
        Some(_) if a.as_object().is_some_and(|m| m.len() == 1) || b.as_object().is_some_and(|m| m.len() == 1) => {
            // A bare `{"value": x}` names the value whatever its other sub-attributes.
            let fold = |v: &Value| v.get("value").and_then(Value::as_str).map(str::to_lowercase);
            fold(a).is_some() && fold(a) == fold(b)
        }
        _ => a == b,
    }
}

fn clear_primary(items: &mut [Value]) {
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        item.remove("primary");
    }
}

/// Takes a multi-valued attribute out of its holder (an empty list if unassigned); put it
/// back with [`put_array`].
fn take_array(holder: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match holder.remove(key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// Puts a multi-valued attribute back, dropping empty values and unassigning an empty list.
fn put_array(holder: &mut Map<String, Value>, key: &str, mut items: Vec<Value>) {
    items.retain(|i| !i.is_null() && i.as_object().is_none_or(|m| !m.is_empty()));
    if !items.is_empty() {
        holder.insert(key.to_owned(), Value::Array(items));
    }
}

/// Takes a complex attribute out of its holder (empty if unassigned); put it back with
/// [`put_object`].
fn take_object(holder: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match holder.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn put_object(holder: &mut Map<String, Value>, key: &str, m: Map<String, Value>) {
    if !m.is_empty() {
        holder.insert(key.to_owned(), Value::Object(m));
    }
}
