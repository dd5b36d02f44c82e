//! Batch-normed conv blocks (a plain `conv -> batch norm -> ReLU` block and the residual block)
//! on the fused CPU kernels.
//!
//! Training: every convolution is one [`fused::conv2d`] and every batch norm one
//! [`fused::batch_norm_train`] with exact batch statistics, which also adds the residual and
//! rectifies; the running statistics are updated as Burn's `BatchNorm` updates them.
//! Inference: each batch norm is folded into the convolution before it (`w * gamma / std`,
//! `beta - mean * gamma / std`), so a block is two or three biased convolutions, the first with
//! its ReLU fused in.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::block::{ConvBlock, square_conv as square};
use crate::fused::{self, ConvPool};

/// `conv` with `norm` folded in: the weight scaled per filter by `gamma / sqrt(var + eps)` and
/// the bias `beta + (bias - mean) * gamma / sqrt(var + eps)`, from the running statistics.
/// (Computing it on the host in one pass instead was no faster at batch 1; docs/performance.md.)
pub(crate) fn fold(conv: &Conv2d, norm: &BatchNorm) -> (Tensor<4>, Tensor<1>) {
    let weight = kiln_kernels::float_weight(conv.weight.val());
    let device = weight.device();
    let mean = norm.running_mean.value().to_device(&device);
    let var = norm.running_var.value().to_device(&device);
    let scale = norm.gamma.val() / (var + norm.epsilon).sqrt();
    let [filters, ..] = weight.dims();
    let centred = match &conv.bias {
        Some(bias) => bias.val() - mean,
        None => -mean,
    };
    let bias = norm.beta.val() + centred * scale.clone();
    (weight * scale.reshape([filters, 1, 1, 1]), bias)
}

/// One batch norm in training: the fused operation (with `skip` and the ReLU), and the running
/// statistics updated with `momentum` as Burn's `BatchNorm::forward` does.
fn train_norm(norm: &BatchNorm, z: Tensor<4>, skip: Option<Tensor<4>>, relu: bool) -> Tensor<4> {
    let out = fused::batch_norm_train(
        z,
        norm.gamma.val(),
        norm.beta.val(),
        skip,
        relu,
        norm.epsilon,
    );
    let device = out.output.device();
    let momentum = norm.momentum;
    let mean = norm.running_mean.value_sync().to_device(&device);
    let var = norm.running_var.value_sync().to_device(&device);
    let mean = mean.mul_scalar(1.0 - momentum) + out.mean.mul_scalar(momentum);
    let var = var.mul_scalar(1.0 - momentum) + out.variance.mul_scalar(momentum);
    norm.running_mean.update(mean.detach());
    norm.running_var.update(var.detach());
    out.output
}

/// `conv(x)` before a batch norm, fused (with the convolution's bias if it has one, which the
/// batch norm cancels; the presets' convolutions before a batch norm have none).
fn convolved(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (stride, padding) = square(conv).expect("checked by `normed_fusable`");
    let weight = kiln_kernels::float_weight(conv.weight.val());
    let bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([weight.dims()[0]], &x.device()),
    };
    fused::conv2d(x, weight, bias, stride, padding)
}

/// `conv(x)` with `norm` folded in, fused.
fn folded(conv: &Conv2d, norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let (stride, padding) = square(conv).expect("checked by `normed_fusable`");
    let (weight, bias) = fold(conv, norm);
    fused::conv2d(x, weight, bias, stride, padding)
}

impl ConvBlock {
    /// Whether [`forward_normed`](Self::forward_normed) takes this block: batch norm after
    /// every convolution, each convolution square, on a device with the fused kernels.
    pub fn normed_fusable(&self, device: &Device) -> bool {
        if self.norm.is_none() {
            return false;
        }
        let convs = [
            Some(&self.conv),
            self.conv2.as_ref(),
            self.projection.as_ref(),
        ];
        let normed = (self.conv2.is_none() || self.norm2.is_some())
            && (self.projection.is_none() || self.projection_norm.is_some());
        normed
            && convs.into_iter().flatten().all(|c| square(c).is_some())
            && fused::has_fused_kernel(device)
    }

    /// The block's convolutions, batch norms, residual and ReLU on the fused kernels, before
    /// its pooling and dropout. Only for blocks [`normed_fusable`](Self::normed_fusable) says
    /// it takes.
    pub fn forward_normed(&self, input: Tensor<4>) -> Tensor<4> {
        let norm = self.norm.as_ref().expect("checked by `normed_fusable`");
        let training = input.device().is_autodiff() && norm.training.is_enabled();
        if training {
            self.train_normed(input, norm)
        } else {
            self.infer_normed(input, norm)
        }
    }

    fn train_normed(&self, input: Tensor<4>, norm: &BatchNorm) -> Tensor<4> {
        let first = train_norm(norm, convolved(&self.conv, input.clone()), None, true);
        let (Some(conv2), Some(norm2)) = (&self.conv2, &self.norm2) else {
            return first;
        };
        let skip = match (&self.projection, &self.projection_norm) {
            (Some(projection), Some(pnorm)) => {
                train_norm(pnorm, convolved(projection, input), None, false)
            }
            _ => input,
        };
        train_norm(norm2, convolved(conv2, first), Some(skip), true)
    }

