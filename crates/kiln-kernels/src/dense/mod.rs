//! A dense (fully connected) layer in one operation: `x · weight + bias`, optionally rectified.
//!
//! Burn's `Linear` followed by a `Relu` is a matrix product, a broadcast bias addition and a
//! ReLU, each its own pass over the output with its own buffer, and autodiff keeps a mask for
//! the ReLU. On the CPU backends (flex, ndarray) [`dense`] splits the rows across threads; each
//! part runs one single-threaded gemm product and adds the bias and rectifies its rows while they
//! are still in cache. Its hand-written backward pass reads the layer's input and output where
//! the graph keeps them and splits the weight gradient by input features (no partial sums).
//! Elsewhere (wgpu) it is the same maths composed from Burn's tensor operations.

#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod kernels;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::nn::Linear;
use burn::prelude::*;

/// `x · weight + bias` for `x` `[rows, inputs]`, `weight` `[inputs, outputs]` and `bias`
/// `[outputs]` (none: no bias), rectified when `relu`. Fused where the device has the kernel.
///
/// # Panics
/// If the shapes do not fit.
pub fn dense(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>, relu: bool) -> Tensor<2> {
    let weight = crate::float_weight(weight);
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if crate::has_fused_kernel(&x.device()) {
        use burn::backend::Dispatch;
        use extension::FusedDenseBackend;
        let bias = bias.unwrap_or_else(|| {
            let outputs = weight.dims()[1];
            Tensor::<1>::zeros([outputs], &x.device()).cast(x.dtype())
        });
        let out = <Dispatch as FusedDenseBackend>::fused_dense(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            relu,
        );
        return Tensor::from_dispatch(out);
    }
    composed(x, weight, bias, relu)
}

/// [`dense`] with a Burn `Linear` layer's weight and bias: `layer.forward(x)`, rectified when
/// `relu`.
pub fn linear(layer: &Linear, x: Tensor<2>, relu: bool) -> Tensor<2> {
    // The weight first, then the bias, as `Linear::forward` reads them: parameters are
    // initialised lazily, on first read, so the order decides which random numbers each draws.
    let weight = layer.weight.val();
    let bias = layer.bias.as_ref().map(|b| b.val());
    dense(x, weight, bias, relu)
}

/// The same maths from Burn's tensor operations (any device).
pub fn composed(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>, relu: bool) -> Tensor<2> {
    let mut out = x.matmul(weight);
    if let Some(bias) = bias {
        out = out + bias.unsqueeze();
    }
    if relu {
        burn::tensor::activation::relu(out)
    } else {
        out
    }
}
