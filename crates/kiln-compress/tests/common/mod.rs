//! A small network and data for the compression tests.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

/// Two Linear layers.
#[derive(Module, Debug)]
pub struct Net {
    pub hidden: Linear,
    pub output: Linear,
    pub activation: Relu,
}

impl Net {
    pub fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, 32).init(device),
            output: LinearConfig::new(32, 2).init(device),
            activation: Relu::new(),
        }
    }

    pub fn forward(&self, points: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(self.activation.forward(self.hidden.forward(points)))
    }
}

/// Values of a float tensor.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}
