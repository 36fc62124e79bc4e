//! The attribute definitions Stele serves: RFC 7643 §4.1 (User), §4.2 (Group), §4.3
//! (Enterprise User) and the common attributes of §3.1, written with `const` builders so
//! each line reads like the RFC's schema representation (§8.7.1).
//!
//! Left out on purpose: `addresses`, `ims`, `photos`, `entitlements`, `roles` and
//! `x509Certificates`. Stele keeps directory members for sign-in and audit, not profiles;
//! what a client sends for them is ignored like any unknown attribute.
//!
//! `password` is defined (writeOnly, returned never) so clients that send it (Okta does on
//! create) are accepted, but its value is discarded by normalisation: Stele members sign
//! in with their own password or SSO, and the audit log service never holds a copy of a
//! directory password.

use super::{AttrDef, AttrType, Mutability, Returned, SchemaDef, Uniqueness};

const fn attr(name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        sub_attributes: &[],
        canonical_values: &[],
        reference_types: &[],
        description: "",
    }
}

const fn string(name: &'static str) -> AttrDef {
    attr(name, AttrType::String)
}

const fn boolean(name: &'static str) -> AttrDef {
    attr(name, AttrType::Boolean)
}

const fn reference(name: &'static str, types: &'static [&'static str]) -> AttrDef {
    attr(name, AttrType::Reference).case_exact().types(types)
}

const fn complex(name: &'static str, subs: &'static [AttrDef]) -> AttrDef {
    let mut a = attr(name, AttrType::Complex);
    a.sub_attributes = subs;
    a
}

impl AttrDef {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn types(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    const fn doc(mut self, d: &'static str) -> Self {
        self.description = d;
        self
    }
}

/// `id`, `externalId`, `meta` (RFC 7643 §3.1), shared by both resource types.
pub(super) const COMMON: &[AttrDef] = &[
    string("id")
        .case_exact()
        .read_only()
        .returned(Returned::Always)
        .unique()
        .doc("Unique identifier for the resource, assigned by the service provider."),
    string("externalId").case_exact().doc("Identifier of the resource as defined by the provisioning client."),
    complex(
        "meta",
        &[
            string("resourceType").case_exact().read_only(),
            attr("created", AttrType::DateTime).read_only(),
            attr("lastModified", AttrType::DateTime).read_only(),
            reference("location", &["uri"]).read_only(),
            string("version").case_exact().read_only(),
        ],
    )
    .read_only()
    .doc("Resource metadata."),
];

const EMAIL_TYPES: &[&str] = &["work", "home", "other"];
const PHONE_TYPES: &[&str] = &["work", "home", "mobile", "fax", "pager", "other"];

pub const USER_SCHEMA: SchemaDef = SchemaDef {
    id: "urn:ietf:params:scim:schemas:core:2.0:User",
    name: "User",
    description: "User Account",
    attributes: &[
        string("userName").required().unique().doc(
            "Unique identifier for the User, typically used by the user to directly authenticate to the service provider.",
        ),
        complex(
            "name",
            &[
                string("formatted"),
                string("familyName"),
                string("givenName"),
                string("middleName"),
                string("honorificPrefix"),
                string("honorificSuffix"),
            ],
        )
        .doc("The components of the user's real name."),
        string("displayName").doc("The name of the User, suitable for display to end-users."),
        string("nickName"),
        string("title"),
        string("userType"),
        string("preferredLanguage"),
        string("locale"),
        string("timezone"),
        boolean("active").doc("The User's administrative status; false ends the member's sessions in Stele."),
        complex(
            "emails",
            &[
                string("value"),
                string("display"),
                string("type").canonical(EMAIL_TYPES),
                boolean("primary"),
            ],
        )
        .multi()
        .doc("Email addresses for the user."),
        complex("phoneNumbers", &[string("value"), string("display"), string("type").canonical(PHONE_TYPES), boolean("primary")])
            .multi(),
        complex(
            "groups",
            &[
                string("value").read_only(),
                reference("$ref", &["User", "Group"]).read_only(),
                string("display").read_only(),
                string("type").canonical(&["direct", "indirect"]).read_only(),
            ],
        )
        .multi()
        .read_only()
        .doc("Groups to which the user belongs; managed through the Group resources."),
        string("password")
            .write_only()
            .returned(Returned::Never)
            .doc("Accepted and discarded: Stele members sign in with their own password or SSO."),
    ],
};

pub const ENTERPRISE_USER_SCHEMA: SchemaDef = SchemaDef {
    id: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &[
        string("employeeNumber"),
        string("costCenter"),
        string("organization"),
        string("division"),
        string("department"),
        complex("manager", &[string("value"), reference("$ref", &["User"]), string("displayName").read_only()])
            .doc("The User's manager."),
    ],
};

pub const GROUP_SCHEMA: SchemaDef = SchemaDef {
    id: "urn:ietf:params:scim:schemas:core:2.0:Group",
    name: "Group",
    description: "Group",
    attributes: &[
        string("displayName").required().doc("A human-readable name for the Group."),
        complex(
            "members",
            &[
                string("value").case_exact().immutable(),
                reference("$ref", &["User", "Group"]).immutable(),
                string("display").read_only(),
                string("type").canonical(&["User", "Group"]).immutable(),
            ],
        )
        .multi()
        .doc("A list of members of the Group."),
    ],
};
