//! Configuration of a [`Cnn`](crate::Cnn): its input, conv blocks and classifier head, the shape
//! arithmetic behind them, a validity check and the presets.

use burn::prelude::*;

/// One convolutional block of a [`CnnConfig`].
///
/// A plain block is `Conv2d -> [BatchNorm] -> ReLU -> [MaxPool] -> [Dropout]`.
/// A residual block (`residual = true`) is
/// `Conv3x3(stride) -> BatchNorm -> ReLU -> Conv3x3 -> BatchNorm`, added to a skip connection
/// (a strided 1x1 projection conv with batch norm when the channels change or `stride != 1`),
/// then `ReLU -> [MaxPool] -> [Dropout]`.
#[derive(Config, Debug, PartialEq)]
pub struct ConvBlockConfig {
    /// Number of output channels (feature maps).
    pub out_channels: usize,
    /// Square kernel size of a plain block's convolution; ignored by residual blocks (always 3).
    #[config(default = 3)]
    pub kernel_size: usize,
    /// Zero padding on every side of a plain block's convolution (0 = "valid"); ignored by
    /// residual blocks, whose 3x3 convs always pad by 1.
    #[config(default = 0)]
    pub padding: usize,
    /// Convolution stride (for a residual block: the stride of its first conv and projection).
    #[config(default = 1)]
    pub stride: usize,
    /// Size and stride of a square max pool after the block; 0 or 1 means no pooling.
    #[config(default = 0)]
    pub pool: usize,
    /// Batch normalisation after a plain block's convolution, before the ReLU (residual blocks
    /// always use batch norm). A convolution followed by batch norm has no bias.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Dropout probability at the end of the block (0 disables it).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Whether this is a residual block (see the type documentation).
    #[config(default = false)]
    pub residual: bool,
}

/// Configuration of a [`Cnn`](crate::Cnn): conv blocks, then a classifier head.
///
/// The head either flattens the last feature map or, with `global_avg_pool`, averages it over
/// height and width; then `Linear -> ReLU -> [Dropout]` per hidden size and a final `Linear`
/// to `num_classes` logits.
#[derive(Config, Debug, PartialEq)]
pub struct CnnConfig {
    /// Channels of the input images (1 for greyscale).
    pub input_channels: usize,
    /// Height of the input images in pixels.
    pub input_height: usize,
    /// Width of the input images in pixels.
    pub input_width: usize,
    /// Number of classes (output logits).
    pub num_classes: usize,
    /// Convolutional blocks, first to last.
    #[config(default = "Vec::new()")]
    pub blocks: Vec<ConvBlockConfig>,
    /// Width of each hidden linear layer of the classifier, first to last.
    #[config(default = "Vec::new()")]
    pub hidden_sizes: Vec<usize>,
    /// Dropout probability after every hidden classifier layer (0 disables it).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Average the last feature map over height and width (global average pooling) instead of
    /// flattening it, so the classifier sees one feature per channel.
    #[config(default = false)]
    pub global_avg_pool: bool,
}

impl ConvBlockConfig {
    /// Shape `[channels, height, width]` of this block's output for an input of shape `input`,
    /// or a message naming the sizes when the input is too small or a size is zero.
    /// `index` (0-based) and `network_input` only serve the message.
    fn output_shape(
        &self,
        index: usize,
        input: [usize; 3],
        network_input: [usize; 3],
    ) -> Result<[usize; 3], String> {
        let [channels, height, width] = input;
        let block = format!(
            "conv block {} ({}; network input {} as CxHxW)",
            index + 1,
            if self.residual { "residual" } else { "plain" },
            shape_text(network_input)
        );
        if self.out_channels == 0 {
            return Err(format!("{block}: out_channels must be at least 1"));
        }
        if self.stride == 0 {
            return Err(format!("{block}: stride must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "{block}: dropout {} is not in [0, 1)",
                self.dropout
            ));
        }
        let (kernel, padding) = if self.residual {
            (3, 1)
        } else {
            (self.kernel_size, self.padding)
        };
        if kernel == 0 {
            return Err(format!("{block}: kernel_size must be at least 1"));
        }
        let (padded_height, padded_width) = (height + 2 * padding, width + 2 * padding);
        if kernel > padded_height || kernel > padded_width {
            return Err(format!(
                "{block}: kernel {kernel}x{kernel} is larger than its {}x{} input feature map \
                 ({channels}x{height}x{width} as CxHxW, padding {padding}); use a larger input, \
                 more padding, a smaller kernel or fewer blocks",
                padded_height, padded_width
            ));
        }
        let mut height = (padded_height - kernel) / self.stride + 1;
        let mut width = (padded_width - kernel) / self.stride + 1;
        if self.pool > 1 {
            if self.pool > height || self.pool > width {
                return Err(format!(
                    "{block}: max pool {pool}x{pool} shrinks the {c}x{height}x{width} \
                     (CxHxW) feature map after its convolution to 0; use a larger input, a \
                     smaller pool or fewer blocks",
                    pool = self.pool,
                    c = self.out_channels,
                ));
            }
            height /= self.pool;
            width /= self.pool;
        }
        Ok([self.out_channels, height, width])
    }
}

