//! The process's allocator: jemalloc for Rust's allocations and, through its unprefixed
//! `malloc`, for SQLite's page caches too, returning freed memory to the system 100 ms after
//! it is freed.
//!
//! Measured (session 43, issue #13's RSS target), `stele bench ingest --server` on this
//! 2-core machine, 200 000 events in batches of 1 000, a fresh server per run, alternated
//! with the mimalloc build it replaces, `VmRSS` sampled every 200 ms:
//!
//! | build | peak RSS, MiB | median RSS, MiB | server CPU ticks |
//! |---|---|---|---|
//! | mimalloc (1 s purge; SQLite on glibc), 11 runs | 163–205 | 127–154 | 1 236–1 605 |
//! | jemalloc, its defaults (10 s decay), 2 runs | 211, 298 | 180, 219 | 1 181, 1 253 |
//! | jemalloc, 100 ms dirty decay, no muzzy pages, 9 runs | 111–166 (eight ≤ 126) | 92–103 | 1 266–1 516 |
//!
//! Single events (64 clients, 30 000 events), four alternated pairs: 8 088–10 747 events/s
//! with mimalloc against 8 424–11 040 with jemalloc at 100 ms, p99 15–22 ms both.
//! ARCHITECTURE's session-43 bullet has the rest.

use tikv_jemalloc_ctl::{Access, AsName};

/// How long freed ("dirty") pages stay with an arena before they are returned to the
/// system, ms. jemalloc's default is 10 000.
pub const DIRTY_DECAY_MS: isize = 100;

/// How long returned-but-mapped ("muzzy") pages stay: 0 unmaps them at once.
pub const MUZZY_DECAY_MS: isize = 0;

/// Sets the decay times for every arena, present and future, unless `MALLOC_CONF` in the
/// environment sets the allocator's options itself (it is read when the process starts,
/// and is then the operator's choice). Call first thing in `main`, before threads start.
pub fn tune() {
    if std::env::var_os("MALLOC_CONF").is_some() {
        return;
    }
    if let Err(e) = set_decay() {
        eprintln!("stele: could not set the allocator's decay times ({e}); memory use may be higher");
    }
}

fn set_decay() -> tikv_jemalloc_ctl::Result<()> {
    // The defaults of arenas created from now on (one per thread group, lazily)…
    b"arenas.dirty_decay_ms\0".name().write(DIRTY_DECAY_MS)?;
    b"arenas.muzzy_decay_ms\0".name().write(MUZZY_DECAY_MS)?;
    // …and the arenas that exist already (arena 0 at least; the others are not created yet,
    // and writing to one that is not fails, which is fine).
    let arenas: u32 = b"arenas.narenas\0".name().read()?;
    for i in 0..arenas {
        for (option, ms) in [("dirty", DIRTY_DECAY_MS), ("muzzy", MUZZY_DECAY_MS)] {
            let name = format!("arena.{i}.{option}_decay_ms\0");
            match name.as_bytes().name().write(ms) {
                Err(e) if i == 0 => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decay times are in effect for arena 0 and for arenas created afterwards (a new
    /// thread's allocations land in another arena).
    #[test]
    fn the_decay_times_apply_to_every_arena() {
        if std::env::var_os("MALLOC_CONF").is_some() {
            eprintln!("skipped: MALLOC_CONF is set, so tune() leaves the allocator as it is");
            return;
        }
        // Positive control: jemalloc's own default is not ours, so the test sees the change.
        let before: isize = b"arenas.dirty_decay_ms\0".name().read().expect("read");
        assert_ne!(before, DIRTY_DECAY_MS);
        tune();
        for option in ["arenas.dirty_decay_ms\0", "arena.0.dirty_decay_ms\0"] {
            let ms: isize = option.as_bytes().name().read().expect("read");
            assert_eq!(ms, DIRTY_DECAY_MS, "{option}");
        }
        let muzzy: isize = b"arena.0.muzzy_decay_ms\0".name().read().expect("read");
        assert_eq!(muzzy, MUZZY_DECAY_MS);
        // Threads spread over arenas; every arena that exists now has the decay times.
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| drop(vec![0u8; 1 << 16]));
            }
        });
        let arenas: u32 = b"arenas.narenas\0".name().read().expect("read");
        let mut seen = 0;
        for i in 0..arenas {
            let name = format!("arena.{i}.dirty_decay_ms\0");
            if let Ok(ms) = Access::<isize>::read(name.as_bytes().name()) {
                assert_eq!(ms, DIRTY_DECAY_MS, "arena {i}");
                seen += 1;
            }
        }
        assert!(seen > 1, "the threads' allocations made arenas beyond the first");
    }
}
