//! Gradient clipping by the global L2 norm over all parameters (Burn clips each tensor on its
//! own). Computed on the device: no host synchronisation per step.

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The global L2 norm of all gradients of `model`'s parameters, as a one-element tensor.
pub fn global_grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut visitor = SumOfSquares { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map(Tensor::sqrt)
}

/// Scales all gradients so that their global norm is at most `max_norm`; returns the norm
/// before clipping.
pub fn clip_grad_norm<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    max_norm: f64,
) -> (GradientsParams, Option<Tensor<1>>) {
    let Some(norm) = global_grad_norm(model, &grads) else {
        return (grads, None);
    };
    // min(1, max_norm / norm) without a branch on the host.
    let factor = norm
        .clone()
        .clamp_min(max_norm)
        .recip()
        .mul_scalar(max_norm);
    model.visit(&mut Scale {
        grads: &mut grads,
        factor,
    });
    (grads, Some(norm))
}

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let term = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + term,
                None => term,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let factor: Tensor<D> = self.factor.clone().unsqueeze();
            self.grads.register(param.id, grad * factor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny;

    fn grads_of_big_loss() -> (crate::testing::TinyNet, GradientsParams) {
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        device.seed(1);
        let model = tiny(3, 2, &[4], &device);
        let x = Tensor::<2>::ones([5, 3], &device).mul_scalar(10.0);
        let loss = model.forward(x).square().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (model, grads)
    }

    #[test]
    fn clipping_brings_the_global_norm_down_to_the_limit() {
        let (model, grads) = grads_of_big_loss();
        let before: f32 = global_grad_norm(&model, &grads).unwrap().into_scalar();
        assert!(before > 1.0, "test needs large gradients, got {before}");
        let (clipped, reported) = clip_grad_norm(&model, grads, 1.0);
        assert!((reported.unwrap().into_scalar::<f32>() - before).abs() < 1e-3 * before);
        let after: f32 = global_grad_norm(&model, &clipped).unwrap().into_scalar();
        assert!((after - 1.0).abs() < 1e-4, "norm after clipping: {after}");
    }

    #[test]
    fn small_gradients_are_left_alone() {
        let (model, grads) = grads_of_big_loss();
        let before: f32 = global_grad_norm(&model, &grads).unwrap().into_scalar();
        let (clipped, _) = clip_grad_norm(&model, grads, (before * 2.0) as f64);
        let after: f32 = global_grad_norm(&model, &clipped).unwrap().into_scalar();
        assert!((after - before).abs() < 1e-4 * before);
    }
}