/// `C x H x W` as text.
fn shape_text([c, h, w]: [usize; 3]) -> String {
    format!("{c}x{h}x{w}")
}

impl CnnConfig {
    /// The LeNet-style MNIST network: input 1x28x28, conv 1->32 3x3 (valid) + ReLU, max pool 2,
    /// conv 32->64 3x3 (valid) + ReLU, max pool 2, flatten (1600) -> Linear 128 + ReLU -> Linear
    /// to `num_classes`. Dropout is 0; set it with [`with_dropout`](Self::with_dropout).
    pub fn lenet(num_classes: usize) -> Self {
        Self::new(1, 28, 28, num_classes)
            .with_blocks(vec![
                ConvBlockConfig::new(32).with_pool(2),
                ConvBlockConfig::new(64).with_pool(2),
            ])
            .with_hidden_sizes(vec![128])
    }

    /// A small residual network with batch norm for 1x28x28 images: a 3x3 "same" stem conv to
    /// 32 channels with batch norm, residual blocks 32->64 (stride 2, 14x14) and 64->128
    /// (stride 2, 7x7), global average pooling and a linear layer to `num_classes`.
    /// About 290k parameters (batch-norm running statistics included).
    pub fn resnet_small(num_classes: usize) -> Self {
        Self::new(1, 28, 28, num_classes)
            .with_blocks(vec![
                ConvBlockConfig::new(32)
                    .with_padding(1)
                    .with_batch_norm(true),
                ConvBlockConfig::new(64).with_stride(2).with_residual(true),
                ConvBlockConfig::new(128).with_stride(2).with_residual(true),
            ])
            .with_global_avg_pool(true)
    }

    /// Shape `[channels, height, width]` of the feature map after the last conv block (the
    /// input shape when there are no blocks), or the message of [`check`](Self::check).
    pub fn output_shape(&self) -> Result<[usize; 3], String> {
        let input = [self.input_channels, self.input_height, self.input_width];
        if input.contains(&0) {
            return Err(format!(
                "the input shape {} (CxHxW) has a zero size",
                shape_text(input)
            ));
        }
        self.blocks
            .iter()
            .enumerate()
            .try_fold(input, |shape, (index, block)| {
                block.output_shape(index, shape, input)
            })
    }

    /// Number of features the classifier head receives: `C*H*W` of the last feature map, or
    /// `C` with global average pooling. Fails like [`output_shape`](Self::output_shape).
    pub fn feature_size(&self) -> Result<usize, String> {
        let [channels, height, width] = self.output_shape()?;
        Ok(if self.global_avg_pool {
            channels
        } else {
            channels * height * width
        })
    }

    /// Number of input values per sample, `C*H*W`: the width of the rows
    /// [`Cnn::forward_flat`](crate::Cnn::forward_flat) takes.
    pub fn input_size(&self) -> usize {
        self.input_channels * self.input_height * self.input_width
    }

