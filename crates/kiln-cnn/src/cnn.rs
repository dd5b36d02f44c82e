//! The convolutional classifier: conv blocks, then flatten (or global average pooling), then
//! `Linear -> ReLU -> [Dropout]` per hidden size and a linear output layer returning logits.

use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;

use crate::{CnnConfig, ConvBlock};

/// A convolutional network that maps images `[batch, channels, height, width]` to
/// `[batch, num_classes]` logits. Build it with [`CnnConfig::init`].
#[derive(Module, Debug)]
pub struct Cnn {
    /// Conv blocks, first to last.
    pub blocks: Vec<ConvBlock>,
    /// Global average pooling over height and width, or `None` to flatten the feature map.
    pub global_pool: Option<AdaptiveAvgPool2d>,
    /// Hidden linear layers of the classifier, first to last.
    pub hidden: Vec<Linear>,
    /// ReLU after every hidden linear layer.
    pub activation: Relu,
    /// Dropout after every hidden activation.
    pub dropout: Dropout,
    /// The output layer (no activation: it returns logits).
    pub output: Linear,
    /// Input shape `[channels, height, width]` the network was built for.
    pub input_shape: [usize; 3],
}

impl CnnConfig {
    /// Builds the network with freshly initialised weights on `device`.
    ///
    /// Call [`check`](Self::check) first and only call `init` when it passes.
    ///
    /// # Panics
    ///
    /// With the message of [`check`](Self::check) when the configuration is invalid (for
    /// example, an input too small for the conv blocks).
    pub fn init(&self, device: &Device) -> Cnn {
        if let Err(message) = self.check() {
            panic!("invalid CNN configuration: {message}");
        }
        let mut channels = self.input_channels;
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            blocks.push(block.init(channels, device));
            channels = block.out_channels;
        }
        let mut width = self.feature_size().expect("checked above");
        let mut hidden = Vec::with_capacity(self.hidden_sizes.len());
        for &size in &self.hidden_sizes {
            hidden.push(LinearConfig::new(width, size).init(device));
            width = size;
        }
        Cnn {
            blocks,
            global_pool: self
                .global_avg_pool
                .then(|| AdaptiveAvgPool2dConfig::new([1, 1]).init()),
            hidden,
            activation: Relu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(width, self.num_classes).init(device),
            input_shape: [self.input_channels, self.input_height, self.input_width],
        }
    }
}

