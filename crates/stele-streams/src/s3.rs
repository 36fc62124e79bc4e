//! S3 (any S3-compatible API): one gzipped NDJSON object per batch, in the format of a
//! filtered Stele export, so `stele verify` checks an object offline.
//!
//! Key: `<prefix><tenant>/<first seq>-<last seq>.ndjson.gz`, both seqs zero-padded to 20
//! digits (`u64::MAX` has 20), so keys sort by seq and a retried batch — the same seqs —
//! overwrites its own object instead of adding a duplicate.
//!
//! Object (gzip of):
//! ```text
//! {"stele_export":1,"tenant":"acme","complete":false,"head":{<signed tree head>}}
//! {<stored event>,"proof":{<inclusion proof under head>}}
//! ...
//! ```
//! The first line has the shape of the export's header line (`complete` is false: an object
//! holds some events, not the log); each event line is the stored JSON with a `proof`
//! member appended textually, so the stored bytes are kept. The policy asks for proofs and
//! a head, and cuts batches by the configured `max_events` and `max_seconds`.
//!
//! The PUT goes to a SigV4 presigned URL (`rusty-s3`, path or virtual-host style per the
//! settings) with `Content-Type: application/x-ndjson` and no `Content-Encoding`: the object
//! is a `.gz` file, to be downloaded as such. Any 2xx acknowledges.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::CONTENT_TYPE;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::Serialize;

use crate::config::{self, ConfigError, ParseOptions, Secret};
use crate::sink::{event_json, seq_range, Batch, DeliveryError, FailureKind, Policy, Sink, SinkContext};

/// How long a presigned URL is valid: enough for one slow upload, short enough to be
/// worthless if it leaked into a log.
const PRESIGN: Duration = Duration::from_secs(15 * 60);

pub(crate) struct S3Sink {
    client: reqwest::Client,
    bucket: Bucket,
    credentials: Credentials,
    settings: config::S3,
    timeout: Duration,
}

impl S3Sink {
    pub(crate) fn new(
        d: &config::S3,
        access_key_id: &Secret,
        secret_access_key: &Secret,
        ctx: &SinkContext,
    ) -> Result<Self, ConfigError> {
        let endpoint = config::check_url("endpoint", &d.endpoint, ParseOptions { allow_http: true }, true)?;
        let style = if d.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(endpoint, style, d.bucket.clone(), d.region.clone())
            .map_err(|_| ConfigError::new("endpoint", "does not make a bucket URL with this bucket"))?;
        Ok(S3Sink {
            client: crate::http::client(ctx)?,
            bucket,
            credentials: Credentials::new(access_key_id.expose(), secret_access_key.expose()),
            settings: d.clone(),
            timeout: ctx.timeout,
        })
    }
}

#[async_trait::async_trait]
impl Sink for S3Sink {
    fn policy(&self) -> Policy {
        Policy {
            max_events: self.settings.max_events as usize,
            max_wait: Duration::from_secs(u64::from(self.settings.max_seconds)),
            needs_proofs: true,
        }
    }

    async fn deliver(&self, batch: &Batch) -> Result<(), DeliveryError> {
        let Some(key) = object_key(&self.settings.prefix, batch) else { return Ok(()) };
        let body = object(batch)?;
        let url = self.bucket.put_object(Some(&self.credentials), &key).sign(PRESIGN);
        let request = self.client.put(url).header(CONTENT_TYPE, "application/x-ndjson").body(body);
        let status = crate::http::send(request, self.timeout).await?;
        crate::http::acknowledged(status, self.timeout)
    }
}

/// The object key of a non-empty batch.
pub(crate) fn object_key(prefix: &str, batch: &Batch) -> Option<String> {
    let (first, last) = seq_range(batch)?;
    Some(format!("{prefix}{}/{first:020}-{last:020}.ndjson.gz", batch.tenant))
}

#[derive(Serialize)]
struct Header<'a> {
    stele_export: u8,
    tenant: &'a str,
    complete: bool,
    head: &'a Option<serde_json::Value>,
}

