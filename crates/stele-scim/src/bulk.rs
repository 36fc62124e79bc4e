//! Bulk (RFC 7644 §3.7): parsing a BulkRequest, resolving `bulkId` references, ordering,
//! and building the BulkResponse. The server executes; this module decides what runs next.
//!
//! # Checks (the whole request is refused)
//!
//! - a body larger than `maxPayloadSize`: 413 (RFC 7644 §3.7.4), before anything else;
//! - more operations than `maxOperations`: 413 `tooMany`;
//! - `schemas` without the BulkRequest URN, `Operations` not a non-empty array, an
//!   operation that is not well formed (method not POST/PUT/PATCH/DELETE, a path other than
//!   `/Users`, `/Groups` for POST or `/Users/{id}`, `/Groups/{id}` otherwise, POST without
//!   `bulkId`, POST/PUT/PATCH without `data`, a `bulkId` used twice), `failOnErrors` not a
//!   positive integer: 400 `invalidSyntax` naming the operation. These are mistakes in the
//!   request itself, not outcomes of running it, so nothing runs.
//!
//! # Running: [`BulkPlan`]
//!
//! `next_op` hands out one [`ResolvedOp`] at a time with every `"bulkId:<id>"` string in
//! its `data` and `path` replaced by the id created earlier in the request. Operations run
//! in request order, except that an operation whose references are created by a later POST
//! waits until that POST ran. An operation that refers to a `bulkId` no operation declares,
//! or whose POST failed, fails with 409 `invalidValue`; operations that wait on each other
//! (circular references) fail the same way, the first of them in request order first
//! (RFC 7644 §3.7.2 allows 409 for circular references Stele does not untangle). The server
//! reports each result with `record`; after `failOnErrors` errors, `next_op` returns `None`
//! and the response lists what ran (RFC 7644 §3.7.3).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::discovery::ServiceProviderConfig;
use crate::error::{ScimError, ScimType};
use crate::resource::etag;
use crate::schema::ResourceKind;

/// The BulkRequest message schema.
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The BulkResponse message schema.
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

const BULK_ID_PREFIX: &str = "bulkId:";

/// An operation's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// An entity tag for `If-Match` semantics (see [`crate::resource::parse_if_match`]).
    pub version: Option<String>,
    pub path: String,
    pub data: Option<Value>,
}

/// A checked BulkRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Parses and checks a BulkRequest; `payload_bytes` is the body's size.
    pub fn parse(body: &Value, payload_bytes: usize, config: &ServiceProviderConfig) -> Result<BulkRequest, ScimError> {
        if payload_bytes > config.bulk_max_payload_bytes {
            return Err(ScimError::payload_too_large(
                None,
                format!("the bulk request is larger than maxPayloadSize ({} bytes)", config.bulk_max_payload_bytes),
            ));
        }
        let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("a bulk request must be a JSON object"))?;
        let get = |name: &str| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let schemas_ok = get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST_SCHEMA))));
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!("schemas must contain {BULK_REQUEST_SCHEMA}")));
        }
        let ops = get("Operations")
            .and_then(Value::as_array)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| ScimError::invalid_syntax("Operations must be a non-empty array"))?;
        if ops.len() > config.bulk_max_operations {
            return Err(ScimError::payload_too_large(
                Some(ScimType::TooMany),
                format!("the bulk request has more than maxOperations ({}) operations", config.bulk_max_operations),
            ));
        }
        let fail_on_errors = match get("failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().filter(|n| *n > 0) {
                Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                None => return Err(ScimError::invalid_syntax("failOnErrors must be a positive integer")),
            },
        };
        let mut operations = Vec::with_capacity(ops.len());
        let mut bulk_ids = HashSet::new();
        for (i, op) in ops.iter().enumerate() {
            let op = parse_operation(op).map_err(|m| ScimError::invalid_syntax(format!("Operations[{i}]: {m}")))?;
            if let Some(id) = &op.bulk_id {
                if !bulk_ids.insert(id.clone()) {
                    return Err(ScimError::invalid_syntax(format!("Operations[{i}]: bulkId {id:?} is used twice")));
                }
            }
            operations.push(op);
        }
        Ok(BulkRequest { fail_on_errors, operations })
    }

    /// The plan that hands the operations out in a resolvable order.
    pub fn plan(self) -> BulkPlan {
        let n = self.operations.len();
        BulkPlan {
            declared: self.operations.iter().filter_map(|o| o.bulk_id.clone()).collect(),
            ops: self.operations,
            done: vec![false; n],
            created: HashMap::new(),
            failed: HashSet::new(),
            results: Vec::new(),
            errors: 0,
            fail_on_errors: self.fail_on_errors,
        }
    }
}

