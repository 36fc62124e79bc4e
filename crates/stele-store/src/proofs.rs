//! Proofs from a store: a [`ProofPlan`] says which hashes a proof needs, the store reads
//! them ([`Store::tree_reads`]), the plan folds them into the proof.

use std::collections::HashMap;

use stele_core::integrity::{Hash, NodeRead, ProofPlan};
use stele_core::TenantId;

use crate::{Store, StoreError};

async fn run(store: &dyn Store, tenant: &TenantId, plan: ProofPlan) -> Result<Vec<Hash>, StoreError> {
    let results = store.tree_reads(tenant, &plan.reads()).await?;
    plan.assemble(results).map_err(|e| StoreError::Tree(e.to_string()))
}

/// Inclusion proof of leaf `index` (seq − 1) in the tree of `size` leaves.
pub async fn inclusion(store: &dyn Store, tenant: &TenantId, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
    run(store, tenant, ProofPlan::inclusion(index, size)).await
}

/// Inclusion proofs of leaves `indexes` in the tree of `size` leaves, with one store read
/// for all of them: neighbouring leaves share most of their nodes, so each distinct node
/// read is asked for once. An export or a stream batch proves each of its events; one
/// read per event had made exporting a minute of events take seconds.
pub async fn inclusions(
    store: &dyn Store,
    tenant: &TenantId,
    indexes: &[u64],
    size: u64,
) -> Result<Vec<Vec<Hash>>, StoreError> {
    let plans: Vec<ProofPlan> = indexes.iter().map(|&i| ProofPlan::inclusion(i, size)).collect();
    let mut distinct: Vec<NodeRead> = Vec::new();
    let mut position: HashMap<NodeRead, usize> = HashMap::new();
    let slots: Vec<Vec<usize>> = plans
        .iter()
        .map(|plan| {
            plan.reads()
                .into_iter()
                .map(|read| {
                    *position.entry(read).or_insert_with(|| {
                        distinct.push(read);
                        distinct.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    let results = if distinct.is_empty() { Vec::new() } else { store.tree_reads(tenant, &distinct).await? };
    plans
        .iter()
        .zip(slots)
        .map(|(plan, slots)| {
            let mine = slots.iter().map(|&k| results.get(k).cloned().unwrap_or_default()).collect();
            plan.assemble(mine).map_err(|e| StoreError::Tree(e.to_string()))
        })
        .collect()
}

/// Consistency proof from `first` to `second` leaves.
pub async fn consistency(
    store: &dyn Store,
    tenant: &TenantId,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, StoreError> {
    run(store, tenant, ProofPlan::consistency(first, second)).await
}

/// Root of the tree of `size` leaves.
pub async fn root(store: &dyn Store, tenant: &TenantId, size: u64) -> Result<Hash, StoreError> {
    Ok(run(store, tenant, ProofPlan::root(size)).await?.first().copied().unwrap_or_else(Hash::empty))
}
