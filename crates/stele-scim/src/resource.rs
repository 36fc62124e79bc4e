//! User and Group documents: normalising what clients send (POST, PUT, and every PATCH
//! result), the columns the store indexes, rendering the full SCIM resource, and versions.
//!
//! # The canonical document
//!
//! A JSON object holding only attributes Stele defines, spelled as the schema spells them
//! (`username` → `userName`), with extension attributes under their schema URN key, plus
//! `schemas` (the core URN and the URNs of extensions present). It never holds `id`, `meta`,
//! `groups` or `password`: those are the store's (id, times, version, memberships) or
//! discarded. The store keeps this document as is and gives it back to [`render_user`] /
//! [`render_group`] and to [`crate::patch::apply_patch`].
//!
//! # Leniency (what Okta and Entra send, see `tests/fixtures/SOURCES.md`)
//!
//! - `schemas` missing entirely is accepted (a body is typed by its endpoint). When present
//!   it must be an array of strings containing the core URN (else 400 `invalidSyntax`);
//!   other URNs in it are ignored (Entra's create-group request lists a Microsoft-specific one).
//! - Attribute names are matched case-insensitively; unknown attributes (`roles`,
//!   `addresses`, custom ones) are ignored, not refused, so a client with a richer mapping
//!   keeps provisioning what Stele does keep.
//! - readOnly attributes (`id`, `meta`, `groups`, `members.display`) are dropped silently:
//!   Okta's PUT echoes `id`, `meta` and `groups`.
//! - `password` is accepted and discarded (RFC 7643 §4.1.1 allows a provider not to keep it).
//! - Booleans given as strings `"True"`/`"false"` (any case) are booleans: Entra without
//!   the `aadOptscim062020` flag sends `"active": "False"`.
//! - `null` and empty arrays mean "unassigned" (RFC 7643 §2.5) and are dropped.
//! - A scalar given for a complex attribute with a `value` sub-attribute is that `value`
//!   (Entra sends `manager` as the manager's id).
//! - A single object given for a multi-valued attribute is a one-element array.
//!
//! Everything else is type-checked: a wrong type is 400 `invalidValue` naming the attribute,
//! as is a missing required attribute (`userName`, Group `displayName`) or more than one
//! `primary` value.

use serde_json::{Map, Value};
use stele_core::Timestamp;

use crate::error::ScimError;
use crate::schema::{resolve, split_urn, AttrDef, AttrPath, AttrType, Mutability, ResourceKind, Returned};

/// Normalises a POST/PUT body (or a patched document) into the canonical document.
pub fn normalize(kind: ResourceKind, body: &Value) -> Result<Value, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(format!("a {} must be a JSON object", kind.name())));
    };
    check_schemas(kind, obj.get("schemas"))?;
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        match split_urn(kind, key) {
            Some((schema, "")) if schema.is_extension() => {
                let ext = match value {
                    Value::Null => continue,
                    Value::Object(ext) => ext,
                    _ => return Err(ScimError::invalid_value(format!("{} must be an object", schema.id))),
                };
                for (name, v) in ext {
                    if let Ok(path) = resolve(kind, &format!("{}:{name}", schema.id)) {
                        put(&mut out, &path, v)?;
                    }
                }
            }
            Some((_, "")) => {}
            _ => {
                if let Ok(path) = resolve(kind, key) {
                    put(&mut out, &path, value)?;
                }
            }
        }
    }
    finish(kind, out)
}

