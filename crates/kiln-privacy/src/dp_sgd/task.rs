//! The DP-SGD training task: Poisson-sampled batches of clipped per-example gradients.

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;
use kiln_data::{Samples, SeededRng};
use kiln_train::metrics::{check_labels, evaluate};
use kiln_train::{
    Objective, Result, StepContext, StepOutput, TrainTask, Validation, check_logits, mix,
};

use super::clip::{add_scaled, clip_factor, leaf_copy, squared_norm, surrogate};

/// The examples of a set of `n` in one Poisson sample of rate `q`, drawn from `seed` and the
/// step's number: each independently with probability `q`.
pub fn poisson_sample(n: usize, q: f64, seed: u64, step: usize) -> Vec<usize> {
    let mut rng = SeededRng::new(mix(seed ^ 0xD9_5A3D, step as u64));
    (0..n).filter(|_| f64::from(rng.unit_f32()) < q).collect()
}

/// A batched route to the clipped per-example gradients of a sample (see
/// [`super::clipped_linear_gradients`]): the summed clipped gradients, the sum of the losses and
/// the logits, or `None` for a model it does not know (micro-batches of one then).
pub type BatchedRoute<'a, M> =
    Box<dyn Fn(&M, Tensor<2>, Tensor<1, Int>) -> Option<(GradientsParams, f64, Tensor<2>)> + 'a>;

/// DP-SGD's task for a classifier of flat samples through `forward`: an epoch is `round(1/q)`
/// steps, each on a Poisson sample; the loss handed to the loop has the value of the sample's
/// mean loss and the gradient `Σ_i ḡ_i`, the sum of the clipped per-example gradients
/// ([`super::GaussianNoise`] then adds the noise and divides by `q·N`).
pub struct DpClassification<'a, M, F> {
    train: &'a Samples,
    valid: Option<&'a Samples>,
    forward: F,
    objective: Objective,
    sample_rate: f64,
    max_grad_norm: f64,
    labels_checked: bool,
    route: Option<BatchedRoute<'a, M>>,
}

impl<'a, M, F> DpClassification<'a, M, F> {
    /// Samples `train` at rate `sample_rate`, clipping each example's gradient to
    /// `max_grad_norm`.
    pub fn new(train: &'a Samples, forward: F, sample_rate: f64, max_grad_norm: f64) -> Self {
        Self {
            train,
            valid: None,
            forward,
            objective: Objective::for_classes(train.num_classes),
            sample_rate,
            max_grad_norm,
            labels_checked: false,
            route: None,
        }
    }

    /// Computes the clipped per-example gradients of a whole sample at once where `route` can
    /// (checked against micro-batches of one to 1e-5 in the tests).
    pub fn with_batched_route(mut self, route: BatchedRoute<'a, M>) -> Self {
        self.route = Some(route);
        self
    }

    /// Validates on `valid` after every epoch, when there is one.
    pub fn with_optional_valid(mut self, valid: Option<&'a Samples>) -> Self {
        self.valid = valid;
        self
    }

    /// Another objective than the one `num_classes` implies (two classes as a two-logit
    /// softmax: `Objective::Multiclass { classes: 2 }`).
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }
}

impl<M, F> TrainTask<M> for DpClassification<'_, M, F>
where
    M: Module,
    F: Fn(&M, Tensor<2>) -> Tensor<2>,
{
    fn objective(&self) -> Objective {
        self.objective
    }

    fn batches_per_epoch(&self) -> usize {
        (1.0 / self.sample_rate).round().max(1.0) as usize
    }

    fn step(&mut self, model: &M, context: &StepContext<'_>) -> Result<StepOutput> {
        if !self.labels_checked {
            check_labels(self.train, self.objective.classes())?;
            self.labels_checked = true;
        }
        let device = context.device;
        let indices = poisson_sample(
            self.train.len(),
            self.sample_rate,
            context.seed,
            context.global_batch,
        );
        let batch = self.train.batch(&indices, device);
        // Mixed precision: the model is a half-precision copy of the f32 masters; its inputs
        // are cast to its type, logits and clipped gradients come back in f32, and the
        // per-example gradients are taken through a copy of its own, whose graph stops at the
        // copy, so that the surrogate loss alone goes back to the masters.
        let half = |x: Tensor<2>| match context.half {
            Some(dtype) => x.cast(dtype),
            None => x,
        };
        let own;
        let per_example_model = match context.half {
            Some(_) => {
                own = leaf_copy(model);
                &own
            }
            None => model,
        };
        if let Some(route) = self.route.as_ref().filter(|_| !indices.is_empty())
            && let Some((clipped, loss_sum, logits)) = route(
                per_example_model,
                half(batch.inputs.clone()),
                batch.labels.clone(),
            )
        {
            check_logits(self.objective, &logits, indices.len())?;
            let mean = loss_sum / indices.len() as f64;
            let loss =
                surrogate(model, &clipped, device) + Tensor::<1>::from_data([mean as f32], device);
            return Ok(StepOutput {
                loss,
                logits,
                targets: batch.labels,
                samples: indices.len(),
                inputs: None,
            });
        }
        // Micro-batches of one: each example's gradient, clipped, summed; its logits kept for
        // the running accuracy (no second forward pass over the sample).
        let mut clipped = GradientsParams::new();
        let mut losses = Vec::with_capacity(indices.len());
        let mut rows = Vec::with_capacity(indices.len());
        for &i in &indices {
            let one = self.train.batch(&[i], device);
            let logits = (self.forward)(per_example_model, half(one.inputs)).cast(FloatDType::F32);
            check_logits(self.objective, &logits, 1)?;
            rows.push(logits.clone().detach());
            let loss = self.objective.loss(logits, one.labels);
            losses.push(loss.clone().detach());
            let grads = GradientsParams::from_grads(loss.backward(), per_example_model);
            let norm = squared_norm(per_example_model, &grads).sqrt();
            add_scaled(
                per_example_model,
                &mut clipped,
                &grads,
                clip_factor(norm, self.max_grad_norm),
            );
        }
        let logits = match rows.is_empty() {
            true => Tensor::<2>::zeros([0, self.objective.outputs()], device),
            false => Tensor::cat(rows, 0),
        };
        let loss_sum = match losses.is_empty() {
            true => 0.0,
            false => f64::from(Tensor::cat(losses, 0).sum().into_scalar::<f32>()),
        };
        let mean = loss_sum / indices.len().max(1) as f64;
        let loss =
            surrogate(model, &clipped, device) + Tensor::<1>::from_data([mean as f32], device);
        Ok(StepOutput {
            loss,
            logits,
            targets: batch.labels,
            samples: indices.len(),
            inputs: None,
        })
    }

    fn validate(&mut self, model: &M, device: &Device) -> Result<Option<Validation>> {
        let Some(valid) = self.valid else {
            return Ok(None);
        };
        let e = evaluate(model, &self.forward, self.objective, valid, device)?;
        Ok(Some(Validation {
            loss: e.loss,
            accuracy: e.accuracy,
        }))
    }
}
