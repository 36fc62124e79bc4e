//! The aligned-trigram index of messages (`tri_blocks`, in the index file): what `message co
//! "…"` finds its candidates in.
//!
//! Stele's own layout, so it is written here: for each tenant, each indexer group and each
//! trigram the group's messages hold, one row `(tenant_no, gram, first, list)`, where `first`
//! is the group's first seq and `list` the seqs of the group's events whose message holds the
//! trigram, as varint deltas from `first`. The indexer builds a group's lists in memory (one
//! growing list per distinct trigram, appended in seq order: nothing to sort but the trigrams)
//! and writes each once, in key order. It replaced the FTS5 table `message_tri` (layout 7),
//! whose pending-terms hash, its sort at each flush and its segment merges were most of the
//! indexer's cost under a burst of batches: `stele reindex` of 200 000 events took a third
//! less CPU, and batches went from 0.22–0.26× to 0.29–0.34× the raw append (ARCHITECTURE,
//! sessions 39–40).
//!
//! Every trigram of a group has its row under the same `first`, so a needle's candidates are,
//! group by group, the intersection of its trigrams' lists (for each alternative of
//! [`needle_gram_starts`]), united over the alternatives. A group whose key one of the
//! trigrams lacks has no candidate; a group's lists are decoded only when all of them are
//! there.
//!
//! Which trigrams (the scheme is shared with PostgreSQL's `pg_trgm` path through
//! `stele_store::layout`): those starting at characters 0, 2, 4, … of the message
//! ([`GRAM_STEP`]), ASCII case-folded as `LIKE` compares, each packed into an integer (three
//! code points of 21 bits). A needle asks for its trigrams at each offset
//! ([`needle_gram_starts`] says why that finds every message that contains it); the exact
//! `LIKE` on the row drops the others.

use rusqlite::{params, Connection};
use rustc_hash::FxHashMap;
use stele_store::layout::{needle_gram_starts, GRAM_STEP};

/// The table; created with the rest of the index's schema.
pub(crate) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS tri_blocks (
        tenant_no INTEGER NOT NULL,
        gram      INTEGER NOT NULL,
        first     INTEGER NOT NULL,
        list      BLOB NOT NULL,
        PRIMARY KEY (tenant_no, gram, first)
    ) WITHOUT ROWID;
    -- The groups whose blocks are in `tri_blocks`: per tenant, the seqs each covers and how
    -- many events it read (what merging small groups goes by, `merge_window`).
    CREATE TABLE IF NOT EXISTS tri_groups (
        tenant_no INTEGER NOT NULL,
        first     INTEGER NOT NULL,
        last      INTEGER NOT NULL,
        events    INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, first)
    ) WITHOUT ROWID;
";

/// Bits of one code point in a packed trigram (Unicode needs 21).
const CHAR_BITS: u32 = 21;

/// The packed trigram of three characters, ASCII-folded: 63 bits, so a positive `i64`.
fn pack(chars: [char; 3]) -> i64 {
    chars.iter().fold(0i64, |acc, c| (acc << CHAR_BITS) | i64::from(u32::from(c.to_ascii_lowercase())))
}

/// Calls `f` with each aligned trigram of `message` (starting at characters 0, [`GRAM_STEP`],
/// …), in order, repeats included.
pub(crate) fn message_grams(message: &str, mut f: impl FnMut(i64)) {
    let mut window = ['\0'; 3];
    for (i, c) in message.chars().enumerate() {
        window = [window[1], window[2], c];
        if i >= 2 && (i - 2) % GRAM_STEP == 0 {
            f(pack(window));
        }
    }
}