    /// Checks that the network can be built: every size is non-zero, dropouts are in `[0, 1)`
    /// and every conv block and pool fits the feature map it receives. On failure, returns a
    /// message that names the block and the sizes involved, for the caller to report (and, in
    /// a command-line tool, exit with code 2) instead of panicking in [`init`](Self::init).
    pub fn check(&self) -> Result<(), String> {
        self.feature_size()?;
        if self.num_classes == 0 {
            return Err("num_classes must be at least 1".to_string());
        }
        if let Some(index) = self.hidden_sizes.iter().position(|&size| size == 0) {
            return Err(format!("hidden layer {} has size 0", index + 1));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "classifier dropout {} is not in [0, 1)",
                self.dropout
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenet_shapes() {
        let config = CnnConfig::lenet(10);
        assert_eq!(config.output_shape(), Ok([64, 5, 5]));
        assert_eq!(config.feature_size(), Ok(1600));
        assert_eq!(config.input_size(), 784);
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn resnet_small_shapes() {
        let config = CnnConfig::resnet_small(10);
        assert_eq!(config.output_shape(), Ok([128, 7, 7]));
        assert_eq!(config.feature_size(), Ok(128));
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn strides_and_padding() {
        let config = CnnConfig::new(3, 32, 20, 2).with_blocks(vec![
            ConvBlockConfig::new(8).with_kernel_size(5).with_padding(2),
            ConvBlockConfig::new(16).with_stride(2),
            ConvBlockConfig::new(16).with_residual(true).with_stride(2),
            ConvBlockConfig::new(16).with_residual(true).with_pool(3),
        ]);
        // 32x20 -> 32x20 -> 15x9 -> 8x5 -> 8x5 -> pool 3 -> 2x1
        assert_eq!(config.output_shape(), Ok([16, 2, 1]));
    }

    #[test]
    fn check_refuses_a_kernel_larger_than_the_map() {
        let config = CnnConfig {
            input_height: 8,
            input_width: 8,
            ..CnnConfig::lenet(10)
        };
        // 8 -> conv 6 -> pool 3 -> conv 1 -> pool 2 on a 1x1 map
        let message = config.check().unwrap_err();
        assert!(message.contains("conv block 2"), "{message}");
        assert!(message.contains("max pool 2x2"), "{message}");
        assert!(message.contains("64x1x1"), "{message}");
        assert!(message.contains("1x8x8"), "{message}");

        let config = CnnConfig {
            input_height: 6,
            input_width: 6,
            ..CnnConfig::lenet(10)
        };
        // 6 -> conv 4 -> pool 2 -> conv 3x3 on a 2x2 map
        let message = config.check().unwrap_err();
        assert!(message.contains("kernel 3x3"), "{message}");
        assert!(message.contains("2x2"), "{message}");
        assert!(message.contains("32x2x2"), "{message}");
        assert_eq!(config.output_shape(), Err(message.clone()));
        assert_eq!(config.feature_size(), Err(message));
    }

    #[test]
    fn check_refuses_zero_sizes_and_bad_dropout() {
        assert!(CnnConfig::lenet(0).check().is_err());
        let no_channels = CnnConfig {
            input_channels: 0,
            ..CnnConfig::lenet(10)
        };
        assert!(no_channels.check().unwrap_err().contains("0x28x28"));
        assert!(CnnConfig::lenet(10).with_dropout(1.0).check().is_err());
        assert!(
            CnnConfig::lenet(10)
                .with_hidden_sizes(vec![0])
                .check()
                .is_err()
        );
        let block = ConvBlockConfig::new(4);
        for bad in [
            block.clone().with_stride(0),
            block.clone().with_kernel_size(0),
            block.clone().with_dropout(-0.1),
            ConvBlockConfig::new(0),
        ] {
            let config = CnnConfig::new(1, 8, 8, 2).with_blocks(vec![bad]);
            assert!(config.check().unwrap_err().contains("conv block 1"));
        }
    }

    #[test]
    fn config_round_trips_through_json() {
        let config = CnnConfig::resnet_small(10).with_dropout(0.25);
        let json = config.to_string();
        assert_eq!(CnnConfig::load_binary(json.as_bytes()).unwrap(), config);
    }
}
