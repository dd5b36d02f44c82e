//! The loop's extension points, each used by a feature today:
//!
//! - [`LossTerm`]: a term added to the task's loss before back-propagation (L1 regularisation;
//!   later a distillation teacher's term).
//! - [`GradientHook`]: a change to the gradients between back-propagation and the optimizer
//!   step (global-norm clipping, DP-SGD's noise). The loss scaler's unscaling and skipped
//!   steps come first on that path, then data-parallel training's gradient all-reduce
//!   ([`crate::collective`]), so that clipping sees the global gradient.
//! - [`ParamTransform`]: a change to the parameters after each optimizer step (half-precision
//!   training's f32 buffers; later pruning masks and fake quantisation).

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::precision::RestoreBuffers;
use crate::task::StepOutput;
use crate::{clip, regularize};

/// A term added to every batch's loss.
pub trait LossTerm<M> {
    /// The term for this batch (f32 scalar), or `None` to add nothing; `model` is the f32
    /// master model, `output` the task's step.
    fn term(&mut self, model: &M, output: &StepOutput) -> Option<Tensor<1>>;
}

/// A change to the gradients before the optimizer step.
pub trait GradientHook<M> {
    /// The gradients to step with.
    fn apply(&mut self, model: &M, grads: GradientsParams) -> GradientsParams;
}

/// A change to the parameters after each optimizer step.
pub trait ParamTransform<M> {
    /// The model to train on with.
    fn apply(&mut self, model: M) -> M;
}

/// `weight` times the sum of absolute values of every weight (not biases or norms' offsets).
#[derive(Debug, Clone, Copy)]
pub struct L1Penalty(pub f64);

impl<M: Module> LossTerm<M> for L1Penalty {
    fn term(&mut self, model: &M, _output: &StepOutput) -> Option<Tensor<1>> {
        if self.0 <= 0.0 {
            return None;
        }
        regularize::l1_norm(model).map(|norm| norm.mul_scalar(self.0))
    }
}

/// Scales the gradients down so that their global L2 norm is at most the limit.
#[derive(Debug, Clone, Copy)]
pub struct ClipGradNorm(pub f64);

impl<M: Module> GradientHook<M> for ClipGradNorm {
    fn apply(&mut self, model: &M, grads: GradientsParams) -> GradientsParams {
        clip::clip_grad_norm(model, grads, self.0).0
    }
}

/// Brings buffers (batch-norm statistics) that a half-precision forward pass updated back to
/// f32, so that the master model stays f32.
#[derive(Debug, Clone, Copy)]
pub struct F32Buffers;

impl<M: Module> ParamTransform<M> for F32Buffers {
    fn apply(&mut self, model: M) -> M {
        let _ = model.valid(); // applies the pending batch-norm statistics update
        model.map(&mut RestoreBuffers)
    }
}
