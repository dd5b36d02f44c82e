//! Differential privacy for Kiln's training: DP-SGD on the one loop ([`dp_sgd`]) and its
//! privacy accountant:
//!
//! - [`rdp`]: Rényi differential privacy of the sampled Gaussian mechanism (Mironov, Talwar and
//!   Zhang 2019), for integer and fractional orders, composed over steps;
//! - [`spent`]: its conversion to (ε, δ) (Balle et al. 2020), minimised over the orders;
//! - [`noise`]: the smallest noise multiplier (to Opacus's tolerance) that keeps a training of
//!   so many epochs within a target ε.
//!
//! Every function follows Opacus 1.6's `RDPAccountant` (`opacus/accountants/analysis/rdp.py`)
//! and matches its reference values to 1e-9 relative (`tests/opacus_reference.rs`).
#![warn(missing_docs)]

pub mod dp_sgd;
mod error;
mod log_space;
pub mod noise;
pub mod rdp;
pub mod spent;

pub use error::PrivacyError;
pub use noise::{noise_multiplier, noise_multiplier_for_steps};
pub use rdp::{DEFAULT_ORDERS, compute_rdp, default_orders};
pub use spent::{Spent, epsilon, privacy_spent};

/// Checks δ, q and σ as every entry point does (a message naming the value).
pub fn check_inputs(
    sample_rate: f64,
    noise_multiplier: f64,
    delta: f64,
) -> Result<(), PrivacyError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(PrivacyError::Input(format!(
            "delta must be in (0, 1), got {delta}"
        )));
    }
    if !(sample_rate > 0.0 && sample_rate <= 1.0) {
        return Err(PrivacyError::Input(format!(
            "the sample rate must be in (0, 1], got {sample_rate}"
        )));
    }
    if !(noise_multiplier >= 0.0 && noise_multiplier.is_finite()) {
        return Err(PrivacyError::Input(format!(
            "the noise multiplier must be >= 0, got {noise_multiplier}"
        )));
    }
    Ok(())
}
