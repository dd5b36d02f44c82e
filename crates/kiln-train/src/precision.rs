//! Mixed precision: f16 or bf16 compute with f32 master weights, and a dynamic loss scaler.
//!
//! Each step casts the f32 parameters (a differentiable cast, so gradients arrive on the f32
//! masters) and the inputs to the half type for the forward pass; the logits are cast back to
//! f32 for the loss. With f16 the loss is multiplied by a scale before the backward pass, the
//! gradients are divided by it, and a step whose gradients hold inf or NaN is skipped and halves
//! the scale; after `growth_interval` good steps the scale doubles. bf16 needs no scaling.

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use serde::{Deserialize, Serialize};

use crate::{BackendKind, KilnError, Result};

/// The compute precision of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Plain f32.
    F32,
    /// f16 compute, f32 master weights, dynamic loss scaling.
    F16,
    /// bf16 compute, f32 master weights.
    Bf16,
}

impl Precision {
    /// Parses `f32`, `f16` or `bf16`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            "bf16" => Ok(Precision::Bf16),
            other => Err(KilnError::Config(format!(
                "train.precision '{other}' is not one of f32, f16, bf16"
            ))),
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The half type, or `None` for f32.
    pub fn half(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::F16 => Some(FloatDType::F16),
            Precision::Bf16 => Some(FloatDType::BF16),
        }
    }

    /// Refuses (exit 2) a precision the backend's device cannot compute in.
    pub fn check_supported(self, backend: BackendKind, device: &Device) -> Result<()> {
        let Some(half) = self.half() else {
            return Ok(());
        };
        let dtype: DType = half.into();
        if device.supports_dtype(dtype) {
            return Ok(());
        }
        Err(KilnError::Input(format!(
            "backend {backend} cannot compute in {dtype:?} on this device; use --precision f32 or another backend (flex computes in f16 and bf16)"
        )))
    }
}

/// Casts every float parameter to a dtype, keeping the cast in the autodiff graph.
pub struct CastParams(pub FloatDType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// Casts the float buffers that take no gradient (batch-norm running statistics) back to f32.
///
/// A running state shares its storage with every copy of the module, so the half-precision
/// forward pass of the cast copy leaves the master's statistics in the half type; this puts
/// them back after every step, so that evaluation, checkpoints and the saved model see f32.
pub struct RestoreBuffers;

impl ModuleMapper for RestoreBuffers {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.val().is_require_grad() {
            param
        } else {
            param.map(|tensor| tensor.cast(FloatDType::F32))
        }
    }
}

/// Settings of the dynamic loss scaler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossScaleConfig {
    /// Scale at the start.
    #[serde(default = "initial_scale")]
    pub initial: f64,
    /// Factor applied after `growth_interval` steps without overflow.
    #[serde(default = "two")]
    pub growth_factor: f64,
    /// Factor applied on overflow.
    #[serde(default = "half")]
    pub backoff_factor: f64,
    /// Good steps before the scale grows.
    #[serde(default = "growth_interval")]
    pub growth_interval: usize,
}

fn initial_scale() -> f64 {
    65536.0
}
fn two() -> f64 {
    2.0
}
fn half() -> f64 {
    0.5
}
fn growth_interval() -> usize {
    2000
}

impl LossScaleConfig {
    /// A fixed scale: it never grows (on overflow the step is still skipped and the scale
    /// backs off). DP-SGD in f16 uses one: its per-example gradients are taken unscaled, so
    /// scaling its summed gradient only makes it overflow.
    pub fn fixed(scale: f64) -> Self {
        Self {
            initial: scale,
            growth_factor: 1.0,
            ..Self::default()
        }
    }

    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.initial > 0.0 && self.growth_factor >= 1.0) {
            return Err("loss_scale.initial must be > 0 and loss_scale.growth_factor >= 1".into());
        }
        if !(self.backoff_factor > 0.0 && self.backoff_factor < 1.0) {
            return Err("loss_scale.backoff_factor must be in (0, 1)".into());
        }
        Ok(())
    }
}

impl Default for LossScaleConfig {
    fn default() -> Self {
        Self {
            initial: initial_scale(),
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: growth_interval(),
        }
    }
}

/// The scaler's state: saved in checkpoints and reported in `summary.json` as `loss_scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScaleState {
    /// Current scale.
    pub scale: f64,
    /// Smallest scale so far.
    pub min_scale: f64,
    /// Steps skipped because a gradient overflowed.
    pub skipped_steps: usize,
    /// Good steps since the last change.
    pub good_steps: usize,
}

/// A dynamic loss scaler (for f16).
#[derive(Debug, Clone)]
pub struct LossScaler {
    config: LossScaleConfig,
    state: LossScaleState,
}

impl LossScaler {
    /// A scaler starting at `config.initial`.
    pub fn new(config: LossScaleConfig) -> Self {
        let state = LossScaleState {
            scale: config.initial,
            min_scale: config.initial,
            skipped_steps: 0,
            good_steps: 0,
        };
        Self { config, state }
    }

    /// A scaler continuing from a saved state.
    pub fn restore(config: LossScaleConfig, state: LossScaleState) -> Self {
        Self { config, state }
    }

    /// The current scale.
    pub fn scale(&self) -> f64 {
        self.state.scale
    }

    /// The state to save.
    pub fn state(&self) -> LossScaleState {
        self.state
    }

    /// Records a step: on overflow the step must be skipped and the scale backs off; otherwise it
    /// grows after `growth_interval` good steps. Returns whether the optimizer may step.
    pub fn update(&mut self, overflow: bool) -> bool {
        if overflow {
            self.state.scale *= self.config.backoff_factor;
            self.state.min_scale = self.state.min_scale.min(self.state.scale);
            self.state.skipped_steps += 1;
            self.state.good_steps = 0;
            return false;
        }
        self.state.good_steps += 1;
        if self.state.good_steps >= self.config.growth_interval {
            self.state.scale *= self.config.growth_factor;
            self.state.good_steps = 0;
        }
        true
    }
}