fn parse_operation(op: &Value) -> Result<BulkOperation, String> {
    let obj = op.as_object().ok_or("an operation must be an object")?;
    let get = |name: &str| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let text = |name: &str| -> Result<Option<String>, String> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} must be a string")),
        }
    };
    let method = match text("method")?.map(|m| m.to_ascii_uppercase()).as_deref() {
        Some("POST") => BulkMethod::Post,
        Some("PUT") => BulkMethod::Put,
        Some("PATCH") => BulkMethod::Patch,
        Some("DELETE") => BulkMethod::Delete,
        _ => return Err("method must be POST, PUT, PATCH or DELETE".into()),
    };
    let path = text("path")?.ok_or("path is required")?;
    let (_, id) = parse_path(&path).ok_or_else(|| format!("path {path:?} is not /Users, /Groups or one of theirs"))?;
    match (method, id.is_some()) {
        (BulkMethod::Post, true) => return Err("POST takes /Users or /Groups".into()),
        (BulkMethod::Put | BulkMethod::Patch | BulkMethod::Delete, false) => {
            return Err(format!("{} takes /Users/{{id}} or /Groups/{{id}}", method.as_str()))
        }
        _ => {}
    }
    let bulk_id = text("bulkId")?;
    if method == BulkMethod::Post && bulk_id.as_deref().is_none_or(str::is_empty) {
        return Err("POST needs a bulkId".into());
    }
    let data = get("data").filter(|d| !d.is_null()).cloned();
    if method != BulkMethod::Delete && data.is_none() {
        return Err(format!("{} needs data", method.as_str()));
    }
    Ok(BulkOperation { method, bulk_id, version: text("version")?, path, data })
}

/// `/Users`, `/Groups/{id}` (resource names case-insensitive, trailing `/` ignored).
fn parse_path(path: &str) -> Option<(ResourceKind, Option<&str>)> {
    let trimmed = path.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix('/')?;
    let (resource, id) = match rest.split_once('/') {
        Some((r, id)) if !id.is_empty() && !id.contains('/') => (r, Some(id)),
        Some(_) => return None,
        None => (rest, None),
    };
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.endpoint().trim_start_matches('/').eq_ignore_ascii_case(resource))?;
    Some((kind, id))
}

/// An operation ready to run: references resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOp {
    /// Position in the request.
    pub index: usize,
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    pub version: Option<String>,
    pub kind: ResourceKind,
    /// The target id (resolved if it was `bulkId:...`); `None` for POST.
    pub id: Option<String>,
    pub data: Option<Value>,
}

/// What running an operation gave.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    Success {
        /// The resource's id (created or targeted).
        id: String,
        /// Its URL (`location` in the response).
        location: String,
        /// Its version after the operation (none after DELETE).
        version: Option<u64>,
        /// 201 for POST, 200 for PUT/PATCH, 204 for DELETE.
        status: u16,
    },
    Failure(ScimError),
}

/// Hands out a Bulk request's operations in a resolvable order and collects the results
/// (see the module documentation).
#[derive(Debug)]
pub struct BulkPlan {
    ops: Vec<BulkOperation>,
    done: Vec<bool>,
    /// Every bulkId some operation declares.
    declared: HashSet<String>,
    /// bulkId → created id.
    created: HashMap<String, String>,
    /// bulkIds whose POST failed.
    failed: HashSet<String>,
    results: Vec<Value>,
    errors: usize,
    fail_on_errors: Option<usize>,
}

impl BulkPlan {
    /// Whether `failOnErrors` errors happened: nothing more runs.
    pub fn stopped(&self) -> bool {
        self.fail_on_errors.is_some_and(|n| self.errors >= n)
    }

