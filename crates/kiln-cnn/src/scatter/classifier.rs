//! A scattering network: the fixed scattering transform, group normalisation without
//! parameters (per example, so it mixes no examples, unlike batch norm), then a trained head of
//! Linear layers. Tramer and Boneh (2021) use this ("ScatterNet + linear") for differentially
//! private learning: the features cost no privacy, and few trained parameters take little
//! noise.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

use super::Scattering;

/// How to build a [`ScatterNet`].
#[derive(Config, Debug, PartialEq)]
pub struct ScatterNetConfig {
    /// Input shape `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// Output logits.
    pub outputs: usize,
    /// J: scales of the wavelets (the features are subsampled by `2^J`).
    #[config(default = 2)]
    pub scales: usize,
    /// L: orientations per scale.
    #[config(default = 8)]
    pub orientations: usize,
    /// Groups of consecutive scattering channels normalised together (per example); must divide
    /// the channels.
    #[config(default = 27)]
    pub groups: usize,
    /// Hidden widths of the head (`Linear -> ReLU` each); empty for a linear head.
    #[config(default = "Vec::new()")]
    pub hidden_sizes: Vec<usize>,
}

impl ScatterNetConfig {
    /// The transform it starts with.
    pub fn scattering(&self) -> Scattering {
        Scattering::new(self.scales, self.orientations)
    }

    /// Scattering channels: input channels times coefficients per channel.
    pub fn channels(&self) -> usize {
        self.input_shape[0] * self.scattering().coefficients()
    }

    /// Features the head reads: channels times the subsampled height and width.
    pub fn feature_size(&self) -> usize {
        let s = self.scattering();
        self.channels() * s.output_side(self.input_shape[1]) * s.output_side(self.input_shape[2])
    }

    /// Checks the configuration, with a message naming what does not fit.
    pub fn check(&self) -> Result<(), String> {
        if self.scales == 0 || self.scales > 4 {
            return Err(format!("scales must be 1 to 4, not {}", self.scales));
        }
        if self.orientations == 0 || self.orientations > 16 {
            return Err(format!(
                "orientations must be 1 to 16, not {}",
                self.orientations
            ));
        }
        if self.input_shape.contains(&0) || self.outputs == 0 || self.hidden_sizes.contains(&0) {
            return Err("input shape, outputs and hidden sizes must be > 0".into());
        }
        let [_, height, width] = self.input_shape;
        self.scattering().check_size(height, width)?;
        let channels = self.channels();
        if self.groups == 0 || !channels.is_multiple_of(self.groups) {
            return Err(format!(
                "groups ({}) must divide the {channels} scattering channels",
                self.groups
            ));
        }
        Ok(())
    }

    /// Builds the network on `device` (the head initialised as Burn's `Linear`).
    ///
    /// # Panics
    ///
    /// With the message of [`check`](Self::check) when the configuration is invalid.
    pub fn init(&self, device: &Device) -> ScatterNet {
        if let Err(message) = self.check() {
            panic!("invalid scattering network: {message}");
        }
        let mut width = self.feature_size();
        let mut hidden = Vec::with_capacity(self.hidden_sizes.len());
        for &size in &self.hidden_sizes {
            hidden.push(LinearConfig::new(width, size).init(device));
            width = size;
        }
        ScatterNet {
            scattering: self.scattering(),
            groups: self.groups,
            hidden,
            activation: Relu::new(),
            output: LinearConfig::new(width, self.outputs).init(device),
            input_shape: self.input_shape,
        }
    }
}

/// Scattering, group normalisation, then `Linear -> ReLU` per hidden layer and a linear output:
/// images `[batch, channels, height, width]` to logits `[batch, outputs]`. Only the head has
/// parameters.
#[derive(Module, Debug)]
pub struct ScatterNet {
    /// The fixed feature extractor.
    pub scattering: Scattering,
    /// Groups of the normalisation.
    pub groups: usize,
    /// Hidden layers of the head.
    pub hidden: Vec<Linear>,
    /// ReLU after each hidden layer.
    pub activation: Relu,
    /// The output layer.
    pub output: Linear,
    /// Input shape `[channels, height, width]`.
    pub input_shape: [usize; 3],
}

impl ScatterNet {
    /// The normalised scattering features `[batch, features]` of images: what the head reads.
    /// They depend on no parameter, so they can be computed once for a whole data set.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let batch = images.dims()[0];
        let z = self.scattering.forward(images).reshape([batch as i64, -1]);
        let features = z.dims()[1];
        let grouped = z.reshape([batch, self.groups, features / self.groups]);
        let mean = grouped.clone().mean_dim(2);
        let centred = grouped - mean;
        let variance = centred.clone().powi_scalar(2).mean_dim(2);
        (centred / variance.add_scalar(1e-5).sqrt()).reshape([batch, features])
    }

    /// [`features`](Self::features) of flattened images `[batch, channels · height · width]`.
    pub fn features_flat(&self, inputs: Tensor<2>) -> Tensor<2> {
        let [batch, _] = inputs.dims();
        let [c, h, w] = self.input_shape;
        self.features(inputs.reshape([batch, c, h, w]))
    }

    /// The head: logits of features.
    pub fn head(&self, features: Tensor<2>) -> Tensor<2> {
        let mut x = features;
        for layer in &self.hidden {
            x = self.activation.forward(layer.forward(x));
        }
        self.output.forward(x)
    }

    /// Logits `[batch, outputs]` of images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head(self.features(images))
    }

    /// Logits of flattened images.
    pub fn forward_flat(&self, inputs: Tensor<2>) -> Tensor<2> {
        self.head(self.features_flat(inputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mnist_network_has_3969_features_and_a_linear_head() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        let device = Device::flex();
        let config = ScatterNetConfig::new([1, 28, 28], 10);
        assert_eq!(config.check(), Ok(()));
        assert_eq!(config.feature_size(), 81 * 49);
        let net = config.init(&device);
        let logits = net.forward_flat(Tensor::<2>::ones([3, 784], &device));
        assert_eq!(logits.dims(), [3, 10]);
        assert_eq!(net.num_params(), 3969 * 10 + 10);
    }

    #[test]
    fn features_are_normalised_per_group() {
        // Burn's global random state: see `test_rng`.
        let _rng = crate::test_rng::rng_guard();
        // Values up to 100, so that every group's variance dwarfs the 1e-5 added to it.
        let device = Device::flex();
        let net = ScatterNetConfig::new([1, 28, 28], 10).init(&device);
        let images = Tensor::<4>::random(
            [2, 1, 28, 28],
            burn::tensor::Distribution::Uniform(0.0, 100.0),
            &device,
        );
        let f = net.features(images).reshape([2, 27, 3 * 49]);
        let mean = f.clone().mean_dim(2).abs().max().into_scalar::<f32>();
        let var = f.powi_scalar(2).mean_dim(2);
        assert!(mean < 1e-4, "group mean {mean}");
        let off = var.sub_scalar(1.0).abs().max().into_scalar::<f32>();
        assert!(off < 1e-3, "group variance off by {off}");
    }

    #[test]
    fn bad_configurations_are_refused_by_name() {
        let small = ScatterNetConfig::new([1, 8, 8], 10);
        assert!(small.check().unwrap_err().contains("too small"));
        let groups = ScatterNetConfig::new([1, 28, 28], 10).with_groups(10);
        assert!(groups.check().unwrap_err().contains("must divide the 81"));
        let scales = ScatterNetConfig::new([1, 28, 28], 10).with_scales(0);
        assert!(scales.check().unwrap_err().contains("scales"));
    }
}
