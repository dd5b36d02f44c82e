//! The multi-layer perceptron: `Linear -> [BatchNorm] -> activation -> [Dropout]` per hidden
//! layer, then a linear output layer that returns logits.

use burn::nn::activation::{Activation, ActivationConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use kiln_kernels::{dense, dropout};

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
    ///
    /// Each hidden layer without batch norm and with a ReLU is one fused operation
    /// ([`kiln_kernels::dense`]: product, bias and ReLU in one pass, a hand-written backward
    /// pass) where the device has the kernel; the output layer too, without the ReLU.
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let mut x = input;
        for (index, layer) in self.hidden.iter().enumerate() {
            let norm = self.norms.get(index);
            let fused_relu = norm.is_none() && matches!(self.activation, Activation::Relu(_));
            x = dense::linear(layer, x, fused_relu);
            if let Some(norm) = norm {
                x = norm.forward(x);
            }
            if !fused_relu {
                x = self.activation.forward(x);
            }
            x = dropout::dropout(&self.dropout, x);
        }
        dense::linear(&self.output, x, false)
    }

    /// [`Mlp::forward`] on Burn's own layers alone (`Linear`, then the activation), whatever
    /// the device: the reference for tests and benchmarks.
    pub fn forward_composed(&self, input: Tensor<2>) -> Tensor<2> {
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

    /// Burn's generator is global: the tests that seed it and draw from it take turns.
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn rng_turn() -> std::sync::MutexGuard<'static, ()> {
        RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every parameter's values, in module order.
    fn parameters(model: &Mlp) -> Vec<Vec<f32>> {
        let layers = model.hidden.iter().chain([&model.output]);
        layers
            .flat_map(|l| {
                let bias = l.bias.as_ref().map(|b| b.val().unsqueeze::<2>());
                [Some(l.weight.val()), bias]
            })
            .flatten()
            .map(|t| {
                t.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32")
            })
            .collect()
    }

    #[test]
    fn the_fused_path_draws_the_lazy_initial_weights_as_burns_layers_do() {
        // Parameters are initialised on first read: the fused layers must read them in
        // `Linear::forward`'s order, or a seeded run would start from other weights.
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::ones([2, 30], &device);
        let fresh = |fused: bool| {
            let _turn = rng_turn();
            device.seed(11);
            let model = MlpConfig::new(30, 4)
                .with_hidden_sizes(vec![20, 10])
                .init(&device);
            let _ = if fused {
                model.forward(x.clone())
            } else {
                model.forward_composed(x.clone())
            };
            parameters(&model)
        };
        assert_eq!(fresh(true), fresh(false));
    }

    #[test]
    fn forward_shape_follows_config() {
        let _turn = rng_turn();
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

    /// The output and every parameter's gradient of `forward` on a fixed batch.
    fn output_and_gradients(
        model: &Mlp,
        forward: fn(&Mlp, Tensor<2>) -> Tensor<2>,
    ) -> Vec<Vec<f32>> {
        let device = Device::flex().autodiff();
        // Fixed values, not Burn's global generator (other tests draw from it at the same time).
        let values: Vec<f32> = (0..33 * 30).map(|i| (i as f32 * 0.37).sin()).collect();
        let x = Tensor::<2>::from_data(TensorData::new(values, [33, 30]), &device);
        let logits = forward(model, x);
        let grads = logits.clone().powi_scalar(2).sum().backward();
        let mut all = vec![
            logits
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 values"),
        ];
        let layers = model.hidden.iter().chain([&model.output]);
        for layer in layers {
            let w = layer.weight.grad(&grads).expect("weight gradient");
            let b = layer
                .bias
                .as_ref()
                .unwrap()
                .grad(&grads)
                .expect("bias gradient");
            all.push(
                w.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32 values"),
            );
            all.push(
                b.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32 values"),
            );
        }
        all
    }

    #[test]
    fn fused_layers_give_burns_outputs_and_gradients() {
        let _turn = rng_turn();
        let device = Device::flex().autodiff();
        for activation in [ActivationConfig::Relu, ActivationConfig::Tanh] {
            let model = MlpConfig::new(30, 4)
                .with_hidden_sizes(vec![20, 10])
                .with_activation(activation)
                .init(&device);
            let fused = output_and_gradients(&model, Mlp::forward);
            let composed = output_and_gradients(&model, Mlp::forward_composed);
            for (index, (a, e)) in fused.iter().zip(&composed).enumerate() {
                let worst = a
                    .iter()
                    .zip(e)
                    .map(|(a, e)| (a - e).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-5, "tensor {index}: max difference {worst}");
            }
        }
    }

    #[test]
    fn linear_model_without_hidden_layers() {
        let _turn = rng_turn();
        let device = Device::flex();
        let model = MlpConfig::new(4, 3).init(&device);
        assert_eq!(
            model.forward(Tensor::<2>::ones([2, 4], &device)).dims(),
            [2, 3]
        );
        assert_eq!(model.input_size(), 4);
    }
}