/// Checks the rules that hold for every canonical document and sets `schemas`.
fn finish(kind: ResourceKind, mut out: Map<String, Value>) -> Result<Value, ScimError> {
    for attr in kind.core_schema().attributes.iter().filter(|a| a.required) {
        let present = match out.get(attr.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(v) => !v.is_null(),
            None => false,
        };
        if !present {
            return Err(ScimError::invalid_value(format!("{} is required", attr.name)));
        }
    }
    let mut schemas = vec![Value::String(kind.core_schema().id.into())];
    for ext in kind.extensions() {
        match out.get(ext.id) {
            Some(Value::Object(m)) if !m.is_empty() => schemas.push(Value::String(ext.id.into())),
            Some(_) => {
                out.remove(ext.id);
            }
            None => {}
        }
    }
    for (name, value) in &out {
        check_primary(name, value)?;
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(Value::Object(out))
}

fn check_primary(name: &str, value: &Value) -> Result<(), ScimError> {
    let Value::Array(items) = value else { return Ok(()) };
    let primaries = items.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!("at most one of {name} may be primary")));
    }
    Ok(())
}

fn check_schemas(kind: ResourceKind, schemas: Option<&Value>) -> Result<(), ScimError> {
    let core = kind.core_schema().id;
    let Some(schemas) = schemas else { return Ok(()) };
    let ok = match schemas {
        Value::Array(items) => {
            items.iter().all(Value::is_string)
                && items.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(core)))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax(format!("schemas must be an array of schema URNs including {core}")))
    }
}

/// Whether a client may write the attribute a path names (readOnly and the discarded
/// `password` are skipped by normalisation and refused by PATCH paths).
pub(crate) fn writable(path: &AttrPath) -> bool {
    let discarded = |a: &AttrDef| a.is_read_only() || a.returned == Returned::Never;
    !discarded(path.attr) && !path.sub.is_some_and(discarded)
}

/// Sets one attribute of a canonical document from client JSON (replacing what was there).
fn put(out: &mut Map<String, Value>, path: &AttrPath, value: &Value) -> Result<(), ScimError> {
    if !writable(path) {
        return Ok(());
    }
    let name = path.canonical();
    let coerced = match path.sub {
        None => coerce(path.attr, value, &name)?,
        Some(sub) if path.attr.multi_valued => {
            // `emails.type` as a key: set on every element.
            let v = coerce(sub, value, &name)?;
            let Some(target) = container_mut(out, path) else { return Ok(()) };
            if let Some(Value::Array(items)) = target.get_mut(path.attr.name) {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    set_or_remove(item, sub.name, v.clone());
                }
            }
            return Ok(());
        }
        Some(sub) => {
            let v = coerce(sub, value, &name)?;
            let Some(target) = container_mut(out, path) else { return Ok(()) };
            let entry = target.entry(path.attr.name).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Some(m) = entry.as_object_mut() {
                set_or_remove(m, sub.name, v);
                if m.is_empty() {
                    target.remove(path.attr.name);
                }
            }
            return Ok(());
        }
    };
    if let Some(target) = container_mut(out, path) {
        set_or_remove(target, path.attr.name, coerced);
    }
    Ok(())
}

pub(crate) fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            map.insert(key.to_owned(), v);
        }
        None => {
            map.remove(key);
        }
    }
}

/// The object holding a path's attribute: the document, or its extension's URN object
/// (created, or made an object, if needed). `None` never happens in practice; it keeps the
/// code free of panics.
pub(crate) fn container_mut<'a>(
    doc: &'a mut Map<String, Value>,
    path: &AttrPath,
) -> Option<&'a mut Map<String, Value>> {
    if !path.in_extension() {
        return Some(doc);
    }
    let entry = doc.entry(path.schema.id).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// The object holding a path's attribute, if any.
pub(crate) fn container<'a>(doc: &'a Value, path: &AttrPath) -> Option<&'a Map<String, Value>> {
    if path.in_extension() {
        get_ci(doc, path.schema.id)?.as_object()
    } else {
        doc.as_object()
    }
}

/// A member of an object by name, case-insensitively (exact spelling first).
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let m = v.as_object()?;
    m.get(key).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Coerces client JSON for an attribute into its canonical form; `None` for unassigned.
pub(crate) fn coerce(def: &AttrDef, value: &Value, name: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_one(def, item, name)? {
                out.push(v);
            }
        }
        return Ok(if out.is_empty() { None } else { Some(Value::Array(out)) });
    }
    coerce_one(def, value, name)
}

