//! `stele members …`, `stele groups …` and `stele scim-connections …`: a tenant's directory
//! through the admin API (`/v1/tenants/{tenant}/…`).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::client::{check, Client};
use crate::Remote;

#[derive(Subcommand)]
pub enum MemberCommand {
    /// Add a member.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Sign-in name (default: the email).
        #[arg(long)]
        user_name: Option<String>,
        /// owner, admin, auditor or member (default).
        #[arg(long)]
        role: Option<String>,
    },
    /// List members (every page).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Show one member with its groups and effective role.
    Get {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Change a member's role, name or active flag.
    Update {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// true or false.
        #[arg(long)]
        active: Option<bool>,
    },
    /// Give a member a new one-time invite URL (valid 7 days) to set a password.
    Invite {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Remove a member (it leaves every group).
    Remove {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// The role the group gives its members.
        #[arg(long)]
        role: Option<String>,
        /// A member id (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// List groups.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Change a group's name, role or member set.
    Update {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "clear_role")]
        role: Option<String>,
        /// Remove the group's role.
        #[arg(long)]
        clear_role: bool,
        /// The complete new member set (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Delete a group.
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ScimConnectionCommand {
    /// Create a SCIM connection and print its base URL and token (shown once).
    Create {
        #[arg(long)]
        tenant: String,
        /// What it is for ("Okta", "Entra ID").
        #[arg(long)]
        name: Option<String>,
    },
    /// List SCIM connections (never their tokens).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Replace a connection's token and print the new one (shown once).
    Rotate {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Revoke a connection: its token stops working at once.
    Revoke {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Sends a request whose answer has no body (204).
async fn send_empty(client: &Client, method: Method, path: &str) -> anyhow::Result<()> {
    let response = client.request(method, path).send().await?;
    check(response).await?;
    Ok(())
}

pub async fn members(command: MemberCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    match command {
        MemberCommand::Add { tenant, email, name, user_name, role } => {
            let body = json!({"email": email, "name": name, "user_name": user_name, "role": role});
            let path = format!("/v1/tenants/{tenant}/members");
            print(&client.json(client.request(Method::POST, &path).json(&body)).await?)
        }
        MemberCommand::List { tenant } => {
            let path = format!("/v1/tenants/{tenant}/members");
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut request = client.request(Method::GET, &path).query(&[("limit", "1000")]);
                if let Some(c) = &cursor {
                    request = request.query(&[("cursor", c)]);
                }
                let page = client.json(request).await?;
                all.extend(page["members"].as_array().cloned().unwrap_or_default());
                match page["next"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            print(&Value::Array(all))
        }
        MemberCommand::Get { tenant, id } => {
            print(&client.json(client.request(Method::GET, &format!("/v1/tenants/{tenant}/members/{id}"))).await?)
        }
        MemberCommand::Update { tenant, id, role, name, active } => {
            let mut body = Map::new();
            for (k, v) in
                [("role", role.map(Value::from)), ("name", name.map(Value::from)), ("active", active.map(Value::from))]
            {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            }
            if body.is_empty() {
                anyhow::bail!("nothing to change: name --role, --name or --active");
            }
            let path = format!("/v1/tenants/{tenant}/members/{id}");
            print(&client.json(client.request(Method::PATCH, &path).json(&body)).await?)
        }
        MemberCommand::Invite { tenant, id } => {
            let path = format!("/v1/tenants/{tenant}/members/{id}/invite");
            print(&client.json(client.request(Method::POST, &path)).await?)
        }
        MemberCommand::Remove { tenant, id } => {
            send_empty(&client, Method::DELETE, &format!("/v1/tenants/{tenant}/members/{id}")).await?;
            eprintln!("removed member {id}");
            Ok(())
        }
    }
}

pub async fn groups(command: GroupCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    match command {
        GroupCommand::Create { tenant, name, role, members } => {
            let body = json!({"display_name": name, "role": role, "members": members});
            let path = format!("/v1/tenants/{tenant}/groups");
            print(&client.json(client.request(Method::POST, &path).json(&body)).await?)
        }
        GroupCommand::List { tenant } => {
            print(&client.json(client.request(Method::GET, &format!("/v1/tenants/{tenant}/groups"))).await?)
        }
        GroupCommand::Update { tenant, id, name, role, clear_role, members } => {
            let mut body = Map::new();
            if let Some(n) = name {
                body.insert("display_name".into(), json!(n));
            }
            if let Some(r) = role {
                body.insert("role".into(), json!(r));
            } else if clear_role {
                body.insert("role".into(), Value::Null);
            }
            if !members.is_empty() {
                body.insert("members".into(), json!(members));
            }
            if body.is_empty() {
                anyhow::bail!("nothing to change: name --name, --role, --clear-role or --member");
            }
            let path = format!("/v1/tenants/{tenant}/groups/{id}");
            print(&client.json(client.request(Method::PATCH, &path).json(&body)).await?)
        }
        GroupCommand::Delete { tenant, id } => {
            send_empty(&client, Method::DELETE, &format!("/v1/tenants/{tenant}/groups/{id}")).await?;
            eprintln!("deleted group {id}");
            Ok(())
        }
    }
}

pub async fn scim_connections(command: ScimConnectionCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    match command {
        ScimConnectionCommand::Create { tenant, name } => {
            let path = format!("/v1/tenants/{tenant}/scim-connections");
            print(&client.json(client.request(Method::POST, &path).json(&json!({"name": name}))).await?)?;
            eprintln!("give the identity provider the base_url and token; store the token now: it is not shown again");
            Ok(())
        }
        ScimConnectionCommand::List { tenant } => {
            print(&client.json(client.request(Method::GET, &format!("/v1/tenants/{tenant}/scim-connections"))).await?)
        }
        ScimConnectionCommand::Rotate { tenant, id } => {
            let path = format!("/v1/tenants/{tenant}/scim-connections/{id}/rotate");
            print(&client.json(client.request(Method::POST, &path)).await?)?;
            eprintln!("the old token no longer works; store the new one now: it is not shown again");
            Ok(())
        }
        ScimConnectionCommand::Revoke { tenant, id } => {
            send_empty(&client, Method::DELETE, &format!("/v1/tenants/{tenant}/scim-connections/{id}")).await?;
            eprintln!("revoked SCIM connection {id}");
            Ok(())
        }
    }
}

/// `stele viewer-link`: a single-use URL that opens a read-only viewer session (the key's
/// view AND `--filter`), for embedding "Audit log" in another product.
pub async fn viewer_link(filter: Option<String>, ttl_seconds: Option<u32>, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    let body = json!({"view_filter": filter, "ttl_seconds": ttl_seconds});
    print(&client.json(client.request(Method::POST, "/v1/viewer-links").json(&body)).await?)
}