    fn infer_normed(&self, input: Tensor<4>, norm: &BatchNorm) -> Tensor<4> {
        let (stride, padding) = square(&self.conv).expect("checked by `normed_fusable`");
        let (weight, bias) = fold(&self.conv, norm);
        let spec = ConvPool {
            stride,
            padding,
            pool: 1,
        };
        let first = fused::conv_relu_pool(input.clone(), weight, bias, spec);
        let (Some(conv2), Some(norm2)) = (&self.conv2, &self.norm2) else {
            return first;
        };
        let skip = match (&self.projection, &self.projection_norm) {
            (Some(projection), Some(pnorm)) => folded(projection, pnorm, input),
            _ => input,
        };
        relu(folded(conv2, norm2, first) + skip)
    }
}

#[cfg(all(test, feature = "flex"))]
pub(crate) mod tests {
    use burn::tensor::Distribution;
    use kiln_kernels::testing::{assert_close, values};

    use super::*;
    use crate::ConvBlockConfig;

    /// The blocks the ResNet preset has (a plain batch-normed block with a pool here, residual
    /// blocks with a strided projection and with an identity skip).
    pub(crate) fn configs() -> Vec<(ConvBlockConfig, usize)> {
        vec![
            (
                ConvBlockConfig::new(8)
                    .with_padding(1)
                    .with_batch_norm(true)
                    .with_pool(2),
                3,
            ),
            (
                ConvBlockConfig::new(8).with_residual(true).with_stride(2),
                4,
            ),
            (ConvBlockConfig::new(6).with_residual(true), 6),
        ]
    }

    /// Every parameter's gradient of `sum(out * probe)` and the running statistics, in order.
    fn trained(block: &ConvBlock, fused: bool, x: &Tensor<4>, probe: &Tensor<4>) -> Vec<Vec<f32>> {
        let out = if fused {
            assert!(block.normed_fusable(&x.device()));
            block.forward(x.clone())
        } else {
            block.forward_composed(x.clone())
        };
        let grads = (out.clone() * probe.clone()).sum().backward();
        let mut all = vec![values(out.inner())];
        let norms = [&block.norm, &block.norm2, &block.projection_norm];
        for norm in norms.into_iter().flatten() {
            all.push(values(norm.gamma.grad(&grads).expect("gamma gradient")));
            all.push(values(norm.beta.grad(&grads).expect("beta gradient")));
            all.push(values(norm.running_mean.value()));
            all.push(values(norm.running_var.value()));
        }
        let convs = [
            Some(&block.conv),
            block.conv2.as_ref(),
            block.projection.as_ref(),
        ];
        for conv in convs.into_iter().flatten() {
            all.push(values(conv.weight.grad(&grads).expect("weight gradient")));
        }
        all
    }

    #[test]
    fn fused_training_matches_burns_layers() {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        for (config, channels) in configs() {
            let _rng = crate::test_rng::rng_guard();
            device.seed(23);
            let x = Tensor::<4>::random([6, channels, 9, 9], normal, &device);
            // Two blocks with the same weights: their running statistics are not shared.
            // (`valid` initialises the lazy parameters while the seed is fresh.)
            let build = || {
                device.seed(29);
                let block = config.init(channels, &device);
                let _ = block.valid();
                block
            };
            let (fused_block, burn_block) = (build(), build());
            let probe = burn_block.forward_composed(x.clone()).random_like(normal);
            let burn_block = build();
            let fused = trained(&fused_block, true, &x, &probe);
            let burn = trained(&burn_block, false, &x, &probe);
            assert_eq!(fused.len(), burn.len());
            for (i, (a, b)) in fused.into_iter().zip(burn).enumerate() {
                let (a, b) = (
                    Tensor::<1>::from_floats(&a[..], &device),
                    Tensor::<1>::from_floats(&b[..], &device),
                );
                assert_close(a, b, 1e-4, &format!("{config:?}: value {i}"));
            }
        }
    }

    #[test]
    fn folded_inference_matches_burns_layers() {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        for (config, channels) in configs() {
            let _rng = crate::test_rng::rng_guard();
            device.seed(31);
            let block = config.init(channels, &device);
            // A few training steps' worth of running statistics (not the initial 0 and 1).
            for _ in 0..3 {
                let x = Tensor::<4>::random([4, channels, 9, 9], normal, &device) * 2.0 + 1.0;
                let _ = block.forward(x);
            }
            let valid = block.valid();
            let x = Tensor::<4>::random([5, channels, 9, 9], normal, &valid.conv.weight.device());
            assert!(valid.normed_fusable(&x.device()));
            let folded = valid.forward(x.clone());
            let composed = valid.forward_composed(x);
            assert_close(folded, composed, 1e-4, &format!("{config:?}"));
        }
    }
}