/// Coerces one value (an element of a multi-valued attribute, or a single value).
pub(crate) fn coerce_one(def: &AttrDef, value: &Value, name: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| ScimError::invalid_value(format!("{name} must be {what}"));
    Ok(Some(match (def.ty, value) {
        (_, Value::Null) => return Ok(None),
        (AttrType::Complex, Value::Object(m)) => {
            let mut out = Map::new();
            for (k, v) in m {
                let Some(sub) = def.sub(k) else { continue };
                if sub.mutability == Mutability::ReadOnly && def.mutability != Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = coerce_one(sub, v, &format!("{name}.{}", sub.name))? {
                    out.insert(sub.name.into(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        (AttrType::Complex, scalar) if !scalar.is_array() && !scalar.is_object() => match def.value_sub() {
            Some(sub) => {
                let Some(v) = coerce_one(sub, scalar, &format!("{name}.value"))? else { return Ok(None) };
                let mut out = Map::new();
                out.insert("value".into(), v);
                Value::Object(out)
            }
            None => return Err(wrong("an object")),
        },
        (AttrType::Complex, _) => return Err(wrong("an object")),
        (AttrType::Boolean, Value::Bool(b)) => Value::Bool(*b),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (AttrType::Boolean, _) => return Err(wrong("a boolean")),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => Value::String(s.clone()),
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => return Err(wrong("a string")),
        (AttrType::DateTime, Value::String(s)) if Timestamp::parse(s).is_ok() => Value::String(s.clone()),
        (AttrType::DateTime, _) => return Err(wrong("an RFC 3339 date-time string")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
        (AttrType::Integer, _) => return Err(wrong("an integer")),
        (AttrType::Decimal, Value::Number(n)) => Value::Number(n.clone()),
        (AttrType::Decimal, _) => return Err(wrong("a number")),
    }))
}

/// The User columns the store indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// The primary email's value, else the first email's.
    pub primary_email: Option<String>,
    /// `active`, true when unassigned.
    pub active: bool,
}

/// The Group columns the store indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFields {
    pub display_name: String,
    pub external_id: Option<String>,
    /// `members[].value`, each once, in document order.
    pub member_ids: Vec<String>,
}

fn str_of(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The indexed columns of a canonical User document.
pub fn user_fields(doc: &Value) -> UserFields {
    let emails = doc.get("emails").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let primary = emails.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or_else(|| emails.first());
    UserFields {
        user_name: str_of(doc, "userName").unwrap_or_default(),
        external_id: str_of(doc, "externalId"),
        display_name: str_of(doc, "displayName"),
        primary_email: primary.and_then(|e| str_of(e, "value")),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
    }
}

/// The indexed columns of a canonical Group document.
pub fn group_fields(doc: &Value) -> GroupFields {
    GroupFields {
        display_name: str_of(doc, "displayName").unwrap_or_default(),
        external_id: str_of(doc, "externalId"),
        member_ids: member_ids(doc),
    }
}

/// `members[].value` of a Group document, each once, in order.
pub fn member_ids(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in doc.get("members").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        if let Some(v) = m.get("value").and_then(Value::as_str) {
            if !out.iter().any(|x| x == v) {
                out.push(v.to_owned());
            }
        }
    }
    out
}

/// What the store knows about a resource beyond its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub id: String,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    /// Incremented by every change; served as the weak ETag `W/"<version>"`.
    pub version: u64,
    /// The resource's absolute URL (`meta.location`, and the `Location` header on create).
    pub location: String,
}

/// A group a user belongs to (`groups` of a User).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub value: String,
    pub display: Option<String>,
    /// The group's URL, for `$ref`.
    pub location: Option<String>,
}

/// What a group member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    User,
    Group,
}

/// A member of a group (`members` of a Group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    pub display: Option<String>,
    pub kind: MemberKind,
    /// The member's URL, for `$ref`.
    pub location: Option<String>,
}

