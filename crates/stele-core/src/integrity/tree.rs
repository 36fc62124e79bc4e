//! Which subtree hashes a proof needs (RFC 9162 §2.1.3.1 and §2.1.4.1), expressed as
//! perfect subtrees so that a store can read them from what it keeps.
//!
//! Written here rather than taken from a crate because proofs must come from stored
//! subtree hashes at any log size; RFC 6962 crates (`ct-merkle`, `rs_merkle`) build proofs
//! from a tree held in memory. The algorithms are the RFC's own recursion, checked against
//! the RFC 6962 test vectors of transparency-dev/merkle (see the tests).

use super::hash::{node_hash, Hash};

/// A perfect subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u32, index: u64) -> Self {
        NodeId { level, index }
    }
    /// First leaf covered.
    pub fn begin(&self) -> u64 {
        self.index << self.level
    }
    /// One past the last leaf covered.
    pub fn end(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// A leaf range `[begin, end)` whose Merkle Tree Hash a proof contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub begin: u64,
    pub end: u64,
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees whose hashes make MTH(D[begin:end]), left to right. For the spans
/// the RFC recursion produces (begin aligned to a power of two ≥ the span's length) the
/// MTH is their right fold, see [`fold`].
pub fn perfect_subtrees(span: Span) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut begin = span.begin;
    let mut left = span.end - span.begin;
    while left > 0 {
        let level = 63 - left.leading_zeros();
        out.push(NodeId::new(level, begin >> level));
        begin += 1 << level;
        left -= 1 << level;
    }
    out
}

/// MTH of a span from the hashes of its [`perfect_subtrees`], in the same order.
pub fn fold(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The spans whose hashes form the inclusion proof of leaf `index` in a tree of `size`
/// leaves, from the leaf's sibling up (RFC 9162 PATH).
pub fn inclusion_spans(index: u64, size: u64) -> Vec<Span> {
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    out
}

fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Span>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, lo, lo + k, out);
        out.push(Span { begin: lo + k, end: hi });
    } else {
        path(m - k, lo + k, hi, out);
        out.push(Span { begin: lo, end: lo + k });
    }
}

/// The spans whose hashes form the consistency proof from size `m` to size `n`
/// (0 < m < n; RFC 9162 PROOF/SUBPROOF).
pub fn consistency_spans(m: u64, n: u64) -> Vec<Span> {
    let mut out = Vec::new();
    if 0 < m && m < n {
        subproof(m, 0, n, true, &mut out);
    }
    out
}

fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Span>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(Span { begin: lo, end: hi });
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, lo, lo + k, whole, out);
        out.push(Span { begin: lo + k, end: hi });
    } else {
        subproof(m - k, lo + k, hi, false, out);
        out.push(Span { begin: lo, end: lo + k });
    }
}
