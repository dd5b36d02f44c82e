//! Tests that seed Burn's global random state hold this lock while they draw from it, so
//! that tests running in parallel do not reseed it half-way through another's draws.

use std::sync::{Mutex, MutexGuard};

static RNG: Mutex<()> = Mutex::new(());

/// Exclusive use of Burn's global random state until the guard is dropped.
pub fn rng_guard() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