/// The full User resource: the document with `schemas`, `id`, `meta` and `groups` (omitted
/// when the user is in no group).
pub fn render_user(doc: &Value, meta: &Meta, groups: &[GroupRef]) -> Value {
    let refs: Vec<Value> = groups
        .iter()
        .map(|g| reference_json(&g.value, g.display.as_deref(), "direct", g.location.as_deref()))
        .collect();
    let groups = if refs.is_empty() { None } else { Some(Value::Array(refs)) };
    render(ResourceKind::User, doc, meta, "groups", groups)
}

/// The full Group resource: the document with `schemas`, `id`, `meta` and `members` (always
/// present, `[]` for none, as Entra's examples show).
pub fn render_group(doc: &Value, meta: &Meta, members: &[MemberRef]) -> Value {
    let refs: Vec<Value> = members
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MemberKind::User => "User",
                MemberKind::Group => "Group",
            };
            reference_json(&m.value, m.display.as_deref(), kind, m.location.as_deref())
        })
        .collect();
    render(ResourceKind::Group, doc, meta, "members", Some(Value::Array(refs)))
}

fn reference_json(value: &str, display: Option<&str>, kind: &str, location: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), Value::String(value.into()));
    if let Some(l) = location {
        m.insert("$ref".into(), Value::String(l.into()));
    }
    if let Some(d) = display {
        m.insert("display".into(), Value::String(d.into()));
    }
    m.insert("type".into(), Value::String(kind.into()));
    Value::Object(m)
}

fn render(kind: ResourceKind, doc: &Value, meta: &Meta, refs_key: &str, refs: Option<Value>) -> Value {
    let mut out = doc.as_object().cloned().unwrap_or_default();
    for k in ["schemas", "id", "meta", "password", refs_key] {
        out.remove(k);
    }
    let mut schemas = vec![Value::String(kind.core_schema().id.into())];
    for ext in kind.extensions() {
        if out.get(ext.id).and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
            schemas.push(Value::String(ext.id.into()));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(meta.id.clone()));
    if let Some(refs) = refs {
        out.insert(refs_key.into(), refs);
    }
    let mut m = Map::new();
    m.insert("resourceType".into(), Value::String(kind.name().into()));
    m.insert("created".into(), Value::String(meta.created.to_string()));
    m.insert("lastModified".into(), Value::String(meta.last_modified.to_string()));
    m.insert("version".into(), Value::String(etag(meta.version)));
    m.insert("location".into(), Value::String(meta.location.clone()));
    out.insert("meta".into(), Value::Object(m));
    Value::Object(out)
}

/// The weak ETag of a version: `W/"<version>"` (also `meta.version`).
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// An `If-Match` header (or a Bulk operation's `version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// The versions listed, strong (`"3"`) or weak (`W/"3"`) alike (a weak comparison, which
    /// is what a version counter supports). Tags Stele cannot have issued are left out, so
    /// they never match.
    Versions(Vec<u64>),
}

/// Parses an `If-Match` value: `*`, or a comma-separated list of entity tags.
pub fn parse_if_match(header: &str) -> IfMatch {
    let mut versions = Vec::new();
    for tag in header.split(',').map(str::trim) {
        if tag == "*" {
            return IfMatch::Any;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
        if let Ok(v) = tag.parse::<u64>() {
            versions.push(v);
        }
    }
    IfMatch::Versions(versions)
}

impl IfMatch {
    /// Whether the current version satisfies the condition.
    pub fn allows(&self, current: u64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Versions(v) => v.contains(&current),
        }
    }

    /// 412 unless the current version satisfies the condition (RFC 7644 §3.14).
    pub fn check(&self, current: u64) -> Result<(), ScimError> {
        if self.allows(current) {
            Ok(())
        } else {
            Err(ScimError::precondition_failed(format!("the resource has changed: its version is {}", etag(current))))
        }
    }
}
