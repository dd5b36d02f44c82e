//! A fused dense layer `relu?(x · weight + bias)`: one operation with a hand-written backward
//! pass.
//!
//! On the CPU backends (flex, ndarray) one call starts each output row from the bias, adds the
//! matrix product to it and rectifies it in place, the batch split across threads. An input that
//! is mostly zeros (MNIST's pixels, one-hot features) is multiplied by its nonzeros
//! ([`sparse`]) in the forward pass and in the weight gradient: exact, only the order of the
//! sums differs. Half-precision inputs are computed in f32 and returned in their own type. Other
//! backends (wgpu) get the same maths composed from Burn's tensor operations.

#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
mod kernels;
pub mod sparse;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::prelude::*;

pub use kiln_kernels::has_fused_kernel;

/// `relu?(x · weight + bias)` for `x` `[batch, inputs]`, `weight` `[inputs, outputs]` (Burn's
/// `Linear` layout) and `bias` `[outputs]` (zeros when `None`). Uses the fused kernel where the
/// device has one.
pub fn dense(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>, relu: bool) -> Tensor<2> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&x.device()) {
        use burn::backend::Dispatch;
        use extension::FusedDenseBackend;
        let [_, outputs] = weight.dims();
        let bias = bias.unwrap_or_else(|| Tensor::zeros([outputs], &x.device()));
        let out = <Dispatch as FusedDenseBackend>::fused_dense(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            relu,
        );
        return Tensor::from_dispatch(out);
    }
    composed_dense(x, weight, bias, relu)
}

/// [`dense`] composed from Burn's tensor operations (the reference, and the path of the other
/// backends).
pub fn composed_dense(
    x: Tensor<2>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    relu: bool,
) -> Tensor<2> {
    let z = x.matmul(weight);
    let z = match bias {
        Some(bias) => z + bias.unsqueeze(),
        None => z,
    };
    if relu {
        burn::tensor::activation::relu(z)
    } else {
        z
    }
}
