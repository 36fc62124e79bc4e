//! Who moves a backend's index marks (issue #13): both SQL backends index in the background
//! and take the same test modes, so the conformance suite runs the same four ways on each.

/// How the index follows the log. Only `Background` is for production; the others let the
/// conformance suite put the mark where it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexMode {
    /// A background indexer indexes committed events in groups (the default).
    Background,
    /// Nothing is ever indexed: every read scans the tail (the mark stays at 0).
    Never,
    /// Every write is indexed before it is answered (the mark is always at the head).
    Eager,
    /// After every write, each tenant is indexed up to a pseudo-random point between its
    /// mark and its head (seeded).
    Random(u64),
}
