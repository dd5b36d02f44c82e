//! `[data]`: where the data comes from and how it is split.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Data source and split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// An embedded dataset: `breast-cancer`, `iris` or `mnist-10k`.
    pub dataset: String,
    /// A user's own data instead: a CSV file (with `target`) or an MNIST-style IDX directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Target column of a CSV table.
    #[serde(default = "default_target")]
    pub target: String,
    /// Fraction held out for the test split (datasets without their own test split).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Fraction of the training split held out for validation (early stopping, model selection).
    #[serde(default)]
    pub valid_fraction: f64,
    /// Standardise features with the training split's statistics.
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Training images only: random shifts of up to this many pixels (seeded).
    #[serde(default)]
    pub augment_shift: f32,
    /// Training images only: random rotations of up to this many degrees either way (seeded).
    #[serde(default)]
    pub augment_rotation: f32,
}

fn default_target() -> String {
    "target".into()
}
fn default_test_fraction() -> f64 {
    0.2
}
fn yes() -> bool {
    true
}

impl DataConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err("data.test_fraction must be in [0, 1)".into());
        }
        if !(0.0..1.0).contains(&self.valid_fraction) {
            return Err("data.valid_fraction must be in [0, 1)".into());
        }
        if !(self.augment_shift >= 0.0 && self.augment_rotation >= 0.0) {
            return Err("data.augment_shift and data.augment_rotation must be >= 0".into());
        }
        Ok(())
    }
}
