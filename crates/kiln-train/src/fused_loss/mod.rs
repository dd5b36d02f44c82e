//! Fused classification losses: binary cross-entropy on logits and softmax cross-entropy, each
//! one operation whose forward pass also computes the gradient with respect to the logits, so
//! that the backward pass is one scaling.
//!
//! Burn composes these losses from about ten tensor operations each (with their autodiff
//! bookkeeping); on the seed network's tiny tensors that bookkeeping, not the arithmetic, was a
//! fifth of a training step. On the CPU backends (flex, ndarray) the fused operation runs on
//! host memory; other backends (wgpu) use Burn's own losses.

#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
mod kernels;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::prelude::*;

/// Mean binary cross-entropy of `[rows, 1]` logits (sigmoid applied inside) against `[rows]`
/// 0/1 labels; Burn's `BinaryCrossEntropyLoss` with logits, fused where the device allows.
pub fn binary_cross_entropy_with_logits(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if kiln_kernels::has_fused_kernel(&logits.device()) {
        use burn::backend::Dispatch;
        use extension::FusedLossBackend;
        return Tensor::from_dispatch(<Dispatch as FusedLossBackend>::fused_binary_cross_entropy(
            logits.into_dispatch(),
            labels.into_dispatch(),
        ));
    }
    composed_binary_cross_entropy(logits, labels)
}

/// Mean softmax cross-entropy of `[rows, classes]` logits against `[rows]` class labels; Burn's
/// `CrossEntropyLoss`, fused where the device allows.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if kiln_kernels::has_fused_kernel(&logits.device()) {
        use burn::backend::Dispatch;
        use extension::FusedLossBackend;
        return Tensor::from_dispatch(<Dispatch as FusedLossBackend>::fused_cross_entropy(
            logits.into_dispatch(),
            labels.into_dispatch(),
        ));
    }
    composed_cross_entropy(logits, labels)
}

/// [`binary_cross_entropy_with_logits`] composed from Burn's operations (any backend).
pub fn composed_binary_cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    BinaryCrossEntropyLossConfig::new()
        .with_logits(true)
        .init(&logits.device())
        .forward(logits, labels.unsqueeze_dim(1))
}

/// [`cross_entropy`] composed from Burn's operations (any backend).
pub fn composed_cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels)
}
