//! DP-SGD's noise: `(Σ ḡ_i + N(0, σ²C²)) / (q·N)`, every coordinate of every parameter.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use kiln_train::hooks::GradientHook;

/// Adds Gaussian noise of standard deviation `noise_multiplier · max_grad_norm` to the summed
/// clipped gradients and divides them by the expected batch size.
#[derive(Debug, Clone, Copy)]
pub struct GaussianNoise {
    /// `σ · C`.
    std: f64,
    /// `q · N`.
    expected_batch: f64,
}

impl GaussianNoise {
    /// Noise for clip norm `max_grad_norm` at multiplier `noise_multiplier`, for an expected
    /// batch of `expected_batch` (`q · N`) examples.
    pub fn new(noise_multiplier: f64, max_grad_norm: f64, expected_batch: f64) -> Self {
        Self {
            std: noise_multiplier * max_grad_norm,
            expected_batch,
        }
    }
}

impl<M: Module> GradientHook<M> for GaussianNoise {
    fn apply(&mut self, model: &M, mut grads: GradientsParams) -> GradientsParams {
        struct Noisy<'a> {
            grads: &'a mut GradientsParams,
            hook: GaussianNoise,
        }
        impl ModuleVisitor for Noisy<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let value = param.val().inner();
                let g = self
                    .grads
                    .remove::<D>(param.id)
                    .unwrap_or_else(|| value.zeros_like());
                let noise = Tensor::<D>::random(
                    value.shape(),
                    Distribution::Normal(0.0, self.hook.std),
                    &value.device(),
                );
                self.grads
                    .register::<D>(param.id, (g + noise).div_scalar(self.hook.expected_batch));
            }
        }
        model.visit(&mut Noisy {
            grads: &mut grads,
            hook: *self,
        });
        grads
    }
}
