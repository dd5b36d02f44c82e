//! Batch norms folded into their convolutions once, for inference: a batch-normed block becomes
//! a block of biased convolutions without batch norms, which runs on the fused kernels (the plain
//! block as one `conv + bias + ReLU + pool` operation, a residual block as below) instead of
//! folding its batch norms again on every call. At batch 1 the fold was about a seventh of the
//! ResNet preset's latency (docs/performance.md).

use burn::module::Param;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::block::{ConvBlock, square_conv as square};
use crate::fused::{self, ConvPool};
use crate::normed::fold;

/// `conv` with `norm` folded in (its running statistics): a biased convolution.
fn fold_into(conv: Conv2d, norm: &BatchNorm) -> Conv2d {
    let (weight, bias) = fold(&conv, norm);
    Conv2d {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
        ..conv
    }
}

impl ConvBlock {
    /// This block for inference, with each batch norm folded into the convolution before it
    /// (from the running statistics): the same outputs off an autodiff device, no batch norm
    /// left. A block without batch norms comes back unchanged. Not for training: the folded
    /// block has no batch statistics to learn.
    pub fn fold_batch_norms(self) -> ConvBlock {
        let conv = match &self.norm {
            Some(norm) => fold_into(self.conv, norm),
            None => self.conv,
        };
        let conv2 = match (self.conv2, &self.norm2) {
            (Some(conv2), Some(norm2)) => Some(fold_into(conv2, norm2)),
            (conv2, _) => conv2,
        };
        let projection = match (self.projection, &self.projection_norm) {
            (Some(projection), Some(norm)) => Some(fold_into(projection, norm)),
            (projection, _) => projection,
        };
        ConvBlock {
            conv,
            norm: None,
            conv2,
            norm2: None,
            projection,
            projection_norm: None,
            ..self
        }
    }

    /// Whether [`forward_residual`](Self::forward_residual) takes this block: a residual block
    /// without batch norms whose convolutions are square and biased, off an autodiff device
    /// with the fused kernels (a folded block, say).
    pub(crate) fn residual_fusable(&self, device: &Device) -> bool {
        let Some(conv2) = &self.conv2 else {
            return false;
        };
        let convs = [Some(&self.conv), Some(conv2), self.projection.as_ref()];
        let plain = self.norm.is_none() && self.norm2.is_none() && self.projection_norm.is_none();
        plain
            && convs
                .into_iter()
                .flatten()
                .all(|c| square(c).is_some() && c.bias.is_some())
            && !device.is_autodiff()
            && fused::has_fused_kernel(device)
    }

    /// `relu(conv2(relu(conv(x))) + skip)` on the fused kernels, `skip` the projection of `x` or
    /// `x`, before the block's pooling and dropout. Only for blocks
    /// [`residual_fusable`](Self::residual_fusable) says it takes.
    pub(crate) fn forward_residual(&self, input: Tensor<4>) -> Tensor<4> {
        let biased = |conv: &Conv2d, x: Tensor<4>, relu_pool: bool| {
            let (stride, padding) = square(conv).expect("checked by `residual_fusable`");
            let weight = kiln_kernels::float_weight(conv.weight.val());
            let bias = conv.bias.as_ref().expect("checked").val();
            if relu_pool {
                let spec = ConvPool {
                    stride,
                    padding,
                    pool: 1,
                };
                fused::conv_relu_pool(x, weight, bias, spec)
            } else {
                fused::conv2d(x, weight, bias, stride, padding)
            }
        };
        let first = biased(&self.conv, input.clone(), true);
        let conv2 = self.conv2.as_ref().expect("checked by `residual_fusable`");
        let skip = match &self.projection {
            Some(projection) => biased(projection, input, false),
            None => input,
        };
        let (stride, padding) = square(conv2).expect("checked by `residual_fusable`");
        let weight = kiln_kernels::float_weight(conv2.weight.val());
        let bias = conv2.bias.as_ref().expect("checked").val();
        fused::conv2d_add_relu(first, weight, bias, skip, stride, padding)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::Distribution;
    use kiln_kernels::testing::{assert_close, values};

    use crate::CnnConfig;

    use super::*;

    #[test]
    fn folded_blocks_give_the_same_outputs_without_batch_norms() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let normal = Distribution::Normal(0.0, 1.0);
        for (config, channels) in crate::normed::tests::configs() {
            let mut block = config.init(channels, &device);
            // Running statistics and affine parameters away from their initial values.
            for norm in [
                &mut block.norm,
                &mut block.norm2,
                &mut block.projection_norm,
            ] {
                if let Some(norm) = norm.as_mut() {
                    let filters = norm.gamma.dims()[0];
                    let positive = Distribution::Uniform(0.5, 2.0);
                    norm.gamma = Param::from_tensor(Tensor::random([filters], positive, &device));
                    norm.beta = Param::from_tensor(Tensor::random([filters], normal, &device));
                    norm.running_mean =
                        burn::module::RunningState::new(Tensor::random([filters], normal, &device));
                    norm.running_var = burn::module::RunningState::new(Tensor::random(
                        [filters],
                        positive,
                        &device,
                    ));
                }
            }
            let x = Tensor::<4>::random([3, channels, 9, 9], normal, &device);
            let reference = block.forward(x.clone());
            let folded = block.clone().fold_batch_norms();
            assert!(folded.norm.is_none() && folded.norm2.is_none());
            assert!(folded.projection_norm.is_none());
            assert_eq!(
                folded.conv2.is_some(),
                folded.residual_fusable(&device),
                "{config:?}: a folded residual block runs on the fused kernels"
            );
            // The same maths in the same order: the same bits.
            let what = format!("{config:?}");
            assert_eq!(
                values(folded.forward(x.clone())),
                values(reference.clone()),
                "{what}"
            );
            // Burn's composed layers agree within rounding.
            assert_close(folded.forward_composed(x), reference, 1e-4, &what);
        }
        // A whole ResNet preset: the same logits.
        let model = CnnConfig::resnet_small(10).init(&device);
        let images = Tensor::<4>::random([2, 1, 28, 28], normal, &device);
        let expected = values(model.forward(images.clone()));
        assert_eq!(values(model.fold_batch_norms().forward(images)), expected);
    }
}
