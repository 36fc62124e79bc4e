//! The discovery documents (RFC 7644 §4, RFC 7643 §5–§7): `ServiceProviderConfig`,
//! `/ResourceTypes`, `/Schemas`, each rendered from the attribute definitions in `schema/`
//! so what Stele advertises is what it enforces.
//!
//! `meta.location` is built from the base URL the server passes (the tenant's SCIM base,
//! e.g. `https://stele.example/scim/v2/acme`), without a trailing slash. Entra asks for
//! `/Schemas` when a provisioning configuration is saved and wants a ListResponse with
//! camel-cased property values (`readWrite`), which is what this renders.

use serde_json::{json, Value};

use crate::list::list_response;
use crate::schema::{
    AttrDef, AttrType, Mutability, ResourceKind, Returned, SchemaDef, Uniqueness, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA,
    USER_SCHEMA,
};

/// The schema of `ServiceProviderConfig` documents.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The schema of `ResourceType` documents.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The schema of `Schema` documents.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// What the service provider allows, advertised in `ServiceProviderConfig` and enforced by
/// [`crate::list::ListParams`] and [`crate::bulk::BulkRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    /// Most operations in one Bulk request.
    pub bulk_max_operations: usize,
    /// Largest Bulk request body, in bytes.
    pub bulk_max_payload_bytes: usize,
    /// Most resources in one list page (`count` is capped to it).
    pub filter_max_results: usize,
    /// Where humans read about Stele's SCIM endpoint, if anywhere.
    pub documentation_uri: Option<String>,
}

impl Default for ServiceProviderConfig {
    /// 1000 operations and 1 MiB per Bulk request (the RFC's example values), 200 results per
    /// page (Okta and Entra ask for 100).
    fn default() -> Self {
        ServiceProviderConfig {
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 1 << 20,
            filter_max_results: 200,
            documentation_uri: None,
        }
    }
}

impl ServiceProviderConfig {
    /// The `ServiceProviderConfig` resource (RFC 7643 §5).
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut out = json!({
            "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
            "patch": {"supported": true},
            "bulk": {
                "supported": true,
                "maxOperations": self.bulk_max_operations,
                "maxPayloadSize": self.bulk_max_payload_bytes,
            },
            "filter": {"supported": true, "maxResults": self.filter_max_results},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication with a Stele SCIM token sent as a bearer token (RFC 6750).",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base_url}/ServiceProviderConfig"),
            },
        });
        if let (Some(uri), Some(map)) = (&self.documentation_uri, out.as_object_mut()) {
            map.insert("documentationUri".into(), Value::String(uri.clone()));
        }
        out
    }
}

/// Every schema Stele serves, in `/Schemas` order.
pub const SCHEMAS: [&SchemaDef; 3] = [&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA];

/// `GET /Schemas`: a ListResponse of every schema.
pub fn schemas_json(base_url: &str) -> Value {
    let all: Vec<Value> = SCHEMAS.iter().map(|s| schema_json(s, base_url)).collect();
    list_response(all.len(), 1, all)
}

/// `GET /Schemas/{id}` (the URN, case-insensitive), or `None` for an unknown id.
pub fn schema_by_id(id: &str, base_url: &str) -> Option<Value> {
    SCHEMAS.iter().find(|s| s.id.eq_ignore_ascii_case(id)).map(|s| schema_json(s, base_url))
}

/// One schema resource (RFC 7643 §7).
pub fn schema_json(schema: &SchemaDef, base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{}", schema.id)},
    })
}

fn attr_json(a: &AttrDef) -> Value {
    let mut out = json!({
        "name": a.name,
        "type": type_name(a.ty),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "mutability": match a.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match a.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        },
    });
    let Some(map) = out.as_object_mut() else { return out };
    if !matches!(a.ty, AttrType::Complex | AttrType::Boolean) {
        map.insert("caseExact".into(), Value::Bool(a.case_exact));
        let uniqueness = match a.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        };
        map.insert("uniqueness".into(), Value::String(uniqueness.into()));
    }
    if !a.sub_attributes.is_empty() {
        map.insert("subAttributes".into(), a.sub_attributes.iter().map(attr_json).collect());
    }
    if !a.canonical_values.is_empty() {
        map.insert("canonicalValues".into(), a.canonical_values.iter().map(|v| json!(v)).collect());
    }
    if !a.reference_types.is_empty() {
        map.insert("referenceTypes".into(), a.reference_types.iter().map(|v| json!(v)).collect());
    }
    out
}

fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
        AttrType::Binary => "binary",
    }
}

/// `GET /ResourceTypes`: a ListResponse of `User` and `Group`.
pub fn resource_types_json(base_url: &str) -> Value {
    let all: Vec<Value> =
        [ResourceKind::User, ResourceKind::Group].into_iter().map(|k| resource_type_json(k, base_url)).collect();
    list_response(all.len(), 1, all)
}

/// `GET /ResourceTypes/{User|Group}` (case-insensitive), or `None`.
pub fn resource_type_by_name(name: &str, base_url: &str) -> Option<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(name))
        .map(|k| resource_type_json(k, base_url))
}

/// One `ResourceType` resource (RFC 7643 §6).
pub fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    let extensions: Vec<Value> = kind.extensions().iter().map(|s| json!({"schema": s.id, "required": false})).collect();
    let mut out = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": match kind {
            ResourceKind::User => "User Account",
            ResourceKind::Group => "Group",
        },
        "schema": kind.core_schema().id,
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/{}", kind.name())},
    });
    if let (false, Some(map)) = (extensions.is_empty(), out.as_object_mut()) {
        map.insert("schemaExtensions".into(), Value::Array(extensions));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_provider_config_advertises_the_configured_limits() {
        let config =
            ServiceProviderConfig { bulk_max_operations: 10, bulk_max_payload_bytes: 2048, ..Default::default() };
        let doc = config.to_json("https://s.example/scim/v2/t1");
        assert_eq!(doc["bulk"]["maxOperations"], 10);
        assert_eq!(doc["bulk"]["maxPayloadSize"], 2048);
        assert_eq!(doc["filter"]["maxResults"], 200);
        assert_eq!(doc["changePassword"]["supported"], false);
        assert_eq!(doc["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(doc["meta"]["location"], "https://s.example/scim/v2/t1/ServiceProviderConfig");
    }

    #[test]
    fn schemas_list_every_schema_with_camel_cased_properties() {
        let doc = schemas_json("/scim/v2/t1");
        assert_eq!(doc["totalResults"], 3);
        let user = &doc["Resources"][0];
        assert_eq!(user["id"], USER_SCHEMA.id);
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        let password = user["attributes"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "password"));
        assert_eq!(password.map(|p| p["returned"].clone()), Some(json!("never")));
        assert_eq!(
            schema_by_id("URN:ietf:params:scim:schemas:extension:enterprise:2.0:User", "/b").map(|s| s["name"].clone()),
            Some(json!("EnterpriseUser"))
        );
        assert!(schema_by_id("urn:nope", "/b").is_none());
    }

    #[test]
    fn resource_types_name_their_schemas_and_extensions() {
        let doc = resource_types_json("/b");
        assert_eq!(doc["Resources"][0]["endpoint"], "/Users");
        assert_eq!(doc["Resources"][0]["schemaExtensions"][0]["schema"], ENTERPRISE_USER_SCHEMA.id);
        assert!(doc["Resources"][1].get("schemaExtensions").is_none());
        assert_eq!(
            resource_type_by_name("group", "/b").map(|g| g["meta"]["location"].clone()),
            Some(json!("/b/ResourceTypes/Group"))
        );
    }
}
