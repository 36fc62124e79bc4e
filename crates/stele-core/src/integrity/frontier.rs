//! How a store keeps a tenant's tree: leaf hashes with the events, plus the hashes of the
//! perfect subtrees at every [`STRIDE`]-th level ("stored nodes"): about one row per 15
//! events. Any perfect subtree is then at most `2^(STRIDE-1)` reads of one index range away
//! ([`NodeRead`]), so a proof of `log2(n)` hashes takes O(log n) reads at any log size.
//!
//! [`Frontier`] is the right edge of the tree (one perfect subtree per set bit of the size):
//! appending a leaf needs only it, and it yields the stored nodes the append completes.

use super::hash::{node_hash, Hash};
use super::tree::{fold, perfect_subtrees, NodeId, Span};

/// Stored nodes sit at levels `STRIDE, 2*STRIDE, …`.
pub const STRIDE: u32 = 4;

/// Whether a store keeps this level's nodes.
pub fn is_stored_level(level: u32) -> bool {
    level > 0 && level.is_multiple_of(STRIDE)
}

/// One read a store performs to get a perfect subtree's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeRead {
    /// Leaf hashes of leaves `[begin, end)` (leaf `i` is the event with seq `i + 1`).
    Leaves { begin: u64, end: u64 },
    /// Stored nodes of `level` with indexes `[begin, end)`.
    Stored { level: u32, begin: u64, end: u64 },
}

impl NodeRead {
    /// How to read `node`: itself if stored, else the stored level (or leaves) below it.
    pub fn of(node: NodeId) -> Self {
        let base = node.level - node.level % STRIDE;
        let width = node.level - base;
        let (begin, end) = (node.index << width, (node.index + 1) << width);
        if base == 0 {
            NodeRead::Leaves { begin, end }
        } else {
            NodeRead::Stored { level: base, begin, end }
        }
    }

    /// How many hashes the read must return.
    pub fn len(&self) -> u64 {
        match *self {
            NodeRead::Leaves { begin, end } | NodeRead::Stored { begin, end, .. } => end - begin,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The hash of a perfect subtree from the hashes its [`NodeRead`] returned (a power of two
/// of them, combined pairwise).
pub fn combine_perfect(mut hashes: Vec<Hash>) -> Option<Hash> {
    if hashes.is_empty() || !hashes.len().is_power_of_two() {
        return None;
    }
    while hashes.len() > 1 {
        hashes = hashes.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    hashes.pop()
}

/// The right edge of a tree of `size` leaves: its perfect subtrees, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(NodeId, Hash)>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The perfect subtrees a tree of `size` leaves has on its right edge, largest first:
    /// the nodes to read to rebuild a frontier with [`Frontier::from_parts`].
    pub fn nodes_of(size: u64) -> Vec<NodeId> {
        if size == 0 {
            return Vec::new();
        }
        perfect_subtrees(Span { begin: 0, end: size })
    }

    /// The reads that rebuild the frontier of a tree of `size` leaves from a store
    /// ([`Frontier::from_reads`]).
    pub fn reads_of(size: u64) -> Vec<NodeRead> {
        Self::nodes_of(size).into_iter().map(NodeRead::of).collect()
    }

    /// Rebuilds a frontier from the results of [`Frontier::reads_of`]`(size)`, in order.
    pub fn from_reads(size: u64, results: Vec<Vec<Hash>>) -> Option<Self> {
        let parts = results.into_iter().map(combine_perfect).collect::<Option<Vec<_>>>()?;
        Self::from_parts(size, parts)
    }

    /// Rebuilds a frontier from the hashes of [`Frontier::nodes_of`]`(size)`, in order.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        let ids = Self::nodes_of(size);
        if ids.len() != hashes.len() {
            return None;
        }
        Some(Frontier { size, nodes: ids.into_iter().zip(hashes).collect() })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root hash (the empty-tree hash for size 0).
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.nodes.iter().map(|(_, h)| *h).collect();
        fold(&hashes).unwrap_or_else(Hash::empty)
    }

    /// Appends a leaf; calls `stored` with every stored-level node the append completes.
    pub fn push(&mut self, leaf: Hash, mut stored: impl FnMut(NodeId, Hash)) {
        let mut node = (NodeId::new(0, self.size), leaf);
        self.size += 1;
        while let Some((last, hash)) = self.nodes.last().copied() {
            if last.level != node.0.level {
                break;
            }
            self.nodes.pop();
            let parent = NodeId::new(last.level + 1, last.index >> 1);
            node = (parent, node_hash(&hash, &node.1));
            if is_stored_level(parent.level) {
                stored(parent, node.1);
            }
        }
        self.nodes.push(node);
    }
}
