//! Attribute definitions (RFC 7643 §2, §7) and name resolution.
//!
//! The definitions in `defs.rs` are the single source of truth: resource normalisation,
//! PATCH, filters, projection and the discovery documents (`/Schemas`, `/ResourceTypes`) all
//! read them, so an attribute's type, `caseExact`, `mutability` and `returned` cannot
//! disagree between what Stele advertises and what it does.
//!
//! Names are case-insensitive (RFC 7643 §2.1) and may be URN-qualified
//! (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, RFC 7644
//! §3.10). Resolution strips a schema URN of the resource type first (URNs contain dots, as
//! in `2.0`), then splits `attr.subAttr`. The common attributes `id`, `externalId` and `meta`
//! (RFC 7643 §3.1) resolve under the core schema but are not listed in `/Schemas`, as in the
//! RFC's own schema representation (§8.7.1).

mod defs;

pub use defs::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

/// The two resource types Stele serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

/// RFC 7643 §2.2 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// RFC 7643 §2.2 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// RFC 7643 §2.2 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub sub_attributes: &'static [AttrDef],
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
}

/// A schema: its URN, name and attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl AttrDef {
    /// The sub-attribute called `name` (case-insensitive).
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// A complex attribute with a `value` sub-attribute (emails, members, manager...), to
    /// which a bare scalar or a filter without sub-attribute refers.
    pub fn value_sub(&self) -> Option<&'static AttrDef> {
        if self.ty == AttrType::Complex {
            self.sub("value")
        } else {
            None
        }
    }

    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

impl SchemaDef {
    /// The attribute called `name` (case-insensitive).
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether this is an extension schema (its attributes live under its URN key).
    pub fn is_extension(&self) -> bool {
        self.id == ENTERPRISE_USER_SCHEMA.id
    }
}

impl ResourceKind {
    /// `User` / `Group`, the resource type name and `meta.resourceType`.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// `/Users` / `/Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }

    /// The core schema.
    pub fn core_schema(self) -> &'static SchemaDef {
        match self {
            ResourceKind::User => &USER_SCHEMA,
            ResourceKind::Group => &GROUP_SCHEMA,
        }
    }

    /// The extension schemas of the resource type (none are required).
    pub fn extensions(self) -> &'static [&'static SchemaDef] {
        match self {
            ResourceKind::User => &[&ENTERPRISE_USER_SCHEMA],
            ResourceKind::Group => &[],
        }
    }

    /// The extension schema with this URN (case-insensitive).
    pub fn extension(self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions().iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// A core or common attribute by name (case-insensitive).
    pub fn core_attr(self, name: &str) -> Option<&'static AttrDef> {
        self.core_schema().attr(name).or_else(|| defs::COMMON.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }
}

/// An attribute path resolved against the schemas: `[urn:]attr[.sub]`.
#[derive(Debug, Clone, Copy)]
pub struct AttrPath {
    /// The schema holding the attribute (the core schema for common attributes).
    pub schema: &'static SchemaDef,
    pub attr: &'static AttrDef,
    pub sub: Option<&'static AttrDef>,
}

impl PartialEq for AttrPath {
    fn eq(&self, other: &Self) -> bool {
        self.schema.id == other.schema.id
            && self.attr.name == other.attr.name
            && self.sub.map(|s| s.name) == other.sub.map(|s| s.name)
    }
}

impl AttrPath {
    /// The definition of what the path names: the sub-attribute if any, else the attribute.
    pub fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }

    /// Whether the attribute lives under the schema's URN key in a resource.
    pub fn in_extension(&self) -> bool {
        self.schema.is_extension()
    }

    /// The canonical spelling: `name.givenName`, `urn:...:User:department`.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if self.in_extension() {
            out.push_str(self.schema.id);
            out.push(':');
        }
        out.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            out.push('.');
            out.push_str(sub.name);
        }
        out
    }

    /// Whether the path names exactly `name` of the core schema (or a common attribute),
    /// without sub-attribute.
    pub fn is_core(&self, name: &str) -> bool {
        !self.in_extension() && self.sub.is_none() && self.attr.name == name
    }
}

/// Splits a leading schema URN of `kind` off `path` (case-insensitive): the schema and what
/// follows the `:` (empty when the path is the URN itself).
pub fn split_urn(kind: ResourceKind, path: &str) -> Option<(&'static SchemaDef, &str)> {
    let schemas = std::iter::once(kind.core_schema()).chain(kind.extensions().iter().copied());
    for schema in schemas {
        let n = schema.id.len();
        let Some(head) = path.get(..n) else { continue };
        if !head.eq_ignore_ascii_case(schema.id) {
            continue;
        }
        match path.get(n..) {
            Some("") => return Some((schema, "")),
            Some(rest) if rest.starts_with(':') => return Some((schema, &rest[1..])),
            _ => {}
        }
    }
    None
}

/// Resolves `[urn:]attr[.sub]` for `kind`; the error names the path.
pub fn resolve(kind: ResourceKind, path: &str) -> Result<AttrPath, String> {
    let unknown = || format!("unknown attribute {path:?}");
    let (schema, rest) = match split_urn(kind, path) {
        Some((_, "")) => return Err(format!("{path:?} is a schema, not an attribute")),
        Some((schema, rest)) => (Some(schema), rest),
        None => (None, path),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let (schema, attr) = match schema {
        Some(s) if s.is_extension() => (s, s.attr(name).ok_or_else(unknown)?),
        _ => (kind.core_schema(), kind.core_attr(name).ok_or_else(unknown)?),
    };
    let sub = match sub {
        None => None,
        Some(sub) => Some(attr.sub(sub).ok_or_else(unknown)?),
    };
    Ok(AttrPath { schema, attr, sub })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_case_insensitively_and_with_urns() {
        let cases = [
            ("userName", "userName"),
            ("USERNAME", "userName"),
            ("name.familyname", "name.familyName"),
            ("urn:ietf:params:scim:schemas:core:2.0:User:userName", "userName"),
            ("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.givenName", "name.givenName"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
            ),
            ("meta.lastModified", "meta.lastModified"),
            ("emails.value", "emails.value"),
            ("groups.$ref", "groups.$ref"),
        ];
        for (text, canonical) in cases {
            let path = resolve(ResourceKind::User, text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(path.canonical(), canonical, "{text}");
        }
        for bad in ["nope", "name.nope", "employeeNumber", "urn:ietf:params:scim:schemas:core:2.0:Group:displayName"] {
            assert!(resolve(ResourceKind::User, bad).is_err(), "{bad}");
        }
        assert_eq!(resolve(ResourceKind::Group, "members.value").map(|p| p.canonical()), Ok("members.value".into()));
    }
}