    /// The next operation to run, or `None` when all ran or the plan stopped. Operations
    /// that cannot be resolved are answered here (409) without reaching the caller.
    pub fn next_op(&mut self) -> Option<ResolvedOp> {
        loop {
            if self.stopped() {
                return None;
            }
            let pending: Vec<usize> = (0..self.ops.len()).filter(|i| !self.done[*i]).collect();
            let first = *pending.first()?;
            let mut waiting = false;
            for &i in &pending {
                let refs = references(&self.ops[i]);
                if let Some(bad) = refs.iter().find(|r| !self.declared.contains(*r) || self.failed.contains(*r)) {
                    let why =
                        if self.failed.contains(bad) { "was not created" } else { "is not declared in this request" };
                    self.fail(i, ScimError::new(409, Some(ScimType::InvalidValue), format!("bulkId {bad:?} {why}")));
                    waiting = false;
                    break;
                }
                if refs.iter().all(|r| self.created.contains_key(r)) {
                    return Some(self.resolve(i));
                }
                waiting = true;
            }
            if waiting {
                self.fail(
                    first,
                    ScimError::new(409, Some(ScimType::InvalidValue), "circular bulkId references cannot be resolved"),
                );
            }
        }
    }

    fn resolve(&mut self, i: usize) -> ResolvedOp {
        self.done[i] = true;
        let op = &self.ops[i];
        let path = replace_in_str(&op.path, &self.created);
        let (kind, id) = match parse_path(&path) {
            Some((kind, id)) => (kind, id.map(str::to_owned)),
            // Checked by `parse`; the placeholder keeps this infallible.
            None => (ResourceKind::User, None),
        };
        let mut data = op.data.clone();
        if let Some(d) = data.as_mut() {
            replace_refs(d, &self.created);
        }
        ResolvedOp {
            index: i,
            method: op.method,
            bulk_id: op.bulk_id.clone(),
            version: op.version.clone(),
            kind,
            id,
            data,
        }
    }

    fn fail(&mut self, i: usize, error: ScimError) {
        self.done[i] = true;
        let op = self.ops[i].clone();
        self.push_result(&op, OpOutcome::Failure(error));
    }

    /// Records the outcome of an operation handed out by [`next_op`](Self::next_op).
    pub fn record(&mut self, op: &ResolvedOp, outcome: OpOutcome) {
        let Some(original) = self.ops.get(op.index).cloned() else { return };
        self.push_result(&original, outcome);
    }

    fn push_result(&mut self, op: &BulkOperation, outcome: OpOutcome) {
        let mut r = Map::new();
        r.insert("method".into(), Value::String(op.method.as_str().into()));
        if let Some(b) = &op.bulk_id {
            r.insert("bulkId".into(), Value::String(b.clone()));
        }
        match outcome {
            OpOutcome::Success { id, location, version, status } => {
                if let (BulkMethod::Post, Some(b)) = (op.method, &op.bulk_id) {
                    self.created.insert(b.clone(), id);
                }
                if let Some(v) = version {
                    r.insert("version".into(), Value::String(etag(v)));
                }
                r.insert("location".into(), Value::String(location));
                r.insert("status".into(), Value::String(status.to_string()));
            }
            OpOutcome::Failure(e) => {
                self.errors += 1;
                if let (BulkMethod::Post, Some(b)) = (op.method, &op.bulk_id) {
                    self.failed.insert(b.clone());
                }
                r.insert("status".into(), Value::String(e.status.to_string()));
                r.insert("response".into(), e.to_json());
            }
        }
        self.results.push(Value::Object(r));
    }

    /// The BulkResponse for what ran, in the order it ran.
    pub fn response(&self) -> Value {
        let mut m = Map::new();
        m.insert("schemas".into(), Value::Array(vec![Value::String(BULK_RESPONSE_SCHEMA.into())]));
        m.insert("Operations".into(), Value::Array(self.results.clone()));
        Value::Object(m)
    }
}

/// The bulkIds an operation refers to (in `data` strings and its path).
fn references(op: &BulkOperation) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = op.path.rsplit('/').next().and_then(|s| s.strip_prefix(BULK_ID_PREFIX)) {
        out.push(id.to_owned());
    }
    if let Some(d) = &op.data {
        collect_refs(d, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                out.push(id.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        Value::Object(m) => m.values().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

fn replace_refs(v: &mut Value, created: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX).and_then(|b| created.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace_refs(i, created)),
        Value::Object(m) => m.values_mut().for_each(|i| replace_refs(i, created)),
        _ => {}
    }
}

fn replace_in_str(path: &str, created: &HashMap<String, String>) -> String {
    match path.rsplit_once('/') {
        Some((head, last)) => match last.strip_prefix(BULK_ID_PREFIX).and_then(|b| created.get(b)) {
            Some(id) => format!("{head}/{id}"),
            None => path.to_owned(),
        },
        None => path.to_owned(),
    }
}