/// One training loop's mixed-precision policy: the compute type and, for f16, the loss scaler.
/// Both the sample loop and the language-model loop step through it.
#[derive(Debug, Clone)]
pub struct MixedPrecision {
    half: Option<FloatDType>,
    scaler: Option<LossScaler>,
}

impl MixedPrecision {
    /// The policy for `precision`, with a fresh scaler for f16.
    pub fn new(precision: Precision, config: LossScaleConfig) -> Self {
        Self {
            half: precision.half(),
            scaler: (precision == Precision::F16).then(|| LossScaler::new(config)),
        }
    }

    /// Continues the scaler from a checkpoint's state (nothing to do without a scaler).
    pub fn restore(&mut self, config: LossScaleConfig, saved: Option<LossScaleState>) {
        if let (Some(scaler), Some(saved)) = (self.scaler.as_mut(), saved) {
            *scaler = LossScaler::restore(config, saved);
        }
    }

    /// The half type of the forward pass, `None` in f32.
    pub fn half(&self) -> Option<FloatDType> {
        self.half
    }

    /// A copy of `model` whose parameters are cast to the half type (a differentiable cast, so
    /// gradients reach the f32 masters); `None` in f32.
    pub fn cast<M: Module>(&self, model: &M) -> Option<M> {
        self.half
            .map(|dtype| model.clone().map(&mut CastParams(dtype)))
    }

    /// Back-propagates `objective` (scaled for f16) and returns the f32 gradients of `model`'s
    /// parameters and whether any of them overflowed (always false in f32). The first stage of
    /// the loop's gradient path; [`MixedPrecision::may_step`] then decides on the step.
    pub fn backward<M: Module>(&self, model: &M, objective: Tensor<1>) -> (GradientsParams, bool) {
        let scale = self.scaler.as_ref().map(LossScaler::scale);
        let backward = match scale {
            Some(scale) => objective.mul_scalar(scale).backward(),
            None => objective.backward(),
        };
        let grads = GradientsParams::from_grads(backward, model);
        if self.half.is_none() {
            return (grads, false);
        }
        unscale_and_check(model, grads, scale.unwrap_or(1.0))
    }

    /// Whether the optimizer may step after gradients that did (or did not) overflow; updates
    /// the f16 scaler (halved on overflow, grown after enough good steps).
    pub fn may_step(&mut self, overflow: bool) -> bool {
        match self.scaler.as_mut() {
            Some(scaler) => scaler.update(overflow),
            None => !overflow,
        }
    }

    /// The scaler's state to save or report (f16 only).
    pub fn loss_scale(&self) -> Option<LossScaleState> {
        self.scaler.as_ref().map(LossScaler::state)
    }
}

/// Brings every gradient to f32 (the masters' type, so that the optimizer state stays f32
/// whatever the compute type), divides it by `scale` and tells whether any of them holds inf or
/// NaN (one read of the device).
pub fn unscale_and_check<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    scale: f64,
) -> (GradientsParams, bool) {
    let mut visitor = Unscale {
        grads: &mut grads,
        inverse: 1.0 / scale,
        bad: None,
    };
    model.visit(&mut visitor);
    let overflow = visitor.bad.is_some_and(|bad| bad.into_scalar::<i64>() > 0);
    (grads, overflow)
}

struct Unscale<'a> {
    grads: &'a mut GradientsParams,
    inverse: f64,
    bad: Option<Tensor<1, Int>>,
}

impl ModuleVisitor for Unscale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let grad = grad.cast(FloatDType::F32).mul_scalar(self.inverse);
            let bad = grad.clone().is_nan().int().sum() + grad.clone().is_inf().int().sum();
            self.bad = Some(match self.bad.take() {
                Some(total) => total + bad,
                None => bad,
            });
            self.grads.register(param.id, grad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny;

    #[test]
    fn overflow_skips_the_step_and_halves_the_scale() {
        let mut scaler = LossScaler::new(LossScaleConfig::default());
        assert!(!scaler.update(true));
        assert_eq!(scaler.scale(), 32768.0);
        assert_eq!(
            (scaler.state().skipped_steps, scaler.state().min_scale),
            (1, 32768.0)
        );
    }

    #[test]
    fn the_scale_grows_after_the_configured_good_steps() {
        let config = LossScaleConfig {
            growth_interval: 3,
            ..LossScaleConfig::default()
        };
        let mut scaler = LossScaler::new(config);
        assert!(scaler.update(false) && scaler.update(false));
        assert_eq!(scaler.scale(), 65536.0);
        assert!(scaler.update(false));
        assert_eq!(scaler.scale(), 131072.0);
    }

    #[test]
    fn finite_gradients_are_divided_by_the_scale() {
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        device.seed(3);
        let model = tiny(3, 2, &[], &device);
        let x = Tensor::<2>::ones([4, 3], &device);
        let plain = GradientsParams::from_grads(model.forward(x.clone()).sum().backward(), &model);
        let scaled = GradientsParams::from_grads(
            model.forward(x).sum().mul_scalar(256.0).backward(),
            &model,
        );
        let (unscaled, overflow) = unscale_and_check(&model, scaled, 256.0);
        assert!(!overflow);
        let id = model.output.weight.id;
        let a: Vec<f32> = plain
            .get::<2>(id)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        let b: Vec<f32> = unscaled
            .get::<2>(id)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5),
            "{a:?} vs {b:?}"
        );
    }
}
