//! Burn's random number generator is global to the process (seeding one device may seed them
//! all), so two trainings in parallel threads would draw from each other's stream. Holding
//! [`rng_guard`] from seeding through the end of training keeps every run deterministic.

use std::sync::{Mutex, MutexGuard};

static RNG: Mutex<()> = Mutex::new(());

/// Exclusive use of Burn's global random state until the guard is dropped.
pub fn rng_guard() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
