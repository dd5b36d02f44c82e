//! The multi-layer perceptron: `Linear -> [BatchNorm] -> activation -> [Dropout]` per hidden
//! layer, then a linear output layer that returns logits.

use burn::nn::activation::{Activation, ActivationConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

/// Configuration of an [`Mlp`]: sizes, activation, dropout and optional batch norm.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Number of input features.
    pub input_size: usize,
    /// Number of outputs (logits); 1 for a binary classifier with a sigmoid.
    pub output_size: usize,
    /// Width of each hidden layer, first to last; empty for a linear model.
    #[config(default = "Vec::new()")]
    pub hidden_sizes: Vec<usize>,
    /// Activation applied after every hidden layer.
    #[config(default = "ActivationConfig::Relu")]
    pub activation: ActivationConfig,
    /// Dropout probability after every hidden activation (0 disables it).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Batch normalisation after every hidden linear layer, before the activation.
    #[config(default = false)]
    pub batch_norm: bool,
}

/// A multi-layer perceptron that maps `[batch, input_size]` to `[batch, output_size]` logits.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden linear layers, first to last.
    pub hidden: Vec<Linear>,
    /// One batch norm per hidden layer, or none when disabled.
    pub norms: Vec<BatchNorm>,
    /// Activation after every hidden layer.
    pub activation: Activation,
    /// Dropout after every hidden activation.
    pub dropout: Dropout,
    /// The output layer (no activation: it returns logits).
    pub output: Linear,
}

impl MlpConfig {
    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut width = self.input_size;
        let mut hidden = Vec::with_capacity(self.hidden_sizes.len());
        let mut norms = Vec::new();
        for &size in &self.hidden_sizes {
            hidden.push(LinearConfig::new(width, size).init(device));
            if self.batch_norm {
                norms.push(BatchNormConfig::new(size).init(device));
            }
            width = size;
        }
        Mlp {
            hidden,
            norms,
            activation: self.activation.init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(width, self.output_size).init(device),
        }
    }
}

impl Mlp {
    /// Logits for a batch of feature rows: `[batch, input_size] -> [batch, output_size]`.
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let mut x = input;
        for (index, layer) in self.hidden.iter().enumerate() {
            x = layer.forward(x);
            if let Some(norm) = self.norms.get(index) {
                x = norm.forward(x);
            }
            x = self.dropout.forward(self.activation.forward(x));
        }
        self.output.forward(x)
    }

    /// Number of input features the network expects.
    pub fn input_size(&self) -> usize {
        let layer = self.hidden.first().unwrap_or(&self.output);
        layer.weight.dims()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_shape_follows_config() {
        let device = Device::flex();
        let model = MlpConfig::new(30, 1)
            .with_hidden_sizes(vec![10, 5])
            .with_batch_norm(true)
            .with_dropout(0.1)
            .init(&device);
        assert_eq!(
            model.forward(Tensor::<2>::ones([7, 30], &device)).dims(),
            [7, 1]
        );
        assert_eq!(model.input_size(), 30);
        // 30*10+10, batch norm 4*10 (gamma, beta and the two running statistics), 10*5+5, 4*5, 5+1
        assert_eq!(model.num_params(), 310 + 40 + 55 + 20 + 6);
    }

    #[test]
    fn linear_model_without_hidden_layers() {
        let device = Device::flex();
        let model = MlpConfig::new(4, 3).init(&device);
        assert_eq!(
            model.forward(Tensor::<2>::ones([2, 4], &device)).dims(),
            [2, 3]
        );
        assert_eq!(model.input_size(), 4);
    }
}
