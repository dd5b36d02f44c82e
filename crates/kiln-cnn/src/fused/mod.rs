//! A fused `conv -> ReLU -> max pool` block: one operation with a hand-written backward pass.
//!
//! On the CPU backends (flex, ndarray) one call builds the im2col matrix of its part of the
//! batch, runs one matrix product with Burn's own `gemm`, and rectifies and pools the result in
//! the same pass, keeping only each pooling window's winner for the backward pass. The batch is
//! split across threads. That skips the layout round trips (NCHW to NHWC and back) and the
//! separate ReLU and pooling passes of the composed operations. Half-precision inputs are
//! computed in f32 inside the kernel and returned in their own type. Other backends (wgpu) get
//! the same maths composed from Burn's tensor operations.

mod batch_norm;
mod composed;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod direct;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
mod kernels;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod norm_extension;
#[cfg(all(test, feature = "flex"))]
mod norm_tests;
mod plane_sums;
#[cfg(target_arch = "x86_64")]
mod pool_row;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::prelude::*;

pub use composed::{conv_relu_pool as composed_conv_relu_pool, conv2d as composed_conv2d};
pub use kiln_kernels::has_fused_kernel;

/// The settings of a fused block besides its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvPool {
    /// Convolution stride (both directions).
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Size and stride of the square max pool; 1 for none.
    pub pool: usize,
}

/// `max_pool(relu(conv2d(x, weight) + bias))` for `x` `[batch, channels, height, width]`,
/// `weight` `[filters, channels, k, k]` (square) and `bias` `[filters]`. Pooling windows that do
/// not fit are dropped, like Burn's `MaxPool2d`. Uses the fused kernel where the device has one.
pub fn conv_relu_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    spec: ConvPool,
) -> Tensor<4> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&x.device()) {
        use burn::backend::Dispatch;
        use extension::FusedConvBackend;
        let out = <Dispatch as FusedConvBackend>::fused_conv_relu_pool(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            spec.stride,
            spec.padding,
            spec.pool.max(1),
        );
        return Tensor::from_dispatch(out);
    }
    composed::conv_relu_pool(x, weight, bias, spec)
}

/// `conv2d(x, weight) + bias` for `x` `[batch, channels, height, width]`, `weight`
/// `[filters, channels, k, k]` (square) and `bias` `[filters]`, with `stride` and zero `padding`
/// on every side: im2col and one matrix product per group of samples, with a hand-written
/// backward pass, where the device has the fused kernel; Burn's `conv2d` elsewhere.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&x.device()) {
        use burn::backend::Dispatch;
        use extension::FusedConvBackend;
        let out = <Dispatch as FusedConvBackend>::fused_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            stride,
            padding,
        );
        return Tensor::from_dispatch(out);
    }
    composed::conv2d(x, weight, bias, stride, padding)
}

/// `relu(conv2d(x, weight) + bias + skip)`, `skip` the shape of the convolution's output: the
/// end of a residual block. On the fused kernel off autodiff the skip is added in the direct
/// convolution's last pass over its output (no separate passes for the addition and the ReLU);
/// composed from the operations above elsewhere.
pub fn conv2d_add_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    skip: Tensor<4>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&x.device()) {
        use burn::backend::Dispatch;
        use extension::FusedConvBackend;
        let out = <Dispatch as FusedConvBackend>::fused_conv2d_add_relu(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            skip.into_dispatch(),
            stride,
            padding,
        );
        return Tensor::from_dispatch(out);
    }
    burn::tensor::activation::relu(conv2d(x, weight, bias, stride, padding) + skip)
}

/// What [`batch_norm_train`] returns: the output and the batch's statistics.
#[derive(Debug, Clone)]
pub struct BatchNormOutput {
    /// `relu?(batch_norm(z) + skip?)`, the shape of `z`.
    pub output: Tensor<4>,
    /// The batch's per-channel mean `[channels]` (no gradient).
    pub mean: Tensor<1>,
    /// The batch's per-channel biased variance `[channels]` (no gradient).
    pub variance: Tensor<1>,
}

/// A training batch norm with the batch's own statistics, then the optional residual `skip`
/// added and the optional ReLU: `relu?((z - mean) / sqrt(variance + epsilon) * gamma + beta +
/// skip?)` for `z` `[batch, channels, height, width]` and `gamma`, `beta` `[channels]`. One
/// operation with a hand-written backward pass where the device has the fused kernel; Burn's
/// `batch_norm_train` and tensor operations elsewhere.
pub fn batch_norm_train(
    z: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    skip: Option<Tensor<4>>,
    relu: bool,
    epsilon: f64,
) -> BatchNormOutput {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&z.device()) {
        use burn::backend::Dispatch;
        use norm_extension::FusedNormBackend;
        let (z, gamma, beta) = (
            z.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
        );
        let (output, mean, variance) = match skip {
            Some(skip) => <Dispatch as FusedNormBackend>::fused_batch_norm_add(
                z,
                gamma,
                beta,
                skip.into_dispatch(),
                relu,
                epsilon,
            ),
            None => <Dispatch as FusedNormBackend>::fused_batch_norm(z, gamma, beta, relu, epsilon),
        };
        return BatchNormOutput {
            output: Tensor::from_dispatch(output),
            mean: Tensor::from_dispatch(mean),
            variance: Tensor::from_dispatch(variance),
        };
    }
    composed::batch_norm_train(z, gamma, beta, skip, relu, epsilon)
}
