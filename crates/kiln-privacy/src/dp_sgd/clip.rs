//! Per-example clipping: `ḡ = g · min(1, C / (‖g‖₂ + 1e-6))`, the norm over all parameters.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;

/// `Σ ‖g_p‖²` over every float parameter `p` of `model` that has a gradient in `grads`, summed
/// on the device in f32 (also for a half-precision model, whose squares could overflow) with
/// one host read for the caller, not one per parameter.
pub fn squared_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let term = g.cast(FloatDType::F32).powi_scalar(2).sum();
                self.sum = Some(match self.sum.take() {
                    Some(sum) => sum + term,
                    None => term,
                });
            }
        }
    }
    let mut norm = Norm { grads, sum: None };
    model.visit(&mut norm);
    norm.sum.map_or(0.0, |s| f64::from(s.into_scalar::<f32>()))
}

/// The factor that clips a gradient of L2 norm `norm` to `max_norm` (Opacus's, with its 1e-6).
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// Adds `factor · grads` into `sum` in f32, parameter by parameter (`sum` starts empty).
pub(crate) fn add_scaled<M: Module>(
    model: &M,
    sum: &mut GradientsParams,
    grads: &GradientsParams,
    factor: f64,
) {
    struct Add<'a> {
        sum: &'a mut GradientsParams,
        grads: &'a GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some(g) = self.grads.get::<D>(param.id) else {
                return;
            };
            let scaled = g.cast(FloatDType::F32).mul_scalar(self.factor);
            let total = match self.sum.remove::<D>(param.id) {
                Some(previous) => previous + scaled,
                None => scaled,
            };
            self.sum.register::<D>(param.id, total);
        }
    }
    model.visit(&mut Add { sum, grads, factor });
}

/// `Σ_p (p · G_p).sum()` minus its own value: a loss worth zero whose gradient with respect to
/// every parameter `p` is `G_p` (zero where `sum` has none). Summed in f32, so that a
/// half-precision model's copy cannot overflow it.
pub(crate) fn surrogate<M: Module>(model: &M, sum: &GradientsParams, device: &Device) -> Tensor<1> {
    struct Dot<'a> {
        sum: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Dot<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val().cast(FloatDType::F32);
            let g = self
                .sum
                .get::<D>(param.id)
                .map(|g| Tensor::from_inner(g).cast(FloatDType::F32))
                .unwrap_or_else(|| value.zeros_like().detach());
            let term = (value * g.detach()).sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + term,
                None => term,
            });
        }
    }
    let mut dot = Dot { sum, total: None };
    model.visit(&mut dot);
    let total = dot.total.unwrap_or_else(|| Tensor::zeros([1], device));
    total.clone() - total.detach()
}

/// A copy of `model` whose float parameters are leaves of their own (detached, requiring a
/// gradient, the same ids). Per-example backward passes through it leave `model`'s graph
/// intact for the surrogate loss: a half-precision copy's graph leads back to the f32 master
/// weights, and Burn goes through a graph once.
pub(crate) fn leaf_copy<M: Module>(model: &M) -> M {
    struct Leaves;
    impl ModuleMapper for Leaves {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.detach().require_grad())
        }
    }
    model.clone().map(&mut Leaves)
}
