//! The fused block composed from Burn's differentiable tensor operations: the path for backends
//! without a fused kernel (wgpu), and the reference the kernel is tested against.

use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d as burn_conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

use super::{BatchNormOutput, ConvPool};

/// `max_pool(relu(conv2d(x, weight) + bias))`, as [`super::conv_relu_pool`].
pub fn conv_relu_pool(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    spec: ConvPool,
) -> Tensor<4> {
    let options = ConvOptions::new([spec.stride; 2], [spec.padding; 2], [1, 1], 1);
    let y = relu(burn_conv2d(x, weight, Some(bias), options));
    if spec.pool <= 1 {
        return y;
    }
    max_pool2d(y, MaxPoolOptions::new([spec.pool; 2]))
}

/// `conv2d(x, weight) + bias`, as [`super::conv2d`].
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
    burn_conv2d(x, weight, Some(bias), options)
}

/// Burn's `batch_norm_train`, then the skip and the ReLU, as [`super::batch_norm_train`].
pub fn batch_norm_train(
    z: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    skip: Option<Tensor<4>>,
    relu: bool,
    epsilon: f64,
) -> BatchNormOutput {
    let result = burn::tensor::module::batch_norm_train(z, gamma, beta, epsilon);
    let mut output = result.output;
    if let Some(skip) = skip {
        output = output + skip;
    }
    if relu {
        output = burn::tensor::activation::relu(output);
    }
    BatchNormOutput {
        output,
        mean: result.mean.detach(),
        variance: result.variance.detach(),
    }
}
