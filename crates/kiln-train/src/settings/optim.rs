//! The optimizer and the L1/L2 penalties.

use serde::{Deserialize, Serialize};

use super::check;

/// Optimizer choice and hyper-parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// `gd` (full-batch gradient descent), `sgd`, `adam` or `adamw`.
    #[serde(default)]
    pub name: OptimName,
    /// Base learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// SGD momentum (0 disables it).
    #[serde(default)]
    pub momentum: f64,
    /// Nesterov momentum for SGD.
    #[serde(default)]
    pub nesterov: bool,
    /// Adam's first-moment decay.
    #[serde(default = "default_beta1")]
    pub beta1: f32,
    /// Adam's second-moment decay.
    #[serde(default = "default_beta2")]
    pub beta2: f32,
    /// Adam's epsilon.
    #[serde(default = "default_epsilon")]
    pub epsilon: f32,
    /// Clip gradients to this global L2 norm over all parameters (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

fn default_lr() -> f64 {
    1e-3
}
fn default_beta1() -> f32 {
    0.9
}
fn default_beta2() -> f32 {
    0.999
}
fn default_epsilon() -> f32 {
    1e-8
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            name: OptimName::default(),
            lr: default_lr(),
            momentum: 0.0,
            nesterov: false,
            beta1: default_beta1(),
            beta2: default_beta2(),
            epsilon: default_epsilon(),
            clip_grad_norm: None,
        }
    }
}

/// The optimizers Kiln offers (all from burn-optim).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimName {
    /// Plain gradient descent on the whole training split per step.
    Gd,
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd,
    /// Adam.
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
}

impl OptimName {
    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            OptimName::Gd => "gd",
            OptimName::Sgd => "sgd",
            OptimName::Adam => "adam",
            OptimName::Adamw => "adamw",
        }
    }
}

/// Penalties on the weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegularizationConfig {
    /// L1 coefficient: adds `l1 * sum |w|` over weight matrices/kernels (not biases) to the loss.
    #[serde(default)]
    pub l1: f64,
    /// L2 coefficient, applied as the optimizer's weight decay (decoupled for `adamw`).
    #[serde(default)]
    pub l2: f64,
}

impl OptimConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        check(
            self.lr > 0.0 && self.lr <= 1.0,
            "optim.lr must be in (0, 1]",
        )?;
        check(
            (0.0..1.0).contains(&self.momentum),
            "optim.momentum must be in [0, 1)",
        )?;
        check(
            self.clip_grad_norm.is_none_or(|c| c > 0.0),
            "optim.clip_grad_norm must be > 0",
        )
    }
}

impl RegularizationConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        check(self.l1 >= 0.0, "regularization.l1 must be >= 0")?;
        check(self.l2 >= 0.0, "regularization.l2 must be >= 0")
    }
}
