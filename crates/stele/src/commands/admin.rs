//! `stele tenants …` and `stele keys …`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Client;
use crate::Remote;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (operator key).
    Create {
        /// Slug: a-z, 0-9, '-', '_'.
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Another identifier the tenant is found by (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a key and print its secret (shown once).
    Create {
        /// The key's tenant (required with the operator key).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        name: String,
        /// events:write, events:read, events:export or admin (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Filter AND-ed into every read the key makes.
        #[arg(long)]
        view_filter: Option<String>,
    },
    /// List keys.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key.
    Revoke { id: String },
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn tenants(command: TenantCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    match command {
        TenantCommand::Create { id, name, aliases } => {
            let body = json!({"id": id, "name": name.unwrap_or_else(|| id.clone()), "aliases": aliases});
            print(&client.json(client.request(Method::POST, "/v1/tenants").json(&body)).await?)
        }
        TenantCommand::List => print(&client.json(client.request(Method::GET, "/v1/tenants")).await?),
    }
}

pub async fn keys(command: KeyCommand, remote: &Remote) -> anyhow::Result<()> {
    let client = Client::new(remote)?;
    match command {
        KeyCommand::Create { tenant, name, scopes, view_filter } => {
            let body = json!({"tenant": tenant, "name": name, "scopes": scopes, "view_filter": view_filter});
            let created = client.json(client.request(Method::POST, "/v1/keys").json(&body)).await?;
            print(&created)?;
            eprintln!("store the secret now: it is not shown again");
            Ok(())
        }
        KeyCommand::List { tenant } => {
            let mut request = client.request(Method::GET, "/v1/keys");
            if let Some(t) = tenant {
                request = request.query(&[("tenant", t)]);
            }
            print(&client.json(request).await?)
        }
        KeyCommand::Revoke { id } => {
            print(&client.json(client.request(Method::DELETE, &format!("/v1/keys/{id}"))).await?)
        }
    }
}
