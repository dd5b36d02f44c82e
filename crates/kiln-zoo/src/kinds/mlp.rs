//! `mlp`: kiln-fnn's multi-layer perceptron on flat samples.

use burn::nn::activation::ActivationConfig;
use burn::prelude::*;
use kiln_compress::structured::{keep_largest, slice_linear, slice_norm, unit_norms};
use kiln_fnn::{Mlp, MlpConfig};
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use crate::size::{check_params, linear};
use crate::{DataShape, KindInfo, ModelKind, TaskKind};

static INFO: KindInfo = KindInfo {
    name: "mlp",
    description: "multi-layer perceptron: Linear -> [BatchNorm] -> activation -> [Dropout] per hidden layer",
    crate_name: "kiln-fnn",
    task: TaskKind::Samples,
    variant_key: None,
    variants: &[],
    example: "[model]\nkind = \"mlp\"\nhidden = [64, 32]\nactivation = \"relu\"\n",
};

/// `[model] kind = "mlp"`: hidden widths and activation; input and output sizes come from
/// the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Expected number of input features; checked against the data when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<usize>,
    /// Width of each hidden layer.
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Hidden activation: Burn's, written in snake case (`relu`, `tanh`, `sigmoid`, `gelu`).
    #[serde(default = "relu", with = "crate::names")]
    pub activation: ActivationConfig,
    /// Dropout probability after each hidden activation.
    #[serde(default)]
    pub dropout: f64,
    /// Batch norm after each hidden linear layer.
    #[serde(default)]
    pub batch_norm: bool,
}

/// Burn's `ActivationConfig` has no `PartialEq`: activations compare by what they serialise to.
impl PartialEq for MlpSpec {
    fn eq(&self, other: &Self) -> bool {
        let activation = |spec: &Self| serde_json::to_value(&spec.activation).ok();
        self.input_size == other.input_size
            && self.hidden == other.hidden
            && activation(self) == activation(other)
            && self.dropout == other.dropout
            && self.batch_norm == other.batch_norm
    }
}

fn relu() -> ActivationConfig {
    ActivationConfig::Relu
}

impl ModelKind for MlpSpec {
    type Model = Mlp;

    fn info() -> &'static KindInfo {
        &INFO
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("model.dropout must be in [0, 1)".into());
        }
        if self.hidden.contains(&0) {
            return Err("model.hidden sizes must be > 0".into());
        }
        Ok(())
    }

    fn build(&self, shape: &DataShape, device: &Device) -> Result<Mlp> {
        let features = shape.features();
        if let Some(expected) = self.input_size.filter(|&n| n != features) {
            return Err(KilnError::Input(format!(
                "model.input_size is {expected} but the data has {features} features per sample (shape {:?})",
                shape.sample_shape
            )));
        }
        let widths: Vec<usize> = std::iter::once(features)
            .chain(self.hidden.iter().copied())
            .chain([shape.outputs()])
            .collect();
        let params = widths
            .windows(2)
            .try_fold(0u128, |sum, w| sum.checked_add(linear(w[0], w[1])?));
        check_params(params, "model.hidden")?;
        Ok(MlpConfig::new(features, shape.outputs())
            .with_hidden_sizes(self.hidden.clone())
            .with_activation(self.activation.clone())
            .with_dropout(self.dropout)
            .with_batch_norm(self.batch_norm)
            .init(device))
    }

    fn logits(model: &Mlp, inputs: Tensor<2>) -> Tensor<2> {
        model.forward(inputs)
    }

    fn remove_units(
        &self,
        model: &Mlp,
        fraction: f64,
        shape: &DataShape,
        device: &Device,
    ) -> Result<(Self, Mlp)> {
        if self.hidden.is_empty() {
            return Err(KilnError::Input(
                "structured pruning removes hidden units: this MLP has no hidden layer".into(),
            ));
        }
        let keeps: Vec<Vec<usize>> = model
            .hidden
            .iter()
            .map(|layer| keep_largest(&unit_norms(layer), fraction))
            .collect();
        let spec = MlpSpec {
            hidden: keeps.iter().map(Vec::len).collect(),
            ..self.clone()
        };
        let mut small = spec.build(shape, device)?;
        let mut inputs: Vec<usize> = (0..shape.features()).collect();
        for (i, keep) in keeps.iter().enumerate() {
            slice_linear(&mut small.hidden[i], &model.hidden[i], &inputs, keep);
            if let (Some(to), Some(from)) = (small.norms.get_mut(i), model.norms.get(i)) {
                slice_norm(to, from, keep);
            }
            inputs = keep.clone();
        }
        let outputs: Vec<usize> = (0..shape.outputs()).collect();
        slice_linear(&mut small.output, &model.output, &inputs, &outputs);
        Ok((spec, small))
    }
}
