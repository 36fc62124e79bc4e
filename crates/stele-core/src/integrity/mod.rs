//! Tamper evidence (brief §6): each tenant's events are the leaves of an RFC 6962 / RFC 9162
//! Merkle tree in `seq` order; the deployment signs tree heads with Ed25519; inclusion and
//! consistency proofs let anyone check an event or a later head against an earlier one.
//! Pure computation: stores read and write the hashes this module names.

pub mod canonical;
pub mod frontier;
pub mod hash;
pub mod head;
pub mod leaf;
pub mod plan;
pub mod tree;
pub mod verify;

pub use frontier::{combine_perfect, is_stored_level, Frontier, NodeRead, STRIDE};
pub use hash::{leaf_hash, node_hash, Hash, HashError};
pub use head::{HeadKey, HeadSigner, SignatureError, SignedTreeHead, TreeHead};
pub use leaf::{canonical_event, event_leaf, served_leaf, LeafError, NOT_HASHED};
pub use plan::{PlanError, ProofPlan};
pub use tree::{consistency_spans, fold, inclusion_spans, perfect_subtrees, NodeId, Span};
pub use verify::{root_from_inclusion, verify_consistency, verify_inclusion, ProofError};