/// The distinct aligned trigrams of `message`.
pub(crate) fn message_gram_set(message: &str) -> Vec<i64> {
    let mut grams = Vec::new();
    message_grams(message, |g| grams.push(g));
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// A needle's alternatives: for each offset, the distinct trigrams a message must all hold
/// (one of the alternatives, for every message that contains the needle). `None` when the
/// needle is too short for the index.
pub fn needle_grams(needle: &str) -> Option<Vec<Vec<i64>>> {
    let chars: Vec<char> = needle.chars().collect();
    let alternatives = needle_gram_starts(chars.len())?
        .into_iter()
        .map(|starts| {
            let mut grams: Vec<i64> = starts.iter().map(|&i| pack([chars[i], chars[i + 1], chars[i + 2]])).collect();
            grams.sort_unstable();
            grams.dedup();
            grams
        })
        .collect();
    Some(alternatives)
}

/// One group's trigram lists as the indexer gathers them: per distinct trigram, the offsets
/// (seq − the group's first seq) of the events holding it, ascending, each once. Keyed with
/// `FxHash`: a lookup per trigram of every message, where SipHash was a quarter of the
/// reading thread's time under a burst of batches (session 40's profile).
#[derive(Default)]
struct GroupGrams {
    lists: FxHashMap<i64, Vec<u32>>,
}

impl GroupGrams {
    /// Adds the trigrams of the message of the event at `offset` (offsets come in ascending
    /// order).
    fn add(&mut self, offset: u32, message: &str) {
        message_grams(message, |gram| {
            let list = self.lists.entry(gram).or_default();
            // A trigram seen earlier in the same message is already there.
            if list.last() != Some(&offset) {
                list.push(offset);
            }
        });
    }

    /// Writes one row per trigram for the tenant's group of seqs `first..=last` (`events`
    /// events read), in key order, and the group's row, inside the caller's transaction. With
    /// `replace`, the blocks of the groups it merges (within its seqs) go first.
    fn write(
        self,
        conn: &Connection,
        no: i64,
        (first, last): (i64, i64),
        events: i64,
        replace: bool,
    ) -> rusqlite::Result<()> {
        let mut lists: Vec<(i64, Vec<u32>)> = self.lists.into_iter().collect();
        lists.sort_unstable_by_key(|(gram, _)| *gram);
        let mut insert =
            conn.prepare_cached("INSERT INTO tri_blocks (tenant_no, gram, first, list) VALUES (?1, ?2, ?3, ?4)")?;
        let mut delete = conn.prepare_cached(
            "DELETE FROM tri_blocks WHERE tenant_no = ?1 AND gram = ?2 AND first >= ?3 AND first <= ?4",
        )?;
        let mut buf = Vec::new();
        for (gram, offsets) in lists {
            if replace {
                delete.execute(params![no, gram, first, last])?;
            }
            buf.clear();
            encode(&offsets, &mut buf);
            insert.execute(params![no, gram, first, buf])?;
        }
        if replace {
            conn.prepare_cached("DELETE FROM tri_groups WHERE tenant_no = ?1 AND first >= ?2 AND first <= ?3")?
                .execute(params![no, first, last])?;
        }
        conn.prepare_cached("INSERT INTO tri_groups (tenant_no, first, last, events) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![no, first, last, events])?;
        Ok(())
    }
}

/// A group of this many events or more is not merged further ([`merge_window`]), and the
/// indexer cuts a tenant's larger groups into groups of about this many ([`TriGroup::full`]),
/// so the lists it gathers stay a few MB (a group of 50 000 events had held ~12 MB of them at
/// the peak of a burst of batches). A 2.2 M-event tenant then has ~250 groups: a needle's
/// trigrams each read that many keys at most.
pub(crate) const FULL_GROUP: i64 = 8_192;

/// Adjacent small groups merged into one at a time ([`merge_window`]).
const FANOUT: usize = 8;

/// Which of the tenant's groups to merge into one, if any: once it has `2 × FANOUT` groups
/// under [`FULL_GROUP`] events, the `FANOUT` adjacent ones with the fewest events between
/// them (their seqs, `first..=last`).
///
/// Why: under single events the indexer's groups are small (a tenant's events of 400 ms), and
/// a trigram has a block in each group that holds it, so a needle's lookup would read a row
/// per group — a tenant written to one event at a time for a month would have millions.
/// Merging the smallest adjacent runs keeps the groups few (about the events over
/// [`FULL_GROUP`], plus under `2 × FANOUT` small ones, plus small ones a full group
/// separates) while each event's trigrams are rewritten a few times (sizes grow `FANOUT`-fold
/// per merge: log₈ of [`FULL_GROUP`] over a small group's size). FTS5 merges its segments
/// for the same reason.
pub(crate) fn merge_window(conn: &Connection, no: i64) -> rusqlite::Result<Option<(i64, i64)>> {
    let groups: Vec<(i64, i64, i64)> = conn
        .prepare_cached("SELECT first, last, events FROM tri_groups WHERE tenant_no = ?1 ORDER BY first")?
        .query_map([no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let small = |g: &(i64, i64, i64)| g.2 < FULL_GROUP;
    if groups.iter().filter(|g| small(g)).count() < 2 * FANOUT {
        return Ok(None);
    }
    let best = groups
        .windows(FANOUT)
        .filter(|w| w.iter().all(small))
        .min_by_key(|w| w.iter().map(|g| g.2).sum::<i64>())
        .and_then(|w| Some((w.first()?.0, w.last()?.1)));
    Ok(best)
}

/// A group's trigram lists being gathered ([`GroupGrams`]) with the seqs it covers and the
/// events it read.
pub(crate) struct TriGroup {
    grams: GroupGrams,
    pub(crate) first: i64,
    pub(crate) last: i64,
    pub(crate) events: i64,
}

impl TriGroup {
    /// An empty group whose first seq is `first`.
    pub(crate) fn new(first: i64) -> Self {
        Self { grams: GroupGrams::default(), first, last: first - 1, events: 0 }
    }

    /// Adds the event `seq` (ascending, from `first` on) and its message, if it has one.
    pub(crate) fn add(&mut self, seq: i64, message: Option<&str>) {
        if let Some(message) = message {
            // At most BATCH_EVENTS (or a merge window's) seqs from `first`.
            self.grams.add((seq - self.first) as u32, message);
        }
        (self.last, self.events) = (seq, self.events + 1);
    }

    /// The group is [`FULL_GROUP`] events: the next event starts another.
    pub(crate) fn full(&self) -> bool {
        self.events >= FULL_GROUP
    }

    /// Writes the group ([`GroupGrams::write`]); nothing when it read no event.
    pub(crate) fn write(self, conn: &Connection, no: i64, replace: bool) -> rusqlite::Result<()> {
        if self.events == 0 && !replace {
            return Ok(());
        }
        self.grams.write(conn, no, (self.first, self.last), self.events, replace)
    }
}

/// Ascending offsets as LEB128 varints of their differences (the first from 0).
fn encode(offsets: &[u32], out: &mut Vec<u8>) {
    let mut last = 0u32;
    for &offset in offsets {
        let mut delta = offset - last;
        last = offset;
        while delta >= 0x80 {
            out.push((delta as u8) | 0x80);
            delta >>= 7;
        }
        out.push(delta as u8);
    }
}

/// The seqs of a block whose key is `first`, appended to `out` in ascending order. A list
/// that ends inside a varint (a damaged file) yields the seqs before it: candidates are
/// re-checked on the rows, and the index is derivable (`stele reindex`).
fn decode(first: i64, list: &[u8], out: &mut Vec<i64>) {
    let (mut value, mut shift, mut seq) = (0u64, 0u32, first);
    for &byte in list {
        value |= u64::from(byte & 0x7f) << shift.min(63);
        shift += 7;
        if byte < 0x80 {
            seq = seq.saturating_add(value as i64);
            out.push(seq);
            (value, shift) = (0, 0);
        }
    }
}

/// The keys (group first seqs) of the tenant's blocks of `gram` that may hold a seq in
/// `lo..=hi`: from the last key at or below `lo` up to `hi`.
fn keys(conn: &Connection, no: i64, gram: i64, (lo, hi): (i64, i64)) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT first FROM tri_blocks WHERE tenant_no = ?1 AND gram = ?2 AND first <= ?4 AND first >= COALESCE(
             (SELECT MAX(first) FROM tri_blocks WHERE tenant_no = ?1 AND gram = ?2 AND first <= ?3), ?3)
         ORDER BY first",
    )?;
    let keys = stmt.query_map(params![no, gram, lo, hi], |r| r.get(0))?.collect();
    keys
}

/// Decodes the block `(no, gram, first)` into `out` (cleared first); false when there is none.
fn block(conn: &Connection, no: i64, gram: i64, first: i64, out: &mut Vec<i64>) -> rusqlite::Result<bool> {
    out.clear();
    let mut stmt =
        conn.prepare_cached("SELECT list FROM tri_blocks WHERE tenant_no = ?1 AND gram = ?2 AND first = ?3")?;
    let mut rows = stmt.query(params![no, gram, first])?;
    match rows.next()? {
        Some(row) => {
            decode(first, row.get_ref(0)?.as_blob()?, out);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Keeps the elements of the ascending `a` that are in the ascending `b`.
fn intersect(a: &mut Vec<i64>, b: &[i64]) {
    let mut j = 0;
    a.retain(|x| {
        while j < b.len() && b[j] < *x {
            j += 1;
        }
        j < b.len() && b[j] == *x
    });
}

/// The seqs in `lo..=hi` (ascending, at most `limit`: the least ones) of the tenant's indexed
/// events whose message holds every trigram of `grams`.
fn alternative(
    conn: &Connection,
    no: i64,
    grams: &[i64],
    range: (i64, i64),
    limit: usize,
) -> rusqlite::Result<Vec<i64>> {
    let mut out = Vec::new();
    // The groups every trigram has a block in, by the fewest first.
    let mut key_sets = grams.iter().map(|&g| keys(conn, no, g, range)).collect::<rusqlite::Result<Vec<_>>>()?;
    key_sets.sort_unstable_by_key(Vec::len);
    let Some((common, others)) = key_sets.split_first_mut() else { return Ok(out) };
    for other in others.iter() {
        intersect(common, other);
    }
    let (mut found, mut other) = (Vec::new(), Vec::new());
    for &first in common.iter() {
        let mut grams = grams.iter();
        let Some(&lead) = grams.next() else { break };
        if !block(conn, no, lead, first, &mut found)? {
            continue;
        }
        found.retain(|s| (range.0..=range.1).contains(s));
        for &gram in grams {
            if found.is_empty() {
                break;
            }
            if !block(conn, no, gram, first, &mut other)? {
                found.clear();
            }
            intersect(&mut found, &other);
        }
        out.extend_from_slice(&found);
        if out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    Ok(out)
}

/// The candidates of a needle (its [`needle_grams`]) among the tenant's indexed events with
/// a seq in `lo..=hi`: the seqs, ascending, at most `limit` (the least ones). Every indexed
/// event in the range whose message contains the needle is among them (within the limit).
pub(crate) fn candidates(
    conn: &Connection,
    no: i64,
    alternatives: &[Vec<i64>],
    range: (i64, i64),
    limit: usize,
) -> rusqlite::Result<Vec<i64>> {
    let mut all = Vec::new();
    for grams in alternatives {
        // The least `limit` of the union are among the least `limit` of each alternative.
        all.extend(alternative(conn, no, grams, range, limit)?);
    }
    all.sort_unstable();
    all.dedup();
    all.truncate(limit);
    Ok(all)
}

/// Removes `seqs` from the tenant's blocks of `gram` (the trigrams of redacted or expired
/// events' messages), rewriting each block that held one and deleting a block left empty.
/// `secure_delete` (on for the index file) overwrites the old bytes.
pub(crate) fn remove(conn: &Connection, no: i64, gram: i64, mut seqs: Vec<i64>) -> rusqlite::Result<()> {
    // Sorted, so each block's entries are looked up, not compared with every seq (a retention
    // pass removes thousands).
    seqs.sort_unstable();
    let (Some(&lo), Some(&hi)) = (seqs.first(), seqs.last()) else { return Ok(()) };
    let (mut list, mut offsets, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    for first in keys(conn, no, gram, (lo, hi))? {
        block(conn, no, gram, first, &mut list)?;
        let before = list.len();
        list.retain(|s| seqs.binary_search(s).is_err());
        if list.len() == before {
            continue;
        }
        if list.is_empty() {
            conn.prepare_cached("DELETE FROM tri_blocks WHERE tenant_no = ?1 AND gram = ?2 AND first = ?3")?
                .execute(params![no, gram, first])?;
            continue;
        }
        offsets.clear();
        offsets.extend(list.iter().map(|s| u32::try_from(s - first).unwrap_or(u32::MAX)));
        buf.clear();
        encode(&offsets, &mut buf);
        conn.prepare_cached("UPDATE tri_blocks SET list = ?4 WHERE tenant_no = ?1 AND gram = ?2 AND first = ?3")?
            .execute(params![no, gram, first, buf])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chars(gram: i64) -> String {
        (0..3)
            .rev()
            .map(|i| char::from_u32(((gram >> (i * CHAR_BITS)) & ((1 << CHAR_BITS) - 1)) as u32).unwrap_or('?'))
            .collect()
    }

    fn grams_of(message: &str) -> Vec<String> {
        let mut out = Vec::new();
        message_grams(message, |g| out.push(chars(g)));
        out
    }

    #[test]
    fn messages_are_indexed_by_aligned_trigrams() {
        assert!(grams_of("ab").is_empty(), "shorter than a trigram");
        assert_eq!(grams_of("Abcd"), ["abc"], "folded; a partial trigram is left out");
        assert_eq!(grams_of("abcdef"), ["abc", "cde"], "from every second character");
        assert_eq!(grams_of("abcdefg"), ["abc", "cde", "efg"]);
        assert_eq!(grams_of("zoË \"x"), ["zoË", "Ë \""], "only ASCII is folded, as LIKE compares");
        assert!(pack(['\u{10FFFF}'; 3]) > 0, "the largest code points still pack into a positive integer");
    }

    #[test]
    fn needles_ask_every_offset() {
        let text = |alts: Vec<Vec<i64>>| -> Vec<Vec<String>> {
            alts.into_iter().map(|a| a.into_iter().map(chars).collect()).collect()
        };
        assert_eq!(needle_grams("abc"), None, "one offset would have no whole trigram");
        assert_eq!(text(needle_grams("ABCD").expect("long enough")), [["abc"], ["bcd"]]);
        assert_eq!(
            text(needle_grams("abcdefg").expect("long enough")),
            vec![vec!["abc", "cde", "efg"], vec!["bcd", "def"]]
        );
        let long = needle_grams(&"x".repeat(100)).expect("long");
        assert_eq!(long, vec![vec![pack(['x'; 3])]; GRAM_STEP], "repeats asked for once");
    }

    #[test]
    fn lists_round_trip_through_their_encoding() {
        let offsets = [0u32, 1, 127, 128, 300, 16_383, 16_384, 2_000_000, u32::MAX];
        let mut buf = Vec::new();
        encode(&offsets, &mut buf);
        let mut seqs = Vec::new();
        decode(1000, &buf, &mut seqs);
        let want: Vec<i64> = offsets.iter().map(|&o| 1000 + i64::from(o)).collect();
        assert_eq!(seqs, want);
        // A list cut inside a varint keeps what came before.
        let mut cut = Vec::new();
        decode(0, &buf[..buf.len() - 1], &mut cut);
        assert_eq!(cut.len(), offsets.len() - 1);
    }

    proptest! {
        /// Wherever a needle is in a message, and whatever its case, the message holds every
        /// trigram of one of its alternatives (so the index finds it).
        #[test]
        fn every_occurrence_is_found_by_one_alternative(
            needle in "[a-zA-Z0-9 é\"%_]{4,40}",
            prefix in "[a-z ]{0,5}",
            suffix in "[a-z ]{0,5}",
        ) {
            let alternatives = needle_grams(&needle).expect("long enough");
            let message = format!("{prefix}{}{suffix}", needle.to_ascii_uppercase());
            let held = message_gram_set(&message);
            prop_assert!(alternatives.iter().any(|alt| alt.iter().all(|g| held.contains(g))), "{needle:?} in {message:?}");
        }
    }

    /// Positive control of the property above: a message without the needle's trigrams holds
    /// no alternative whole.
    #[test]
    fn a_message_without_the_needle_holds_no_alternative() {
        let held = message_gram_set("nothing like it");
        let alternatives = needle_grams("hello").expect("query");
        assert!(!alternatives.iter().any(|alt| alt.iter().all(|g| held.contains(g))));
        let held = message_gram_set("well, hello there");
        assert!(alternatives.iter().any(|alt| alt.iter().all(|g| held.contains(g))));
    }

    /// Merging starts at `2 × FANOUT` small groups, takes the `FANOUT` adjacent small ones
    /// with the fewest events, and never a full group.
    #[test]
    fn the_smallest_adjacent_small_groups_are_merged() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(SCHEMA).expect("schema");
        let add = |first: i64, events: i64| {
            conn.execute(
                "INSERT INTO tri_groups (tenant_no, first, last, events) VALUES (1, ?1, ?2, ?3)",
                params![first, first + events - 1, events],
            )
            .expect("group");
            first + events
        };
        // A full group, then 15 small ones: one short of merging.
        let mut next = add(1, FULL_GROUP);
        let sizes = [50, 40, 30, 20, 10, 9, 9, 9, 9, 9, 9, 9, 9, 60, 70];
        let mut firsts = Vec::new();
        for events in sizes {
            firsts.push(next);
            next = add(next, events);
        }
        assert_eq!(merge_window(&conn, 1).expect("window"), None, "15 small groups");
        assert_eq!(merge_window(&conn, 2).expect("window"), None, "another tenant has none");
        // The 16th: the eight adjacent with the fewest events are the eight 9s (72, where the
        // 10 and seven 9s are 73).
        firsts.push(next);
        add(next, 1000);
        assert_eq!(merge_window(&conn, 1).expect("window"), Some((firsts[5], firsts[12] + 9 - 1)));
        // A full group in the way breaks a window.
        conn.execute("UPDATE tri_groups SET events = ?1 WHERE first = ?2", params![FULL_GROUP, firsts[8]])
            .expect("full");
        let window = merge_window(&conn, 1).expect("window");
        assert_eq!(window, None, "15 small groups again");
    }

    /// Blocks written by groups, read back as candidates and removed from: against a plain
    /// scan of the same messages.
    #[test]
    fn candidates_are_the_groups_intersections() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(SCHEMA).expect("schema");
        let messages: Vec<String> = (1..=300)
            .map(|seq| format!("event {seq} {}", if seq % 7 == 0 { "user.deleted" } else { "user.created" }))
            .collect();
        // Three groups: seqs 1–100, 101–250, 251–300.
        for (first, last) in [(1usize, 100usize), (101, 250), (251, 300)] {
            let mut group = GroupGrams::default();
            for seq in first..=last {
                group.add((seq - first) as u32, &messages[seq - 1]);
            }
            group.write(&conn, 7, (first as i64, last as i64), (last - first + 1) as i64, false).expect("write");
        }
        let alternatives = needle_grams("DELETED").expect("needle");
        let want: Vec<i64> = (1..=300).filter(|s| s % 7 == 0).collect();
        assert_eq!(candidates(&conn, 7, &alternatives, (1, 300), usize::MAX).expect("read"), want);
        assert_eq!(candidates(&conn, 7, &alternatives, (1, 300), 5).expect("read"), want[..5]);
        let ranged: Vec<i64> = want.iter().copied().filter(|s| (90..=260).contains(s)).collect();
        assert_eq!(candidates(&conn, 7, &alternatives, (90, 260), usize::MAX).expect("read"), ranged);
        assert!(candidates(&conn, 8, &alternatives, (1, 300), usize::MAX).expect("read").is_empty(), "another tenant");
        // Removing events' trigrams (as a purge does: per trigram, the seqs holding it) leaves
        // the others.
        let purge = |seqs: &[i64]| {
            let mut by_gram: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
            for &seq in seqs {
                for gram in message_gram_set(&messages[seq as usize - 1]) {
                    by_gram.entry(gram).or_default().push(seq);
                }
            }
            for (gram, seqs) in by_gram {
                remove(&conn, 7, gram, seqs).expect("remove");
            }
        };
        purge(&[7, 14, 105, 112]);
        let left: Vec<i64> = want.iter().copied().filter(|s| ![7, 14, 105, 112].contains(s)).collect();
        assert_eq!(candidates(&conn, 7, &alternatives, (1, 300), usize::MAX).expect("read"), left);
        let only: Vec<i64> = (1..=300).filter(|s| s % 7 == 0 && *s > 250).collect();
        purge(&left.iter().copied().filter(|s| *s <= 250).collect::<Vec<_>>());
        assert_eq!(candidates(&conn, 7, &alternatives, (1, 300), usize::MAX).expect("read"), only);
        let empty: i64 =
            conn.query_row("SELECT COUNT(*) FROM tri_blocks WHERE length(list) = 0", [], |r| r.get(0)).expect("count");
        assert_eq!(empty, 0, "blocks left empty are deleted");
        let rows = |conn: &Connection| -> i64 {
            conn.query_row("SELECT COUNT(*) FROM tri_blocks", [], |r| r.get(0)).expect("count")
        };
        let before = rows(&conn);
        purge(&[251]);
        assert!(rows(&conn) < before, "trigrams only seq 251 held are gone with it");
    }
}
