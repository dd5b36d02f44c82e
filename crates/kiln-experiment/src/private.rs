//! A `[privacy]` run: its plan (sampling rate, noise, steps, checked against the budget before
//! training), the model check (no batch norm: it mixes examples), and the privacy spent.

use burn::module::{Module, ModuleVisitor};
use burn::nn::Linear;
use burn::prelude::*;
use kiln_privacy::dp_sgd::{
    BatchedRoute, ProbedLinears, clipped_linear_gradients, forward_probed_stack, per_example_losses,
};
use kiln_privacy::{Spent, epsilon, noise_multiplier_for_steps};
use kiln_train::Objective;
use kiln_train::{KilnError, Result};
use kiln_zoo::AnyModel;
use serde::{Deserialize, Serialize};

use crate::config::PrivacyConfig;

/// What a DP-SGD run does, fixed before it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyPlan {
    /// Poisson sampling rate `q = batch_size / N`.
    pub sample_rate: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Clip norm `C`.
    pub max_grad_norm: f64,
    /// δ.
    pub delta: f64,
    /// Training examples `N`.
    pub examples: usize,
}

/// `summary.json`'s `privacy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrivacySummary {
    /// ε spent by the steps taken, at `delta`.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Poisson sampling rate q.
    pub sample_rate: f64,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Per-example clip norm C.
    pub max_grad_norm: f64,
    /// The accountant: `rdp` (Opacus's RDPAccountant).
    pub accountant: String,
    /// The RDP order that gives ε.
    pub best_order: f64,
}

impl PrivacyPlan {
    /// The plan of `privacy` for `epochs` epochs of `batch_size` over `examples` examples:
    /// the noise given, or the smallest that keeps the epochs within the target; a given noise
    /// that would spend more than the target is refused.
    pub fn new(
        privacy: &PrivacyConfig,
        batch_size: usize,
        examples: usize,
        epochs: usize,
    ) -> Result<Self> {
        let bad = |e: kiln_privacy::PrivacyError| KilnError::Input(format!("[privacy]: {e}"));
        let q = batch_size as f64 / examples.max(1) as f64;
        if q > 1.0 {
            return Err(KilnError::Input(format!(
                "[privacy]: train.batch_size {batch_size} is larger than the {examples} training examples (the sampling rate must be <= 1)"
            )));
        }
        let steps = (1.0 / q).round().max(1.0) as usize * epochs;
        let sigma = match (privacy.noise_multiplier, privacy.target_epsilon) {
            (Some(sigma), _) => sigma,
            (None, Some(target)) => {
                noise_multiplier_for_steps(target, privacy.delta, q, steps).map_err(bad)?
            }
            (None, None) => unreachable!("validated: one of them is set"),
        };
        let plan = Self {
            sample_rate: q,
            noise_multiplier: sigma,
            max_grad_norm: privacy.max_grad_norm,
            delta: privacy.delta,
            examples,
        };
        if let Some(target) = privacy.target_epsilon {
            let spent = plan.spent(steps)?;
            if spent.epsilon > target {
                return Err(KilnError::Input(format!(
                    "[privacy]: {epochs} epochs ({steps} steps) at noise multiplier {sigma} spend epsilon {:.4}, over the target {target}: raise the noise, or train fewer epochs",
                    spent.epsilon
                )));
            }
        }
        Ok(plan)
    }

    /// Steps in an epoch: `round(1/q)`.
    pub fn steps_per_epoch(&self) -> usize {
        (1.0 / self.sample_rate).round().max(1.0) as usize
    }

    /// The privacy spent after `steps` steps.
    pub fn spent(&self, steps: usize) -> Result<Spent> {
        epsilon(self.sample_rate, self.noise_multiplier, steps, self.delta)
            .map_err(|e| KilnError::Input(format!("[privacy]: {e}")))
    }

