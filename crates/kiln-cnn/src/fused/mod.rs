//! A fused `conv -> ReLU -> max pool` block: one operation with a hand-written backward pass.
//!
//! On the CPU backends (flex, ndarray) one call builds the im2col matrix of its part of the
//! batch, runs one matrix product with Burn's own `gemm`, and rectifies and pools the result in
//! the same pass, keeping only each pooling window's winner for the backward pass. The batch is
//! split across threads. That skips the layout round trips (NCHW to NHWC and back) and the
//! separate ReLU and pooling passes of the composed operations. Half-precision inputs are
//! computed in f32 inside the kernel and returned in their own type. Other backends (wgpu) get
//! the same maths composed from Burn's tensor operations.

mod composed;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
mod kernels;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::prelude::*;

pub use composed::conv_relu_pool as composed_conv_relu_pool;
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
