//! A small network and data for the compression tests.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use kiln_data::{Samples, SeededRng};

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

/// Points inside (class 0) or outside (class 1) a circle.
pub fn rings(n: usize, seed: u64) -> Samples {
    let mut rng = SeededRng::new(seed);
    let mut features = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let (x, y) = (rng.unit_f32() * 4.0 - 2.0, rng.unit_f32() * 4.0 - 2.0);
        features.extend([x, y]);
        labels.push(u32::from(x * x + y * y > 1.5));
    }
    Samples {
        features,
        sample_shape: vec![2],
        labels,
        num_classes: 2,
        feature_names: vec!["x".into(), "y".into()],
    }
}
