//! What the loop is asked to do: [`FitConfig`] and its sections. Plain serde types, so that a
//! config file (the experiment crate's TOML) or code can fill them; each section checks its own
//! ranges with `validate`, naming the key.

mod optim;
mod schedule;
mod stopping;

pub use optim::{OptimConfig, OptimName, RegularizationConfig};
pub use schedule::{ScheduleConfig, ScheduleName};
pub use stopping::{EarlyStoppingConfig, Monitor};

use crate::precision::{LossScaleConfig, Precision};
use crate::{KilnError, Result};

/// Everything the loop needs besides the model and the task: length, seed, optimizer,
/// penalties, schedule, early stopping, precision and gradient accumulation.
///
/// ```
/// use kiln_train::{FitConfig, settings::OptimName};
/// let config = FitConfig::new(5).with_seed(7).with_lr(0.01).with_optimizer(OptimName::Sgd);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Passes over the task's batches.
    pub epochs: usize,
    /// Seed of every random draw of the loop (dropout, augmentation, shuffling).
    pub seed: u64,
    /// The optimizer and its learning rate.
    pub optim: OptimConfig,
    /// L1 (a loss term) and L2 (weight decay) penalties.
    pub regularization: RegularizationConfig,
    /// The learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Early stopping on the task's validation metrics.
    pub early_stopping: EarlyStoppingConfig,
    /// Compute precision (f32, or f16/bf16 with f32 master weights).
    pub precision: Precision,
    /// The dynamic loss scaler of f16 training.
    pub loss_scale: LossScaleConfig,
    /// Micro-batches whose gradients are summed (each loss divided by this) into one optimizer
    /// step; 1 steps after every batch.
    pub accumulate_steps: usize,
}

impl FitConfig {
    /// `epochs` of Adam at 1e-3, seed 42, f32, no penalties, schedule or early stopping.
    pub fn new(epochs: usize) -> Self {
        Self {
            epochs,
            seed: 42,
            optim: OptimConfig::default(),
            regularization: RegularizationConfig::default(),
            schedule: ScheduleConfig::default(),
            early_stopping: EarlyStoppingConfig::default(),
            precision: Precision::F32,
            loss_scale: LossScaleConfig::default(),
            accumulate_steps: 1,
        }
    }

    /// The same config with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same config with another base learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.optim.lr = lr;
        self
    }

    /// The same config with another optimizer (its other settings kept).
    pub fn with_optimizer(mut self, name: OptimName) -> Self {
        self.optim.name = name;
        self
    }

    /// The same config with another compute precision.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The same config with early stopping after `patience` epochs without improvement.
    pub fn with_patience(mut self, patience: usize) -> Self {
        self.early_stopping.patience = patience;
        self
    }

    /// The same config summing the gradients of `n` micro-batches into each step.
    pub fn with_accumulation(mut self, n: usize) -> Self {
        self.accumulate_steps = n;
        self
    }

    /// Checks every section (a config error naming the key).
    pub fn validate(&self) -> Result<()> {
        let sections = [
            check(self.epochs > 0, "train.epochs must be at least 1"),
            check(
                self.accumulate_steps > 0,
                "train.accumulate_steps must be at least 1",
            ),
            self.optim.validate(),
            self.regularization.validate(),
            self.schedule.validate(self.optim.lr),
            self.early_stopping.validate(),
            self.loss_scale.validate(),
        ];
        sections
            .into_iter()
            .collect::<std::result::Result<(), String>>()
            .map_err(KilnError::Config)
    }
}

/// `Ok` when `ok`, else the message.
pub(crate) fn check(ok: bool, message: &str) -> std::result::Result<(), String> {
    if ok { Ok(()) } else { Err(message.to_string()) }
}
