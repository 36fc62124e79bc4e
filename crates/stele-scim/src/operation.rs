//! The audit action of each SCIM request: `scim.<Operation>`, with the operation names of
//! Stele's SCIM Audit Logs page (`ListUsers`, `GetUser`, `CreateUser`, `UpdateUser`,
//! `DeleteUser`, `BulkOperation`, `ListGroups`, `GetGroup`, `CreateGroup`, `UpdateGroup`,
//! `DeleteGroup`, `GetMe`, `Unauthorized`).
//!
//! Choices beyond that list: `POST /Users/.search` is `ListUsers` and `POST /Groups/.search`
//! `ListGroups` (the same read, another way in); PUT and PATCH are both `Update*`; discovery
//! gets `GetServiceProviderConfig`, `GetSchemas` and `GetResourceTypes` (also for one schema
//! or resource type); anything else (unknown paths, other methods, writes to `/Me`, which
//! Stele does not offer) is `Unknown`; `POST /.search` (across Users and Groups) is `Search`. `Unauthorized` is never classified:
//! the server records it when authentication fails, whatever the route.

/// A SCIM request, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ListUsers,
    GetUser,
    CreateUser,
    UpdateUser,
    DeleteUser,
    BulkOperation,
    ListGroups,
    GetGroup,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    GetMe,
    GetServiceProviderConfig,
    GetSchemas,
    GetResourceTypes,
    Search,
    Unauthorized,
    Unknown,
}

impl Operation {
    /// Every operation, for closed label sets.
    pub const ALL: [Operation; 18] = [
        Operation::ListUsers,
        Operation::GetUser,
        Operation::CreateUser,
        Operation::UpdateUser,
        Operation::DeleteUser,
        Operation::BulkOperation,
        Operation::ListGroups,
        Operation::GetGroup,
        Operation::CreateGroup,
        Operation::UpdateGroup,
        Operation::DeleteGroup,
        Operation::GetMe,
        Operation::GetServiceProviderConfig,
        Operation::GetSchemas,
        Operation::GetResourceTypes,
        Operation::Search,
        Operation::Unauthorized,
        Operation::Unknown,
    ];

