//! Turning a proof request into store reads and back: a [`ProofPlan`] names the spans a
//! proof needs, the [`NodeRead`]s that fetch them, and folds the fetched hashes into the
//! proof. Stores only execute the reads.

use super::frontier::{combine_perfect, NodeRead};
use super::hash::Hash;
use super::tree::{consistency_spans, fold, inclusion_spans, perfect_subtrees, NodeId, Span};

/// The reads fetched hashes did not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree read returned {got} hashes where {expected} were needed")]
pub struct PlanError {
    pub expected: u64,
    pub got: usize,
}

/// The spans of a proof (or of one root), each as its perfect subtrees.
#[derive(Debug, Clone)]
pub struct ProofPlan {
    spans: Vec<Vec<NodeId>>,
}

impl ProofPlan {
    fn from_spans(spans: Vec<Span>) -> Self {
        ProofPlan { spans: spans.into_iter().map(perfect_subtrees).collect() }
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion(index: u64, size: u64) -> Self {
        Self::from_spans(inclusion_spans(index, size))
    }

    /// Consistency proof from `first` to `second` leaves.
    pub fn consistency(first: u64, second: u64) -> Self {
        Self::from_spans(consistency_spans(first, second))
    }

    /// The root of the tree of `size` leaves, as a one-hash "proof" (none for size 0).
    pub fn root(size: u64) -> Self {
        if size == 0 {
            return ProofPlan { spans: Vec::new() };
        }
        Self::from_spans(vec![Span { begin: 0, end: size }])
    }

    /// The reads to perform, in order.
    pub fn reads(&self) -> Vec<NodeRead> {
        self.spans.iter().flatten().map(|n| NodeRead::of(*n)).collect()
    }

    /// The proof's hashes from the results of [`ProofPlan::reads`], in the same order.
    pub fn assemble(&self, results: Vec<Vec<Hash>>) -> Result<Vec<Hash>, PlanError> {
        let reads = self.reads();
        if reads.len() != results.len() {
            return Err(PlanError { expected: reads.len() as u64, got: results.len() });
        }
        let mut nodes = Vec::with_capacity(results.len());
        for (read, hashes) in reads.iter().zip(results) {
            if hashes.len() as u64 != read.len() {
                return Err(PlanError { expected: read.len(), got: hashes.len() });
            }
            let got = hashes.len();
            nodes.push(combine_perfect(hashes).ok_or(PlanError { expected: read.len(), got })?);
        }
        let mut rest = nodes.as_slice();
        let mut proof = Vec::with_capacity(self.spans.len());
        for span in &self.spans {
            let (these, tail) = rest.split_at(span.len());
            rest = tail;
            proof.push(fold(these).ok_or(PlanError { expected: 1, got: 0 })?);
        }
        Ok(proof)
    }
}
