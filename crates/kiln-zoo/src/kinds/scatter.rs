//! `scatter`: kiln-cnn's scattering network, fixed Morlet wavelet features (per-example group
//! normalisation) and a trained Linear head; the model for differentially private images.

use burn::prelude::*;
use kiln_cnn::{ScatterNet, ScatterNetConfig};
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use crate::size::{check_params, linear_stack};
use crate::{DataShape, KindInfo, ModelKind, TaskKind};

static INFO: KindInfo = KindInfo {
    name: "scatter",
    description: "scattering network: fixed wavelet scattering (J scales, L orientations) -> group norm -> Linear head",
    crate_name: "kiln-cnn",
    task: TaskKind::Samples,
    variant_key: None,
    variants: &[],
    example: "[model]\nkind = \"scatter\"\ninput = [1, 28, 28]\nscales = 2\norientations = 8\n",
};

/// `[model] kind = "scatter"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScatterSpec {
    /// Input shape `[channels, height, width]`; checked against the data.
    #[serde(default = "mnist_shape")]
    pub input: Vec<usize>,
    /// J: wavelet scales; the features are subsampled by `2^J`.
    #[serde(default = "two")]
    pub scales: usize,
    /// L: orientations per scale.
    #[serde(default = "eight")]
    pub orientations: usize,
    /// Groups of the per-example normalisation of the scattering channels (must divide them:
    /// `channels · (1 + J·L + L²·J(J−1)/2)`, 81 for MNIST at J = 2, L = 8).
    #[serde(default = "groups")]
    pub groups: usize,
    /// Hidden widths of the head; empty (the default) for a linear head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<usize>,
}

fn mnist_shape() -> Vec<usize> {
    vec![1, 28, 28]
}
fn two() -> usize {
    2
}
fn eight() -> usize {
    8
}
fn groups() -> usize {
    27
}

impl ScatterSpec {
    fn config(&self, outputs: usize) -> Result<ScatterNetConfig> {
        let [c, h, w] = self.input[..] else {
            return Err(KilnError::Input(format!(
                "model.input must be [channels, height, width], not {:?}",
                self.input
            )));
        };
        let config = ScatterNetConfig::new([c, h, w], outputs)
            .with_scales(self.scales)
            .with_orientations(self.orientations)
            .with_groups(self.groups)
            .with_hidden_sizes(self.hidden.clone());
        config
            .check()
            .map_err(|e| KilnError::Input(format!("model: {e}")))?;
        Ok(config)
    }
}

impl ModelKind for ScatterSpec {
    type Model = ScatterNet;

    fn info() -> &'static KindInfo {
        &INFO
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.hidden.contains(&0) {
            return Err("model.hidden sizes must be > 0".into());
        }
        Ok(())
    }

    fn build(&self, shape: &DataShape, device: &Device) -> Result<ScatterNet> {
        shape.check_image_input(&self.input)?;
        let config = self.config(shape.outputs())?;
        let params = linear_stack(config.feature_size(), &self.hidden, shape.outputs());
        check_params(params, "model.hidden")?;
        Ok(config.init(device))
    }

    fn logits(model: &ScatterNet, inputs: Tensor<2>) -> Tensor<2> {
        model.forward_flat(inputs)
    }

    fn frozen_features(model: &ScatterNet, inputs: Tensor<2>) -> Option<Tensor<2>> {
        Some(model.features_flat(inputs))
    }

    fn head_logits(model: &ScatterNet, features: Tensor<2>) -> Tensor<2> {
        model.head(features)
    }
}
