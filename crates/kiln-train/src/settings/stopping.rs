//! Early stopping on a validation metric.

use serde::{Deserialize, Serialize};

/// Stop when a validation metric has not improved for `patience` epochs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Epochs without improvement before stopping; 0 disables early stopping.
    #[serde(default)]
    pub patience: usize,
    /// `valid_loss` (lower is better) or `valid_accuracy` (higher is better).
    #[serde(default)]
    pub monitor: Monitor,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Keep the weights of the best epoch at the end (model selection).
    #[serde(default = "yes")]
    pub restore_best: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        Self {
            patience: 0,
            monitor: Monitor::default(),
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

/// A validation metric to watch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss, lower is better.
    #[default]
    ValidLoss,
    /// Validation accuracy, higher is better.
    ValidAccuracy,
}
fn yes() -> bool {
    true
}

impl EarlyStoppingConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_delta < 0.0 || !self.min_delta.is_finite() {
            return Err("early_stopping.min_delta must be a finite number >= 0".into());
        }
        Ok(())
    }
}