/// The NDJSON text of a batch (before gzip).
pub(crate) fn ndjson(batch: &Batch) -> Result<String, DeliveryError> {
    let header = Header { stele_export: 1, tenant: &batch.tenant, complete: false, head: &batch.head };
    let mut out =
        serde_json::to_string(&header).map_err(|_| DeliveryError::new(FailureKind::Encode, Duration::ZERO))?;
    out.push('\n');
    for item in &batch.items {
        let json = event_json(item)?.get();
        match &item.proof {
            Some(proof) => {
                // `event_json` checked an object: `{…}` with at least `seq` inside.
                let inner = json.trim_end().strip_suffix('}').ok_or_else(|| DeliveryError::encode(item.seq))?;
                out.push_str(inner);
                out.push_str(",\"proof\":");
                out.push_str(&serde_json::to_string(proof).map_err(|_| DeliveryError::encode(item.seq))?);
                out.push('}');
            }
            None => out.push_str(json),
        }
        out.push('\n');
    }
    Ok(out)
}

/// The gzipped object of a batch.
pub(crate) fn object(batch: &Batch) -> Result<Vec<u8>, DeliveryError> {
    let text = ndjson(batch)?;
    let mut gz = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::default());
    let encoded = gz.write_all(text.as_bytes()).and_then(|()| gz.finish());
    encoded.map_err(|_| DeliveryError::new(FailureKind::Encode, Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use serde_json::json;

    use super::*;
    use crate::sink::Item;

    fn batch() -> Batch {
        let item = |seq: u64| Item {
            seq,
            time: "2024-05-01T12:00:00Z".into(),
            json: format!(r#"{{"seq":{seq},"id":"e{seq}","hash":"h{seq}"}}"#),
            proof: Some(json!({"leaf_index": seq - 1, "tree_size": 12, "path": ["aa"]})),
        };
        Batch { tenant: "acme".into(), items: vec![item(11), item(12)], head: Some(json!({"size": 12})) }
    }

    #[test]
    fn keys_are_zero_padded_so_they_sort_by_seq() {
        assert_eq!(
            object_key("audit/", &batch()).as_deref(),
            Some("audit/acme/00000000000000000011-00000000000000000012.ndjson.gz")
        );
        let key = |first: u64, last: u64| {
            let mut b = batch();
            b.items[0].seq = first;
            b.items[1].seq = last;
            object_key("", &b).expect("key")
        };
        assert!(key(9, 10) < key(11, 99) && key(11, 99) < key(100, 100) && key(100, 100) < key(u64::MAX, u64::MAX));
        assert_eq!(object_key("", &Batch { items: vec![], ..batch() }), None);
    }

    #[test]
    fn the_url_style_follows_the_settings() {
        let d = config::S3 {
            endpoint: "https://s3.example.com/".into(),
            bucket: "bkt".into(),
            prefix: String::new(),
            region: "eu-west-1".into(),
            path_style: false,
            max_events: 1,
            max_seconds: 1,
        };
        let url = |d: &config::S3| {
            let s =
                S3Sink::new(d, &Secret::new("AKID"), &Secret::new("s3-secret"), &SinkContext::default()).expect("sink");
            s.bucket.put_object(Some(&s.credentials), "acme/k.ndjson.gz").sign(PRESIGN)
        };
        let virtual_host = url(&d);
        assert_eq!((virtual_host.host_str(), virtual_host.path()), (Some("bkt.s3.example.com"), "/acme/k.ndjson.gz"));
        let path = url(&config::S3 { path_style: true, ..d });
        assert_eq!((path.host_str(), path.path()), (Some("s3.example.com"), "/bkt/acme/k.ndjson.gz"));
        // SigV4 query signing; the secret key itself is never in the URL.
        assert!(path.query().is_some_and(|q| q.contains("X-Amz-Signature=") && q.contains("eu-west-1")));
        assert!(!path.as_str().contains("s3-secret"));
    }

    #[test]
    fn the_object_is_a_gzipped_filtered_export() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&object(&batch()).expect("object")[..]).read_to_string(&mut text).expect("gunzip");
        assert_eq!(
            text,
            concat!(
                r#"{"stele_export":1,"tenant":"acme","complete":false,"head":{"size":12}}"#,
                "\n",
                r#"{"seq":11,"id":"e11","hash":"h11","proof":{"leaf_index":10,"path":["aa"],"tree_size":12}}"#,
                "\n",
                r#"{"seq":12,"id":"e12","hash":"h12","proof":{"leaf_index":11,"path":["aa"],"tree_size":12}}"#,
                "\n",
            )
        );
    }
}
