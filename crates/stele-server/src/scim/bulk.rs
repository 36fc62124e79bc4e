//! `/Bulk`: runs a BulkRequest's operations one by one through the same handlers as single
//! requests, in the order `stele_scim::BulkPlan` hands them out (references to `bulkId`s
//! resolved). Each operation that changes something is stored with its own event
//! (`scim.CreateUser`, …, `correlation_id` = the Bulk request's id); operations that fail
//! change nothing and appear in the BulkResponse, which the `scim.BulkOperation` event of
//! the whole request records.

use serde_json::Value;
use stele_scim::{BulkMethod, BulkRequest, OpOutcome, Operation, ResourceKind, ScimError};

use super::{groups, users, Ctx, Failure, Reply, Req};

pub(crate) async fn run(ctx: &Ctx, req: &Req, body: Option<&Value>) -> Result<Reply, Failure> {
    let body = body.ok_or_else(|| ScimError::invalid_syntax("a BulkRequest body is required"))?;
    let size = body.to_string().len();
    let mut plan = BulkRequest::parse(body, size, &super::config())?.plan();
    let prefix = req.path.strip_suffix(req.sub_path.as_str()).unwrap_or(&req.path).to_owned();
    while let Some(op) = plan.next_op() {
        let endpoint = op.kind.endpoint().trim_start_matches('/').to_owned();
        let sub_path = match &op.id {
            Some(id) => format!("/{endpoint}/{id}"),
            None => format!("/{endpoint}"),
        };
        let sub = Req {
            op: Operation::classify(op.method.as_str(), &sub_path),
            method: op.method.as_str().to_owned(),
            path: format!("{prefix}{sub_path}"),
            sub_path,
            query: Default::default(),
            body: op.data.clone(),
            correlation_id: Some(ctx.request_id.clone()),
        };
        let id = op.id.clone().unwrap_or_default();
        let condition = op.version.as_deref().map(stele_scim::parse_if_match);
        let data = op.data.as_ref();
        let result = match (op.kind, op.method) {
            (ResourceKind::User, BulkMethod::Post) => users::create(ctx, &sub, data).await,
            (ResourceKind::User, BulkMethod::Put | BulkMethod::Patch) => {
                users::update(ctx, &sub, &id, data, condition).await
            }
            (ResourceKind::User, BulkMethod::Delete) => users::delete(ctx, &sub, &id, condition).await,
            (ResourceKind::Group, BulkMethod::Post) => groups::create(ctx, &sub, data).await,
            (ResourceKind::Group, BulkMethod::Put | BulkMethod::Patch) => {
                groups::update(ctx, &sub, &id, data, condition).await
            }
            (ResourceKind::Group, BulkMethod::Delete) => groups::delete(ctx, &sub, &id, condition).await,
        };
        let outcome = match result {
            Ok(reply) => {
                let id = reply.target.as_ref().and_then(|t| t.id.clone()).unwrap_or(id);
                OpOutcome::Success {
                    location: ctx.location(op.kind, &id),
                    id,
                    version: reply.version.filter(|_| op.method != BulkMethod::Delete),
                    status: reply.status,
                }
            }
            Err(f) => OpOutcome::Failure(f.error),
        };
        plan.record(&op, outcome);
    }
    Ok(Reply::ok(200, plan.response()))
}
