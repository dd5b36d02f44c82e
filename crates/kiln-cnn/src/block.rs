//! A convolutional block: a plain `Conv2d -> [BatchNorm] -> ReLU` or a residual block, followed
//! by optional max pooling and dropout.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use crate::ConvBlockConfig;
use crate::fused::{self, ConvPool};

/// One conv block of a [`Cnn`](crate::Cnn), built from a [`ConvBlockConfig`].
///
/// `[batch, in_channels, height, width] -> [batch, out_channels, height', width']`.
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// The (first) convolution.
    pub conv: Conv2d,
    /// Batch norm after `conv`: always present in a residual block, optional in a plain one.
    pub norm: Option<BatchNorm>,
    /// The second 3x3 convolution of a residual block; `None` in a plain block.
    pub conv2: Option<Conv2d>,
    /// Batch norm after `conv2` (residual blocks only).
    pub norm2: Option<BatchNorm>,
    /// The 1x1 projection on the skip connection of a residual block whose channels or
    /// resolution change; `None` for an identity skip or a plain block.
    pub projection: Option<Conv2d>,
    /// Batch norm after `projection`.
    pub projection_norm: Option<BatchNorm>,
    /// Max pooling at the end of the block, if any.
    pub pool: Option<MaxPool2d>,
    /// Dropout at the very end of the block.
    pub dropout: Dropout,
    /// The ReLU activation.
    pub activation: Relu,
}

impl ConvBlockConfig {
    /// Builds the block for `in_channels` input channels with fresh weights on `device`.
    pub fn init(&self, in_channels: usize, device: &Device) -> ConvBlock {
        let pool = (self.pool > 1).then(|| {
            MaxPool2dConfig::new([self.pool, self.pool])
                .with_strides([self.pool, self.pool])
                .init()
        });
        let dropout = DropoutConfig::new(self.dropout).init();
        let norm = |channels| Some(BatchNormConfig::new(channels).init(device));
        let out = self.out_channels;
        if !self.residual {
            let padding = self.padding;
            let conv = Conv2dConfig::new([in_channels, out], [self.kernel_size; 2])
                .with_stride([self.stride; 2])
                .with_padding(PaddingConfig2d::Explicit(
                    padding, padding, padding, padding,
                ))
                .with_bias(!self.batch_norm)
                .init(device);
            return ConvBlock {
                conv,
                norm: if self.batch_norm { norm(out) } else { None },
                conv2: None,
                norm2: None,
                projection: None,
                projection_norm: None,
                pool,
                dropout,
                activation: Relu::new(),
            };
        }
        let conv3x3 = |channels: [usize; 2], stride: usize| {
            Conv2dConfig::new(channels, [3, 3])
                .with_stride([stride; 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device)
        };
        let project = in_channels != out || self.stride != 1;
        ConvBlock {
            conv: conv3x3([in_channels, out], self.stride),
            norm: norm(out),
            conv2: Some(conv3x3([out, out], 1)),
            norm2: norm(out),
            projection: project.then(|| {
                Conv2dConfig::new([in_channels, out], [1, 1])
                    .with_stride([self.stride; 2])
                    .with_bias(false)
                    .init(device)
            }),
            projection_norm: if project { norm(out) } else { None },
            pool,
            dropout,
            activation: Relu::new(),
        }
    }
}

impl ConvBlock {
    /// Applies the block to a batch of feature maps `[batch, channels, height, width]`.
    ///
    /// A plain block without batch norm runs as one [`fused`](crate::fused) operation; a
    /// block with batch norm (plain or residual) as fused convolutions and batch norms
    /// ([`forward_normed`](Self::forward_normed)) on the CPU backends.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        if let (Some(spec), Some(bias)) = (self.fused_spec(), &self.conv.bias) {
            let weight = kiln_kernels::float_weight(self.conv.weight.val());
            let x = fused::conv_relu_pool(input, weight, bias.val(), spec);
            return kiln_kernels::dropout::dropout(&self.dropout, x);
        }
        let device = input.device();
        if self.normed_fusable(&device) || self.residual_fusable(&device) {
            let mut x = if self.norm.is_some() {
                self.forward_normed(input)
            } else {
                self.forward_residual(input)
            };
            if let Some(pool) = &self.pool {
                x = pool.forward(x);
            }
            return kiln_kernels::dropout::dropout(&self.dropout, x);
        }
        self.forward_composed(input)
    }

    /// [`forward`](Self::forward) from Burn's modules one by one, never fused.
    pub fn forward_composed(&self, input: Tensor<4>) -> Tensor<4> {
        let mut x = self.conv.forward(input.clone());
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        if let Some(conv2) = &self.conv2 {
            x = conv2.forward(self.activation.forward(x));
            if let Some(norm2) = &self.norm2 {
                x = norm2.forward(x);
            }
            let mut skip = input;
            if let Some(projection) = &self.projection {
                skip = projection.forward(skip);
                if let Some(norm) = &self.projection_norm {
                    skip = norm.forward(skip);
                }
            }
            x = x + skip;
        }
        x = self.activation.forward(x);
        if let Some(pool) = &self.pool {
            x = pool.forward(x);
        }
        self.dropout.forward(x)
    }

    /// The settings of the fused operation when this block is one: plain, no batch norm, a
    /// biased square convolution without dilation or groups and symmetric padding, and a square
    /// max pool whose stride is its size (or none).
    pub fn fused_spec(&self) -> Option<ConvPool> {
        let plain = self.conv2.is_none() && self.norm.is_none() && self.conv.bias.is_some();
        let (stride, padding) = square_conv(&self.conv)?;
        let pool = match &self.pool {
            None => 1,
            Some(p) => {
                let [q0, q1] = p.kernel_size;
                let simple = q0 == q1
                    && p.stride == [q0, q0]
                    && p.dilation == [1, 1]
                    && !p.ceil_mode
                    && matches!(
                        p.padding,
                        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
                    );
                if !simple {
                    return None;
                }
                q0
            }
        };
        plain.then_some(ConvPool {
            stride,
            padding,
            pool,
        })
    }

    /// Whether this is a residual block.
    pub fn is_residual(&self) -> bool {
        self.conv2.is_some()
    }
}

