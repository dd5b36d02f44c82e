//! What a data-parallel training (`mpirun -np N kiln train CONFIG`) checks before it starts,
//! on every rank, so that every rank refuses the same job with the same reason.

use kiln_train::{Collective, KilnError, Result};
use kiln_zoo::TaskKind;
use sha2::{Digest, Sha256};

use crate::ExperimentConfig;

/// Steps between two comparisons of the ranks' parameter checksums.
pub const CHECK_EVERY: usize = 50;

/// [`CHECK_EVERY`], or `$KILN_CHECK_EVERY` (0: only at the end).
pub fn check_every() -> usize {
    std::env::var("KILN_CHECK_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CHECK_EVERY)
}

/// Refuses a job whose ranks read different configs (a hash compared first, so that every
/// rank takes the same path), or that data-parallel training cannot run: a language model or a
/// differentially private run, another precision than f32, or a global batch the ranks cannot
/// share equally.
pub fn check_job(config: &ExperimentConfig, ranks: &dyn Collective) -> Result<()> {
    let digest = Sha256::digest(config.to_toml().as_bytes());
    let hash = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    let (rank, size) = (ranks.rank(), ranks.size());
    if !ranks.all_equal(hash) {
        return Err(KilnError::Config(format!(
            "rank {rank}: the ranks read different configs (this rank's hash {hash:016x}); \
             every rank must train the same config with the same overrides"
        )));
    }
    if config.model.info().task == TaskKind::LanguageModelling {
        return Err(KilnError::Input(format!(
            "rank {rank}: data-parallel training supports classifiers, not language models ({})",
            config.model.info().name
        )));
    }
    if config.privacy.is_some() {
        return Err(KilnError::Input(format!(
            "rank {rank}: data-parallel training of a [privacy] (DP-SGD) run is not supported"
        )));
    }
    if config.train.precision != "f32" {
        return Err(KilnError::Input(format!(
            "rank {rank}: data-parallel training runs in f32, not train.precision = {:?}",
            config.train.precision
        )));
    }
    let batch = config.train.batch_size;
    if batch == 0 || !batch.is_multiple_of(size) {
        return Err(KilnError::Input(format!(
            "rank {rank}: train.batch_size = {batch} (the global batch) is not divisible by the \
             {size} ranks"
        )));
    }
    Ok(())
}