    /// `summary.json`'s `privacy` after `steps` steps.
    pub fn summary(&self, steps: usize) -> Result<PrivacySummary> {
        let spent = self.spent(steps)?;
        Ok(PrivacySummary {
            epsilon: spent.epsilon,
            delta: self.delta,
            noise_multiplier: self.noise_multiplier,
            sample_rate: self.sample_rate,
            steps,
            max_grad_norm: self.max_grad_norm,
            accountant: "rdp".into(),
            best_order: spent.order,
        })
    }
}

/// Refuses a model with batch norm: its statistics mix the examples of a batch, so per-example
/// gradients are not defined (Opacus swaps in group norm).
pub fn refuse_batch_norm<M: Module>(model: &M) -> Result<()> {
    struct Finder(bool);
    impl ModuleVisitor for Finder {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            self.0 |= container_type.contains("BatchNorm");
        }
    }
    let mut finder = Finder(false);
    model.visit(&mut finder);
    if finder.0 {
        return Err(KilnError::Input(
            "[privacy]: the model has batch norm, which mixes the examples of a batch: differentially private training needs a model without it (set model.batch_norm = false, or a cnn without batch-norm blocks)".into(),
        ));
    }
    Ok(())
}

/// The zoo's MLP.
type Mlp = <kiln_zoo::kinds::mlp::MlpSpec as kiln_zoo::ModelKind>::Model;

/// kiln-fnn's MLP seen as its stack of Linear layers (no batch norm: refused before).
struct MlpLinears<'a>(&'a Mlp);

impl ProbedLinears for MlpLinears<'_> {
    fn forward_probed(
        &self,
        x: Tensor<2>,
        probe: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>,
        inputs: &mut Vec<Tensor<2>>,
    ) -> Tensor<2> {
        let mlp = self.0;
        let between = |z| mlp.dropout.forward(mlp.activation.forward(z));
        forward_probed_stack(&mlp.hidden, &mlp.output, between, x, probe, inputs)
    }

    fn linears(&self) -> Vec<&Linear> {
        self.0.hidden.iter().chain([&self.0.output]).collect()
    }
}

/// The zoo's scattering network.
type ScatterNet = <kiln_zoo::kinds::scatter::ScatterSpec as kiln_zoo::ModelKind>::Model;

/// kiln-cnn's scattering network seen as the Linear layers of its head (its scattering has
/// no parameters): on raw inputs the features are computed first, without a gradient.
struct ScatterHead<'a> {
    net: &'a ScatterNet,
    /// The inputs are already the frozen features.
    on_features: bool,
}

impl ProbedLinears for ScatterHead<'_> {
    fn forward_probed(
        &self,
        x: Tensor<2>,
        probe: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>,
        inputs: &mut Vec<Tensor<2>>,
    ) -> Tensor<2> {
        let net = self.net;
        let x = match self.on_features {
            true => x,
            false => net.features_flat(x).detach(),
        };
        let between = |z| net.activation.forward(z);
        forward_probed_stack(&net.hidden, &net.output, between, x, probe, inputs)
    }

    fn linears(&self) -> Vec<&Linear> {
        self.net.hidden.iter().chain([&self.net.output]).collect()
    }
}

/// The batched per-example route for the kinds made of Linear layers (mlp, and the head of a
/// scattering network; `on_head`: the inputs are its features); other kinds go through
/// micro-batches of one.
pub fn batched_route<'a>(
    objective: Objective,
    max_norm: f64,
    on_head: bool,
) -> BatchedRoute<'a, AnyModel> {
    Box::new(move |model, x, labels| {
        let device = x.device();
        let losses = |logits| per_example_losses(objective, logits, labels.clone());
        match model {
            AnyModel::Mlp(mlp) if mlp.norms.is_empty() && !on_head => Some(
                clipped_linear_gradients(&MlpLinears(mlp), x, losses, max_norm, &device),
            ),
            AnyModel::Scatter(net) => {
                let head = ScatterHead {
                    net,
                    on_features: on_head,
                };
                Some(clipped_linear_gradients(
                    &head, x, losses, max_norm, &device,
                ))
            }
            _ => None,
        }
    })
}