    /// The name (`CreateUser`).
    pub fn name(self) -> &'static str {
        match self {
            Operation::ListUsers => "ListUsers",
            Operation::GetUser => "GetUser",
            Operation::CreateUser => "CreateUser",
            Operation::UpdateUser => "UpdateUser",
            Operation::DeleteUser => "DeleteUser",
            Operation::BulkOperation => "BulkOperation",
            Operation::ListGroups => "ListGroups",
            Operation::GetGroup => "GetGroup",
            Operation::CreateGroup => "CreateGroup",
            Operation::UpdateGroup => "UpdateGroup",
            Operation::DeleteGroup => "DeleteGroup",
            Operation::GetMe => "GetMe",
            Operation::GetServiceProviderConfig => "GetServiceProviderConfig",
            Operation::GetSchemas => "GetSchemas",
            Operation::GetResourceTypes => "GetResourceTypes",
            Operation::Search => "Search",
            Operation::Unauthorized => "Unauthorized",
            Operation::Unknown => "Unknown",
        }
    }

    /// The event action: `scim.CreateUser`.
    pub fn action(self) -> String {
        format!("scim.{}", self.name())
    }

    /// Classifies a request by method and the path after the connection's SCIM base
    /// (`/Users/abc`, `/Groups/.search`); resource names are case-insensitive, a query
    /// string and trailing `/` are ignored.
    pub fn classify(method: &str, path: &str) -> Operation {
        let segments = segments(path);
        let method = method.to_ascii_uppercase();
        let Some(first) = segments.first() else { return Operation::Unknown };
        if segments.len() == 1 && *first == ".search" && method.eq_ignore_ascii_case("POST") {
            return Operation::Search;
        }
        let first = first.to_ascii_lowercase();
        let second = segments.get(1).copied();
        let search = second == Some(".search");
        match (first.as_str(), segments.len(), method.as_str()) {
            ("users", 1, "GET") => Operation::ListUsers,
            ("users", 1, "POST") => Operation::CreateUser,
            ("users", 2, "POST") if search => Operation::ListUsers,
            ("users", 2, "GET") => Operation::GetUser,
            ("users", 2, "PUT" | "PATCH") => Operation::UpdateUser,
            ("users", 2, "DELETE") => Operation::DeleteUser,
            ("groups", 1, "GET") => Operation::ListGroups,
            ("groups", 1, "POST") => Operation::CreateGroup,
            ("groups", 2, "POST") if search => Operation::ListGroups,
            ("groups", 2, "GET") => Operation::GetGroup,
            ("groups", 2, "PUT" | "PATCH") => Operation::UpdateGroup,
            ("groups", 2, "DELETE") => Operation::DeleteGroup,
            ("bulk", 1, "POST") => Operation::BulkOperation,
            ("me", 1, "GET") => Operation::GetMe,
            ("serviceproviderconfig", 1, "GET") => Operation::GetServiceProviderConfig,
            ("schemas", 1 | 2, "GET") => Operation::GetSchemas,
            ("resourcetypes", 1 | 2, "GET") => Operation::GetResourceTypes,
            _ => Operation::Unknown,
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The resource type a request addresses, for the SCIM Audit Logs page filter: `Users`,
/// `Groups`, `Me`, `Bulk`, `ServiceProviderConfig`, `Schemas`, `ResourceTypes`, or `None`.
pub fn resource_type(path: &str) -> Option<&'static str> {
    let first = *segments(path).first()?;
    ["Users", "Groups", "Me", "Bulk", "ServiceProviderConfig", "Schemas", "ResourceTypes"]
        .into_iter()
        .find(|r| r.eq_ignore_ascii_case(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_classify_into_the_audit_operations() {
        let cases = [
            ("GET", "/Users", Operation::ListUsers),
            ("GET", "/Users?filter=userName%20eq%20%22a%22", Operation::ListUsers),
            ("POST", "/Users/.search", Operation::ListUsers),
            ("GET", "/Users/abc", Operation::GetUser),
            ("POST", "/Users", Operation::CreateUser),
            ("PUT", "/Users/abc", Operation::UpdateUser),
            ("patch", "/users/abc/", Operation::UpdateUser),
            ("DELETE", "/Users/abc", Operation::DeleteUser),
            ("POST", "/Bulk", Operation::BulkOperation),
            ("GET", "/Groups", Operation::ListGroups),
            ("POST", "/Groups/.search", Operation::ListGroups),
            ("GET", "/Groups/g1", Operation::GetGroup),
            ("POST", "/Groups", Operation::CreateGroup),
            ("PATCH", "/Groups/g1", Operation::UpdateGroup),
            ("DELETE", "/Groups/g1", Operation::DeleteGroup),
            ("GET", "/Me", Operation::GetMe),
            ("PATCH", "/Me", Operation::Unknown),
            ("GET", "/ServiceProviderConfig", Operation::GetServiceProviderConfig),
            ("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", Operation::GetSchemas),
            ("GET", "/ResourceTypes", Operation::GetResourceTypes),
            ("GET", "/Nope", Operation::Unknown),
            ("GET", "/", Operation::Unknown),
            ("POST", "/.search", Operation::Search),
            ("GET", "/.search", Operation::Unknown),
            ("POST", "/Users/abc", Operation::Unknown),
        ];
        for (method, path, expected) in cases {
            assert_eq!(Operation::classify(method, path), expected, "{method} {path}");
        }
        assert_eq!(Operation::UpdateGroup.action(), "scim.UpdateGroup");
        assert_eq!(resource_type("/users/abc"), Some("Users"));
        assert_eq!(resource_type("/Bulk"), Some("Bulk"));
        assert_eq!(resource_type("/x"), None);
    }
}
