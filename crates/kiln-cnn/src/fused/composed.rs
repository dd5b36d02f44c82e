//! The fused block composed from Burn's differentiable tensor operations: the path for backends
//! without a fused kernel (wgpu), and the reference the kernel is tested against.

use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

use super::ConvPool;

/// `max_pool(relu(conv2d(x, weight) + bias))`, as [`super::conv_relu_pool`].
pub fn conv_relu_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    spec: ConvPool,
) -> Tensor<4> {
    let options = ConvOptions::new([spec.stride; 2], [spec.padding; 2], [1, 1], 1);
    let y = relu(conv2d(x, weight, Some(bias), options));
    if spec.pool <= 1 {
        return y;
    }
    max_pool2d(y, MaxPoolOptions::new([spec.pool; 2]))
}