/// Stride and padding of a square convolution without dilation or groups and with the same
/// padding on every side: the convolutions the fused kernels take.
pub(crate) fn square_conv(conv: &Conv2d) -> Option<(usize, usize)> {
    let [k0, k1] = conv.kernel_size;
    let [s0, s1] = conv.stride;
    let simple = k0 == k1 && s0 == s1 && conv.dilation == [1, 1] && conv.groups == 1;
    let padding = match conv.padding {
        PaddingConfig2d::Valid => 0,
        PaddingConfig2d::Explicit(a, b, c, d) if a == b && b == c && c == d => a,
        _ => return None,
    };
    simple.then_some((s0, padding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_block_shape_and_params() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let block = ConvBlockConfig::new(8)
            .with_kernel_size(5)
            .with_padding(2)
            .with_pool(2)
            .init(3, &device);
        assert!(!block.is_residual());
        let out = block.forward(Tensor::<4>::ones([2, 3, 10, 12], &device));
        assert_eq!(out.dims(), [2, 8, 5, 6]);
        assert_eq!(block.num_params(), 8 * 3 * 25 + 8);
    }

    #[test]
    fn batch_norm_replaces_the_bias() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let block = ConvBlockConfig::new(8)
            .with_batch_norm(true)
            .init(3, &device);
        // conv weights without bias, batch norm gamma, beta and two running statistics
        assert_eq!(block.num_params(), 8 * 3 * 9 + 4 * 8);
    }

    #[test]
    fn residual_block_with_and_without_projection() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let identity = ConvBlockConfig::new(4).with_residual(true).init(4, &device);
        assert!(identity.is_residual() && identity.projection.is_none());
        let x = Tensor::<4>::ones([2, 4, 7, 7], &device);
        assert_eq!(identity.forward(x.clone()).dims(), [2, 4, 7, 7]);
        assert_eq!(identity.num_params(), 2 * (4 * 4 * 9 + 4 * 4));

        let strided = ConvBlockConfig::new(4)
            .with_residual(true)
            .with_stride(2)
            .init(4, &device);
        assert!(strided.projection.is_some());
        assert_eq!(strided.forward(x).dims(), [2, 4, 4, 4]);

        let wider = ConvBlockConfig::new(6).with_residual(true).init(4, &device);
        assert!(wider.projection.is_some());
        let out = wider.forward(Tensor::<4>::ones([1, 4, 5, 5], &device));
        assert_eq!(out.dims(), [1, 6, 5, 5]);
        // 3x3 4->6, 3x3 6->6, 1x1 4->6, three batch norms
        assert_eq!(
            wider.num_params(),
            6 * 4 * 9 + 6 * 6 * 9 + 6 * 4 + 3 * 4 * 6
        );
    }
}