impl Cnn {
    /// Logits for a batch of images: `[batch, channels, height, width] -> [batch, num_classes]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x);
        }
        if let Some(pool) = &self.global_pool {
            x = pool.forward(x);
        }
        let mut x: Tensor<2> = x.flatten(1, 3);
        for layer in &self.hidden {
            let hidden = self.activation.forward(layer.forward(x));
            x = kiln_kernels::dropout::dropout(&self.dropout, hidden);
        }
        self.output.forward(x)
    }

    /// Logits for a batch of flattened images: `[batch, C*H*W] -> [batch, num_classes]`. Each
    /// row is reshaped to `[C, H, W]` (row-major, channel first) before [`forward`](Self::forward).
    pub fn forward_flat(&self, inputs: Tensor<2>) -> Tensor<2> {
        let [batch, _] = inputs.dims();
        let [channels, height, width] = self.input_shape;
        self.forward(inputs.reshape([batch, channels, height, width]))
    }

    /// This network for inference with every block's batch norms folded into its convolutions
    /// ([`ConvBlock::fold_batch_norms`]): the same logits off an autodiff device, without
    /// folding again on every call. Not for training.
    pub fn fold_batch_norms(self) -> Cnn {
        Cnn {
            blocks: self
                .blocks
                .into_iter()
                .map(ConvBlock::fold_batch_norms)
                .collect(),
            ..self
        }
    }

    /// Number of input values per sample, `C*H*W`.
    pub fn input_size(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of classes (output logits).
    pub fn num_classes(&self) -> usize {
        self.output.weight.dims()[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConvBlockConfig;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::Distribution;

    #[test]
    fn lenet_forward_shape_and_params() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let model = CnnConfig::lenet(10).init(&device);
        let logits = model.forward(Tensor::<4>::zeros([2, 1, 28, 28], &device));
        assert_eq!(logits.dims(), [2, 10]);
        assert_eq!(model.input_size(), 784);
        assert_eq!(model.num_classes(), 10);
        let expected = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (1600 * 128 + 128) + (128 * 10 + 10);
        assert_eq!(expected, 225_034);
        assert_eq!(model.num_params(), expected);
    }

    #[test]
    fn resnet_small_forward_shape_and_params() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let model = CnnConfig::resnet_small(10).init(&device);
        let logits = model.forward(Tensor::<4>::zeros([2, 1, 28, 28], &device));
        assert_eq!(logits.dims(), [2, 10]);
        assert!(model.blocks[1].is_residual() && model.blocks[2].is_residual());
        // Convolutions followed by batch norm have no bias; each batch norm counts gamma, beta
        // and its two running statistics.
        let stem = 32 * 9 + 4 * 32;
        let block1 = 64 * 32 * 9 + 64 * 64 * 9 + 64 * 32 + 3 * 4 * 64;
        let block2 = 128 * 64 * 9 + 128 * 128 * 9 + 128 * 64 + 3 * 4 * 128;
        let head = 128 * 10 + 10;
        assert_eq!(model.num_params(), stem + block1 + block2 + head);
        assert!(model.num_params() < 300_000, "{}", model.num_params());
    }

    #[test]
    fn forward_flat_matches_forward() {
        let device = Device::flex();
        let _rng = crate::test_rng::rng_guard();
        device.seed(3);
        let config = CnnConfig::new(2, 6, 5, 4)
            .with_blocks(vec![ConvBlockConfig::new(3).with_padding(1).with_pool(2)])
            .with_hidden_sizes(vec![8]);
        let model = config.init(&device);
        let images = Tensor::<4>::random([3, 2, 6, 5], Distribution::Normal(0.0, 1.0), &device);
        let direct = model.forward(images.clone());
        let flat = model.forward_flat(images.reshape([3, 2 * 6 * 5]));
        direct
            .into_data()
            .assert_approx_eq::<f32>(&flat.into_data(), Default::default());
    }

    #[test]
    #[should_panic(expected = "invalid CNN configuration")]
    fn init_panics_on_an_unchecked_bad_config() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let config = CnnConfig {
            input_height: 4,
            ..CnnConfig::lenet(10)
        };
        config.init(&Device::flex());
    }

    /// Trains `config` for 50 Adam steps on 8 random images with fixed labels and returns the
    /// first and last training losses.
    fn overfit(config: &CnnConfig) -> (f32, f32) {
        let device = Device::flex().autodiff();
        let _rng = crate::test_rng::rng_guard();
        device.seed(7);
        let [c, h, w] = [
            config.input_channels,
            config.input_height,
            config.input_width,
        ];
        let images = Tensor::<4>::random([8, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let labels = Tensor::<1, Int>::from_data([0, 1, 2, 0, 1, 2, 0, 1], &device);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mut model = config.init(&device);
        let mut optimizer = AdamConfig::new().init();
        let mut losses = Vec::new();
        for _ in 0..50 {
            let loss = loss_fn.forward(model.forward(images.clone()), labels.clone());
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-2, model, grads);
        }
        (losses[0], *losses.last().unwrap())
    }

    #[test]
    fn tiny_cnn_overfits_eight_images() {
        let config = CnnConfig::new(1, 8, 8, 3)
            .with_blocks(vec![ConvBlockConfig::new(4).with_pool(2)])
            .with_hidden_sizes(vec![16]);
        let (first, last) = overfit(&config);
        assert!(
            first > 0.5 && last < 0.01,
            "loss went from {first} to {last}"
        );
    }

    #[test]
    fn tiny_resnet_overfits_eight_images() {
        let config = CnnConfig::new(1, 8, 8, 3)
            .with_blocks(vec![
                ConvBlockConfig::new(4)
                    .with_padding(1)
                    .with_batch_norm(true),
                ConvBlockConfig::new(8).with_stride(2).with_residual(true),
            ])
            .with_global_avg_pool(true);
        let (first, last) = overfit(&config);
        assert!(
            first > 0.5 && last < 0.1,
            "loss went from {first} to {last}"
        );
    }
}
