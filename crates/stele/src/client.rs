//! The HTTP client the commands share: base URL, bearer key, problem+json errors.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::Remote;

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub fn new(remote: &Remote) -> anyhow::Result<Self> {
        let key = match &remote.key {
            Some(k) => k.clone(),
            None => {
                let path = remote.data_dir.join("admin.key");
                std::fs::read_to_string(&path).map(|k| k.trim().to_owned()).map_err(|_| {
                    anyhow!("no key: pass --key or set STELE_KEY (or run next to a data dir with admin.key)")
                })?
            }
        };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        Ok(Self { http, base: remote.server.trim_end_matches('/').to_owned(), key })
    }

    /// A client for long-lived responses (`stele tail`): no total timeout, but a read that
    /// sees no byte for `idle` (the server sends a keep-alive every 15 s) fails.
    pub fn streaming(remote: &Remote, idle: Duration) -> anyhow::Result<Self> {
        let mut client = Self::new(remote)?;
        client.http = reqwest::Client::builder().connect_timeout(Duration::from_secs(30)).read_timeout(idle).build()?;
        Ok(client)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key)
    }

    /// Sends a request and returns the JSON answer, or an error holding the problem detail.
    pub async fn json(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let response = check(response).await?;
        Ok(response.json().await?)
    }
}

/// Turns a non-2xx answer into an error naming the status and the server's detail.
pub async fn check(response: Response) -> anyhow::Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or(text);
    bail!("{} {}: {detail}", status.as_u16(), status.canonical_reason().unwrap_or(""))
}

/// Whether an answer is worth retrying with the same idempotency key.
pub fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
}
