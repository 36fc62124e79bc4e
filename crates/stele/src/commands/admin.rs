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
    /// Change a tenant's aliases and/or JWT key (operator key).
    Update(UpdateTenantArgs),
}

/// `stele tenants update`: what is not named stays as it is.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("jwt").args(["jwt_hs256_secret_file", "jwt_public_key_file", "clear_jwt"])))]
pub struct UpdateTenantArgs {
    /// The tenant's id.
    id: String,
    /// The tenant's aliases, replacing the current set (repeatable).
    #[arg(long = "alias", conflicts_with = "clear_aliases")]
    aliases: Vec<String>,
    /// Remove every alias.
    #[arg(long)]
    clear_aliases: bool,
    /// Verify the tenant's JWTs with the HS256 secret in this file (stored encrypted).
    #[arg(long, value_name = "FILE")]
    jwt_hs256_secret_file: Option<std::path::PathBuf>,
    /// Verify the tenant's JWTs with the public key (PEM) in this file; needs --jwt-alg.
    #[arg(long, value_name = "FILE", requires = "jwt_alg")]
    jwt_public_key_file: Option<std::path::PathBuf>,
    /// The public key's algorithm.
    #[arg(long, value_parser = ["EdDSA", "RS256"], requires = "jwt_public_key_file")]
    jwt_alg: Option<String>,
    /// Remove the tenant's JWT key.
    #[arg(long)]
    clear_jwt: bool,
    /// With a JWT key: tokens must carry this `iss` claim.
    #[arg(long, value_name = "ISSUER", conflicts_with = "clear_jwt")]
    jwt_issuer: Option<String>,
    /// With a JWT key: tokens must carry this `aud` claim.
    #[arg(long, value_name = "AUDIENCE", conflicts_with = "clear_jwt")]
    jwt_audience: Option<String>,
}

impl UpdateTenantArgs {
    /// The `PATCH /v1/tenants/{id}` body.
    fn body(&self) -> anyhow::Result<Value> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
        };
        let mut body = serde_json::Map::new();
        if self.clear_aliases {
            body.insert("aliases".into(), json!([]));
        } else if !self.aliases.is_empty() {
            body.insert("aliases".into(), json!(self.aliases));
        }
        if let Some(path) = &self.jwt_hs256_secret_file {
            let secret = read(path)?;
            body.insert("jwt".into(), json!({"alg": "HS256", "secret": secret.trim_end_matches(['\r', '\n'])}));
        } else if let (Some(path), Some(alg)) = (&self.jwt_public_key_file, &self.jwt_alg) {
            body.insert("jwt".into(), json!({"alg": alg, "public_key_pem": read(path)?}));
        } else if self.clear_jwt {
            body.insert("jwt".into(), Value::Null);
        }
        match body.get_mut("jwt").and_then(Value::as_object_mut) {
            Some(jwt) => {
                if let Some(issuer) = &self.jwt_issuer {
                    jwt.insert("issuer".into(), json!(issuer));
                }
                if let Some(audience) = &self.jwt_audience {
                    jwt.insert("audience".into(), json!(audience));
                }
            }
            None if self.jwt_issuer.is_some() || self.jwt_audience.is_some() => {
                anyhow::bail!("--jwt-issuer and --jwt-audience go with a JWT key file (the key is set with them)");
            }
            None => {}
        }
        if body.is_empty() {
            anyhow::bail!("nothing to change: name --alias, --clear-aliases, a JWT key file or --clear-jwt");
        }
        Ok(Value::Object(body))
    }
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
        TenantCommand::Update(args) => {
            let body = args.body()?;
            let path = format!("/v1/tenants/{}", args.id);
            print(&client.json(client.request(Method::PATCH, &path).json(&body)).await?)
        }
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
