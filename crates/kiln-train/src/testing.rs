//! A tiny module for the unit tests: the loop's own tests need no model crate.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

/// Linear layers with ReLU between them.
#[derive(Module, Debug)]
pub struct TinyNet {
    pub hidden: Vec<Linear>,
    pub output: Linear,
    activation: Relu,
}

impl TinyNet {
    pub fn forward(&self, inputs: Tensor<2>) -> Tensor<2> {
        let x = self
            .hidden
            .iter()
            .fold(inputs, |x, layer| self.activation.forward(layer.forward(x)));
        self.output.forward(x)
    }
}

/// `inputs -> hidden... -> outputs`.
pub fn tiny(inputs: usize, outputs: usize, hidden: &[usize], device: &Device) -> TinyNet {
    let mut width = inputs;
    let hidden = hidden
        .iter()
        .map(|&h| {
            let layer = LinearConfig::new(width, h).init(device);
            width = h;
            layer
        })
        .collect();
    TinyNet {
        hidden,
        output: LinearConfig::new(width, outputs).init(device),
        activation: Relu::new(),
    }
}
