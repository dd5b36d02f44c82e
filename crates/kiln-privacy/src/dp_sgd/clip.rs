//! Per-example clipping: `ḡ = g · min(1, C / (‖g‖₂ + 1e-6))`, the norm over all parameters.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// `Σ ‖g_p‖²` over every float parameter `p` of `model` that has a gradient in `grads`, summed
/// on the device (one host read for the caller, not one per parameter).
pub fn squared_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let term = g.powi_scalar(2).sum();
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

/// Adds `factor · grads` into `sum`, parameter by parameter (`sum` starts empty).
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
            let scaled = g.mul_scalar(self.factor);
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
/// every parameter `p` is `G_p` (zero where `sum` has none).
pub(crate) fn surrogate<M: Module>(model: &M, sum: &GradientsParams, device: &Device) -> Tensor<1> {
    struct Dot<'a> {
        sum: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Dot<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let g = self
                .sum
                .get::<D>(param.id)
                .map(Tensor::from_inner)
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
