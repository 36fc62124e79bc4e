//! Where each filterable attribute lives in the SQL backends' shared layout: a column of
//! `events`, terms in `event_terms`, or a path into the event's metadata. Both compilers
//! (SQLite, PostgreSQL) read this one mapping and differ only in SQL dialect.

use stele_core::Attr;

/// Where an attribute's values live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A column of `events`; `true` when it holds integers.
    Column(&'static str, bool),
    /// Rows of `event_terms` whose (ASCII-folded) term starts with this prefix (`target.id=`).
    Term(String),
    /// A path below the event's `metadata` object.
    Json(Vec<String>),
}

pub fn place(attr: &Attr) -> Place {
    let col = |c| Place::Column(c, false);
    match attr {
        Attr::Id => col("id"),
        Attr::Seq => Place::Column("seq", true),
        Attr::Time => Place::Column("time", true),
        Attr::ReceivedAt => Place::Column("received_at", true),
        Attr::Action => col("action"),
        Attr::Status => col("status"),
        Attr::Origin => col("origin"),
        Attr::Message => col("message"),
        Attr::Reason => col("reason"),
        Attr::CorrelationId => col("correlation_id"),
        Attr::ActorType => col("actor_type"),
        Attr::ActorId => col("actor_id"),
        Attr::ActorName => col("actor_name"),
        Attr::ActorEmail => col("actor_email"),
        Attr::ActorIp => col("actor_ip"),
        Attr::RequestMethod => col("request_method"),
        Attr::RequestPath => col("request_path"),
        Attr::RequestStatusCode => Place::Column("request_status", true),
        Attr::RequestId => col("request_id"),
        Attr::TargetType => Place::Term("target.type=".into()),
        Attr::TargetId => Place::Term("target.id=".into()),
        Attr::TargetName => Place::Term("target.name=".into()),
        Attr::TargetEmail => Place::Term("target.email=".into()),
        Attr::Context(key) => Place::Term(format!("context.{key}=").to_ascii_lowercase()),
        Attr::Metadata(path) => Place::Json(path.clone()),
    }
}

/// How both compilers write a view's (exact) string comparison: single-valued `ne` becomes
/// a negated `eq`; a positive comparison keeps the case-insensitive comparison in front of
/// the exact check (`prefilter`) wherever the exact match is a subset of it, so the indexes
/// still narrow the rows — everywhere but `ne` on `target.*` ("some target holds another
/// value" exactly is not a subset of it case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactPlan {
    pub op: stele_core::CompareOp,
    pub negate: bool,
    pub prefilter: bool,
}

pub fn exact_plan(attr: &Attr, op: stele_core::CompareOp, negate: bool) -> ExactPlan {
    use stele_core::CompareOp::{Eq, Ne};
    let (op, negate) = if op == Ne && !attr.is_multi() { (Eq, !negate) } else { (op, negate) };
    ExactPlan { op, negate, prefilter: !negate && op != Ne }
}

/// A filter literal as the text stored in text columns and terms.
pub fn text_of(v: &stele_core::filter::Value) -> String {
    match v {
        stele_core::filter::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Escapes LIKE's wildcards (`%`, `_`) and the escape character itself, for `LIKE … ESCAPE '\'`
/// (the same in SQLite and PostgreSQL).
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Substring search by aligned trigrams, the same on both backends (Stele's own scheme, so
/// it is written here): a message is indexed by its trigrams starting at characters 0,
/// `GRAM_STEP`, 2·`GRAM_STEP`, …. A needle that occurs at a position `p` then has all of its
/// own trigrams starting at the offset `o ≡ -p (mod GRAM_STEP)`, `o + GRAM_STEP`, … among the
/// message's, so "its trigrams at offset 0, or those at 1, or …" finds every message that
/// contains it — and some that do not, which the exact `LIKE` on the row then drops.
pub const GRAM_STEP: usize = 2;

/// The shortest needle aligned trigrams can answer (every offset `0..GRAM_STEP` has a whole
/// trigram).
pub const MIN_NEEDLE: usize = 3 + GRAM_STEP - 1;

/// Most trigrams one offset of a substring search looks up.
pub const MAX_GRAMS: usize = 4;

/// For each offset `0..GRAM_STEP`, the character positions in a needle of `len` characters of
/// the trigrams to look up (all of them at that offset, or [`MAX_GRAMS`] spread over the
/// needle). `None` when the needle is shorter than [`MIN_NEEDLE`].
pub fn needle_gram_starts(len: usize) -> Option<Vec<Vec<usize>>> {
    if len < MIN_NEEDLE {
        return None;
    }
    let offsets = (0..GRAM_STEP).map(|offset| {
        let starts: Vec<usize> = (offset..=len - 3).step_by(GRAM_STEP).collect();
        if starts.len() <= MAX_GRAMS {
            starts
        } else {
            (0..MAX_GRAMS).map(|i| starts[i * (starts.len() - 1) / (MAX_GRAMS - 1)]).collect()
        }
    });
    Some(offsets.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_ask_for_their_trigrams_at_each_offset() {
        assert_eq!(needle_gram_starts(3), None, "one offset would have no whole trigram");
        assert_eq!(needle_gram_starts(4), Some(vec![vec![0], vec![1]]));
        assert_eq!(needle_gram_starts(7), Some(vec![vec![0, 2, 4], vec![1, 3]]));
        // At most MAX_GRAMS per offset, the first and the last kept.
        assert_eq!(needle_gram_starts(36), Some(vec![vec![0, 10, 20, 32], vec![1, 11, 21, 33]]));
    }
}
