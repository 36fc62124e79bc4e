//! Proofs from a store: a [`ProofPlan`] says which hashes a proof needs, the store reads
//! them ([`Store::tree_reads`]), the plan folds them into the proof.

use stele_core::integrity::{Hash, ProofPlan};
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
