//! The learning-rate schedule.

use serde::{Deserialize, Serialize};

use super::check;

/// Learning-rate schedule, stepped once per optimizer step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `constant`, `step` or `cosine`.
    #[serde(default)]
    pub name: ScheduleName,
    /// Linear warm-up from `lr / 100` to `lr` over this many steps first.
    #[serde(default)]
    pub warmup_steps: usize,
    /// `step`: multiply the rate by `gamma` every this many epochs.
    #[serde(default = "default_step_epochs")]
    pub step_epochs: usize,
    /// `step`: the factor.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// `cosine`: the final learning rate.
    #[serde(default)]
    pub min_lr: f64,
}

fn default_step_epochs() -> usize {
    10
}
fn default_gamma() -> f64 {
    0.1
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            name: ScheduleName::Constant,
            warmup_steps: 0,
            step_epochs: default_step_epochs(),
            gamma: default_gamma(),
            min_lr: 0.0,
        }
    }
}

/// The schedules Kiln offers (built from burn-optim's schedulers).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleName {
    /// The same rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_epochs` epochs.
    Step,
    /// Cosine annealing to `min_lr` over the whole run.
    Cosine,
}

impl ScheduleConfig {
    /// Checks the ranges against the base learning rate `lr`; the message names the key.
    pub fn validate(&self, lr: f64) -> Result<(), String> {
        check(
            self.step_epochs > 0,
            "schedule.step_epochs must be at least 1",
        )?;
        check(
            self.min_lr >= 0.0 && self.min_lr <= lr,
            "schedule.min_lr must be in [0, optim.lr]",
        )
    }
}
