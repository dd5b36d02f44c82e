//! `[privacy]`: differentially private training (DP-SGD) and its budget.

use serde::{Deserialize, Serialize};

/// DP-SGD's clip norm, δ, and the noise: given, or found for a target ε over the configured
/// epochs (Opacus's `get_noise_multiplier`). With both, the run refuses to start when the
/// noise would spend more than the target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Per-example gradients are clipped to this global L2 norm `C`.
    pub max_grad_norm: f64,
    /// δ of the (ε, δ) guarantee.
    #[serde(default = "default_delta")]
    pub delta: f64,
    /// The budget ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_epsilon: Option<f64>,
    /// The noise multiplier σ (noise standard deviation over `C`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_multiplier: Option<f64>,
}

fn default_delta() -> f64 {
    1e-5
}

impl PrivacyConfig {
    /// Checks the values (a message naming the key).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.max_grad_norm > 0.0 && self.max_grad_norm.is_finite()) {
            return Err(format!(
                "privacy.max_grad_norm must be > 0, got {}",
                self.max_grad_norm
            ));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(format!(
                "privacy.delta must be in (0, 1), got {}",
                self.delta
            ));
        }
        match (self.target_epsilon, self.noise_multiplier) {
            (None, None) => {
                return Err("[privacy] needs target_epsilon or noise_multiplier (or both)".into());
            }
            (Some(e), _) if !(e > 0.0 && e.is_finite()) => {
                return Err(format!("privacy.target_epsilon must be > 0, got {e}"));
            }
            (_, Some(s)) if !(s > 0.0 && s.is_finite()) => {
                return Err(format!("privacy.noise_multiplier must be > 0, got {s}"));
            }
            _ => {}
        }
        Ok(())
    }
}
