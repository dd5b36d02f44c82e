//! Burn's random number generator is global to the process (seeding one device may seed them
//! all), so two trainings in parallel threads would draw from each other's stream. Holding
//! [`rng_guard`] from seeding through the end of training keeps every run deterministic.

use std::sync::{Mutex, MutexGuard};

static RNG: Mutex<()> = Mutex::new(());

/// Exclusive use of Burn's global random state until the guard is dropped.
pub fn rng_guard() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Mixes a seed with a counter (SplitMix64 finaliser) so that nearby counters give unrelated
/// seeds: the loop seeds each step's draws with `mix(seed ^ 0xD20F, batch)` and each epoch's
/// order with `mix(seed, epoch)`.
pub fn mix(seed: u64, counter: u64) -> u64 {
    let mut z = seed ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
