//! The one backoff between delivery attempts, for every sink: capped exponential with full
//! jitter ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015): after `n`
//! consecutive failures wait a uniformly random time in `[0, min(cap, base · 2^(n-1))]`.
//!
//! Full jitter spreads the retries of many streams that failed together (one SIEM down for
//! every tenant) over the whole window instead of bunching them at its end. With the
//! defaults (1 s, 5 min) the ceiling doubles for 9 failures and then stays at 5 min, so a
//! destination that comes back is tried again within 5 minutes at the latest.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling after the first failure.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// The upper bound of the delay after `failures` consecutive failures: zero before the
    /// first failure, then `base`, doubling up to `cap`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        // 2^(n-1) saturates long before u32::MAX failures; past 2^63 the cap has won anyway.
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).unwrap_or(self.cap).min(self.cap)
    }

    /// A delay drawn uniformly from `[0, ceiling(failures)]`.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(failures);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.gen_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_ceiling_doubles_from_base_to_cap() {
        let b = Backoff::default();
        let ceilings: Vec<u64> = (0..12).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.ceiling(u32::MAX), b.cap);
    }

    proptest! {
        #[test]
        fn delay_stays_within_zero_and_the_ceiling(
            base_ms in 1u64..10_000,
            cap_ms in 1u64..1_000_000,
            failures in 0u32..200,
            seed in any::<u64>(),
        ) {
            let b = Backoff { base: Duration::from_millis(base_ms), cap: Duration::from_millis(cap_ms) };
            let mut rng = StdRng::seed_from_u64(seed);
            let d = b.delay(failures, &mut rng);
            prop_assert!(d <= b.ceiling(failures));
            prop_assert!(d <= b.cap);
            prop_assert!(d >= Duration::ZERO);
        }

        #[test]
        fn the_ceiling_doubles_until_the_cap(
            base_ms in 1u64..10_000,
            cap_ms in 1u64..1_000_000,
            failures in 1u32..200,
        ) {
            let b = Backoff { base: Duration::from_millis(base_ms), cap: Duration::from_millis(cap_ms) };
            prop_assert_eq!(b.ceiling(1), b.base.min(b.cap));
            prop_assert_eq!(b.ceiling(failures + 1), (b.ceiling(failures) * 2).min(b.cap));
        }
    }
}
