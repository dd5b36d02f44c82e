//! The noise multiplier for a budget, as Opacus's `get_noise_multiplier`: σ doubled from 10
//! (first checked at 20) until ε(σ) <= target, then bisection on [0, σ] until
//! `target − ε(σ) <= 0.01`; the upper end is returned.

use crate::spent::{epsilon, privacy_spent};
use crate::{PrivacyError, check_inputs, default_orders};

/// Opacus gives up above this σ.
const MAX_SIGMA: f64 = 1e6;
/// How close below the target the returned σ's ε must be.
const TOLERANCE: f64 = 0.01;

/// The noise multiplier that keeps `epochs` epochs at sampling rate `q` (`int(epochs / q)`
/// steps) within `target_epsilon` at `delta`.
pub fn noise_multiplier(
    target_epsilon: f64,
    delta: f64,
    q: f64,
    epochs: f64,
) -> Result<f64, PrivacyError> {
    check_inputs(q, 1.0, delta)?;
    if !(target_epsilon > 0.0 && target_epsilon.is_finite()) {
        return Err(PrivacyError::Input(format!(
            "the target epsilon must be > 0, got {target_epsilon}"
        )));
    }
    if !(epochs > 0.0 && epochs.is_finite()) {
        return Err(PrivacyError::Input(format!(
            "the epochs must be > 0, got {epochs}"
        )));
    }
    noise_multiplier_for_steps(target_epsilon, delta, q, (epochs / q) as usize)
}

/// [`noise_multiplier`] for a number of steps rather than epochs (a training whose epochs are
/// not exactly `1/q` steps, as Kiln's `round(1/q)`).
pub fn noise_multiplier_for_steps(
    target_epsilon: f64,
    delta: f64,
    q: f64,
    steps: usize,
) -> Result<f64, PrivacyError> {
    check_inputs(q, 1.0, delta)?;
    if !(target_epsilon > 0.0 && target_epsilon.is_finite()) {
        return Err(PrivacyError::Input(format!(
            "the target epsilon must be > 0, got {target_epsilon}"
        )));
    }
    // With infinite noise every RDP is 0: the conversion alone costs this much.
    let orders = default_orders();
    let floor = privacy_spent(&orders, &vec![0.0; orders.len()], delta);
    if target_epsilon <= floor.epsilon {
        return Err(PrivacyError::Input(format!(
            "no noise reaches epsilon {target_epsilon} at delta {delta}: even infinite noise spends {:.4} (order {})",
            floor.epsilon, floor.order
        )));
    }
    let eps = |sigma: f64| epsilon(q, sigma, steps, delta).map(|s| s.epsilon);
    let (mut low, mut high) = (0.0, 10.0);
    let mut eps_high = f64::INFINITY;
    while eps_high > target_epsilon {
        high *= 2.0;
        eps_high = eps(high)?;
        if high > MAX_SIGMA {
            return Err(PrivacyError::Input(format!(
                "the privacy budget epsilon {target_epsilon} is too low: no noise multiplier up to {MAX_SIGMA} reaches it"
            )));
        }
    }
    while target_epsilon - eps_high > TOLERANCE {
        let sigma = (low + high) / 2.0;
        let e = eps(sigma)?;
        if e < target_epsilon {
            high = sigma;
            eps_high = e;
        } else {
            low = sigma;
        }
    }
    Ok(high)
}
