//! The process's allocator: jemalloc for Rust's allocations and, through its unprefixed
//! `malloc`, for SQLite's page caches too, returning freed memory to the system 100 ms after
//! it is freed.
//!
//! Chosen for memory at the same CPU (session 43, issue #13's RSS target): under `stele bench
//! ingest --server`'s batches the server's peak RSS went from 163–205 MiB (mimalloc, SQLite on
//! glibc) to 111–126 MiB in eight runs of nine; jemalloc's own 10 s decay peaked at 211–298.
//! ARCHITECTURE's session-43 bullet has the runs and the settings tried.

use tikv_jemalloc_ctl::{Access, AsName};

/// How long freed ("dirty") pages stay with an arena before they are returned to the
/// system, ms. jemalloc's default is 10 000.
pub const DIRTY_DECAY_MS: isize = 100;

/// How long returned-but-mapped ("muzzy") pages stay: 0 unmaps them at once.
pub const MUZZY_DECAY_MS: isize = 0;

/// Sets the decay times of every arena, present and future, unless `MALLOC_CONF` in the
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
    let arenas: u32 = b"arenas.narenas\0".name().read()?;
    for (option, ms) in [("dirty_decay_ms", DIRTY_DECAY_MS), ("muzzy_decay_ms", MUZZY_DECAY_MS)] {
        // The default of the arenas created from now on (lazily, as threads allocate)…
        format!("arenas.{option}\0").as_bytes().name().write(ms)?;
        // …and the arenas that exist already: arena 0, and any a thread started before this
        // made. Writing to a slot with no arena yet fails, which is fine.
        format!("arena.0.{option}\0").as_bytes().name().write(ms)?;
        for i in 1..arenas {
            let _ = format!("arena.{i}.{option}\0").as_bytes().name().write(ms);
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
