//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) on a rendered resource.
//!
//! With `attributes`, only the named attributes are returned, plus those `returned: always`
//! (`id`) and `schemas`; with `excludedAttributes`, everything but the named ones (never
//! `id`). Names are case-insensitive and may be sub-attribute paths (`name.givenName`,
//! `emails.value`: the other sub-attributes are left out) or URN-qualified; an extension URN
//! alone names the whole extension. Unknown names are ignored rather than refused, as the
//! RFC leaves that open and a list of names is not worth failing a read over. `returned:
//! never` (`password`) is never returned; Stele does not store it anyway. Entra reads
//! groups with `excludedAttributes=members`.

use serde_json::{Map, Value};

use crate::resource::get_ci;
use crate::schema::{resolve, split_urn, AttrPath, ResourceKind, Returned, SchemaDef};

enum Selector {
    /// A schema URN alone: all of its attributes.
    Schema(&'static SchemaDef),
    Attr(AttrPath),
}

fn selector(kind: ResourceKind, name: &str) -> Option<Selector> {
    match split_urn(kind, name) {
        Some((schema, "")) => Some(Selector::Schema(schema)),
        _ => resolve(kind, name).ok().map(Selector::Attr),
    }
}

/// The resource with only the requested attributes (see the module documentation).
pub fn project(resource: &Value, kind: ResourceKind, attributes: &[String], excluded: &[String]) -> Value {
    let Some(src) = resource.as_object() else { return resource.clone() };
    let mut out = if attributes.is_empty() { src.clone() } else { included(src, kind, attributes) };
    if attributes.is_empty() {
        for sel in excluded.iter().filter_map(|n| selector(kind, n)) {
            exclude(&mut out, sel);
        }
    }
    out.remove("password");
    out.retain(|k, v| kind.extension(k).is_none() || v.as_object().is_some_and(|m| !m.is_empty()));
    // `schemas` lists only the extensions still present.
    let present: Vec<&str> = kind.extensions().iter().map(|s| s.id).filter(|id| out.contains_key(*id)).collect();
    if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
        schemas.retain(|s| {
            s.as_str().is_some_and(|s| kind.extension(s).is_none() || present.iter().any(|p| p.eq_ignore_ascii_case(s)))
        });
    }
    Value::Object(out)
}

fn included(src: &Map<String, Value>, kind: ResourceKind, attributes: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for key in ["schemas", "id"] {
        if let Some(v) = src.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    for sel in attributes.iter().filter_map(|n| selector(kind, n)) {
        match sel {
            Selector::Schema(schema) if schema.is_extension() => {
                if let Some(v) = src.get(schema.id) {
                    out.insert(schema.id.into(), v.clone());
                }
            }
            Selector::Schema(schema) => {
                for a in schema.attributes {
                    if let Some(v) = src.get(a.name) {
                        out.insert(a.name.into(), v.clone());
                    }
                }
            }
            Selector::Attr(path) => include_path(&mut out, src, &path),
        }
    }
    out
}

fn include_path(out: &mut Map<String, Value>, src: &Map<String, Value>, path: &AttrPath) {
    if path.attr.returned == Returned::Never {
        return;
    }
    let (from, to) = if path.in_extension() {
        let Some(Value::Object(ext)) = src.get(path.schema.id) else { return };
        let entry = out.entry(path.schema.id).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(to) = entry else { return };
        (ext, to)
    } else {
        (src, out)
    };
    let Some(value) = get_ci(&Value::Object(from.clone()), path.attr.name).cloned() else { return };
    let Some(sub) = path.sub else {
        to.insert(path.attr.name.into(), value);
        return;
    };
    let only_sub = |v: &Value| -> Option<Value> {
        let s = get_ci(v, sub.name)?;
        let mut m = Map::new();
        m.insert(sub.name.into(), s.clone());
        Some(Value::Object(m))
    };
    let picked = match &value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(only_sub).collect();
            if kept.is_empty() {
                return;
            }
            Value::Array(kept)
        }
        v => match only_sub(v) {
            Some(p) => p,
            None => return,
        },
    };
    match (to.get_mut(path.attr.name), picked) {
        // The whole attribute is already there: keep it.
        (Some(existing), _) if !existing.is_object() && !existing.is_array() => {}
        (Some(Value::Object(have)), Value::Object(new)) => have.extend(new),
        (Some(Value::Array(have)), Value::Array(new)) if have.len() == new.len() => {
            for (h, n) in have.iter_mut().zip(new) {
                if let (Value::Object(h), Value::Object(n)) = (h, n) {
                    h.extend(n);
                }
            }
        }
        (Some(_), _) => {}
        (None, picked) => {
            to.insert(path.attr.name.into(), picked);
        }
    }
}

fn exclude(out: &mut Map<String, Value>, sel: Selector) {
    let path = match sel {
        Selector::Schema(schema) if schema.is_extension() => {
            out.remove(schema.id);
            return;
        }
        Selector::Schema(_) => return,
        Selector::Attr(path) => path,
    };
    if path.attr.returned == Returned::Always {
        return;
    }
    let holder = if path.in_extension() {
        match out.get_mut(path.schema.id) {
            Some(Value::Object(m)) => m,
            _ => return,
        }
    } else {
        out
    };
    let key = holder.keys().find(|k| k.eq_ignore_ascii_case(path.attr.name)).cloned();
    let Some(key) = key else { return };
    let Some(sub) = path.sub else {
        holder.remove(&key);
        return;
    };
    match holder.get_mut(&key) {
        Some(Value::Array(items)) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
            }
        }
        Some(Value::Object(m)) => m.retain(|k, _| !k.eq_ignore_ascii_case(sub.name)),
        _ => {}
    }
}
