//! Dropout that draws its mask fast and keeps one bit per element for its backward pass.
//!
//! Burn's [`Dropout`] multiplies its input by an f32 draw of zeros and ones from its global
//! generator, one element at a time (about 13 ns each on the CPU backends: a sixth of the
//! character model's training step), and autodiff keeps that draw until the backward pass:
//! four bytes per element (15 MB for the character model's `[128, 50, 576]` features). On the
//! CPU backends (flex, ndarray) with f32 values, [`dropout`] takes one 64-bit seed from Burn's
//! generator (seeded by the run's seed, so a run stays reproducible), draws the mask from it
//! with a counter-based hash (SplitMix64 of the seed and each pair of elements' index) on every
//! core, keeps the mask as bits, and computes Burn's products in Burn's order. Each element is
//! kept with probability `1 - p` (to within 2^-33), independently of the others; the draws are
//! not the ones Burn's generator would have made. Elsewhere (wgpu, half precision) it is Burn's
//! layer.

#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod kernels;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::nn::Dropout;
use burn::prelude::*;

/// `layer` applied to `input`: [`Dropout::forward`]'s maths (each element zeroed with the
/// layer's probability, the others scaled by `1 / (1 - p)`; the identity outside training),
/// with the mask drawn from one seed of Burn's generator and remembered as bits where the
/// device has a fused kernel and the values are f32.
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if keeps_bits(layer, &input) {
        use burn::backend::Dispatch;
        use extension::BitDropoutBackend;
        let prob_keep = 1.0 - layer.prob;
        let seed = draw_seed(&input.device());
        let scale = (1.0 / prob_keep) as f32;
        let out = <Dispatch as BitDropoutBackend>::bit_dropout(
            input.into_dispatch(),
            seed,
            kernels::threshold(prob_keep),
            scale,
        );
        return Tensor::from_dispatch(out);
    }
    layer.forward(input)
}

/// A 64-bit seed from Burn's generator on `device`: four draws of 16 bits.
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn draw_seed(device: &Device) -> u64 {
    let draw = Tensor::<1>::random(
        [4],
        burn::tensor::Distribution::Uniform(0.0, 65_536.0),
        device,
    );
    let values = draw.into_data().convert::<f32>().try_into_vec::<f32>();
    values
        .unwrap_or_default()
        .iter()
        .fold(0u64, |seed, v| (seed << 16) | (*v as u64 & 0xFFFF))
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
