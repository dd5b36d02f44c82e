//! Dropout that keeps one bit per element for its backward pass.
//!
//! Burn's [`Dropout`] multiplies its input by an f32 draw of zeros and ones, and autodiff keeps
//! that draw until the backward pass: four bytes per element (15 MB for the character model's
//! `[128, 50, 576]` features). On the CPU backends (flex, ndarray) with f32 values, [`dropout`]
//! draws the same numbers from the same generator, keeps them as bits, and computes the same
//! products in the same order, so its output and gradients are Burn's to the bit. Elsewhere
//! (wgpu, half precision) it is Burn's layer.

#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod kernels;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::nn::Dropout;
use burn::prelude::*;

/// `layer` applied to `input`: exactly [`Dropout::forward`] (the same draw, the same values,
/// the same gradients, identity outside training), with the kept elements remembered as bits
/// where the device has a fused kernel and the values are f32.
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if keeps_bits(layer, &input) {
        use burn::backend::Dispatch;
        use extension::BitDropoutBackend;
        let prob_keep = 1.0 - layer.prob;
        let draw = input.random_like(burn::tensor::Distribution::Bernoulli(prob_keep));
        let scale = (1.0 / prob_keep) as f32;
        let out = <Dispatch as BitDropoutBackend>::bit_dropout(
            input.into_dispatch(),
            draw.into_dispatch(),
            scale,
        );
        return Tensor::from_dispatch(out);
    }
    layer.forward(input)
}

/// Whether [`dropout`] takes the bit-mask path: Burn's own conditions for dropping anything
/// (training, an autodiff device, a probability), f32 values, and a CPU backend.
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn keeps_bits<const D: usize>(layer: &Dropout, input: &Tensor<D>) -> bool {
    let device = input.device();
    layer.training.is_enabled()
        && device.is_autodiff()
        && layer.prob != 0.0
        && input.dtype() == burn::tensor::DType::F32
        && crate::has_fused_kernel(&device)
}
