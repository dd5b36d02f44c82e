//! The one trait every model implements to be trained by Kiln's loop, and the models Kiln builds
//! from a config.

use burn::nn::activation::ActivationConfig;
use burn::prelude::*;
use kiln_fnn::{Mlp, MlpConfig};

use crate::config::{ActivationName, ModelConfig};
use crate::data::Preprocess;
use crate::{KilnError, Objective, Result};

/// A model Kiln's loop can train: it maps a batch of flattened inputs to logits.
///
/// Implement it for your own Burn module (reshape the `[batch, sample_size]` inputs as the
/// module needs: it is free) and [`crate::fit`] trains it like any built-in model.
pub trait TaskModel: Module + 'static {
    /// Logits `[batch, outputs]` for inputs `[batch, sample_size]`.
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2>;
}

impl TaskModel for Mlp {
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2> {
        self.forward(inputs)
    }
}

/// Any model Kiln can build from a config file.
#[derive(Module, Debug)]
pub enum AnyModel {
    /// A multi-layer perceptron.
    Mlp(Mlp),
}

impl TaskModel for AnyModel {
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2> {
        match self {
            AnyModel::Mlp(mlp) => mlp.logits(inputs),
        }
    }
}

/// Burn's activation config for a config-file activation name.
pub fn activation(name: ActivationName) -> ActivationConfig {
    match name {
        ActivationName::Relu => ActivationConfig::Relu,
        ActivationName::Tanh => ActivationConfig::Tanh,
        ActivationName::Sigmoid => ActivationConfig::Sigmoid,
        ActivationName::Gelu => ActivationConfig::Gelu,
    }
}

/// Builds the model a config describes for data shaped as `preprocess` says; a model that
/// does not fit the data is an input error naming both sizes.
pub fn build_model(
    config: &ModelConfig,
    preprocess: &Preprocess,
    objective: Objective,
    device: &Device,
) -> Result<AnyModel> {
    let features: usize = preprocess.sample_shape.iter().product();
    match config {
        ModelConfig::Mlp(spec) => {
            if let Some(expected) = spec.input_size.filter(|&n| n != features) {
                return Err(KilnError::Input(format!(
                    "model.input_size is {expected} but the data has {features} features per sample (shape {:?})",
                    preprocess.sample_shape
                )));
            }
            Ok(AnyModel::Mlp(
                MlpConfig::new(features, objective.outputs())
                    .with_hidden_sizes(spec.hidden.clone())
                    .with_activation(activation(spec.activation))
                    .with_dropout(spec.dropout)
                    .with_batch_norm(spec.batch_norm)
                    .init(device),
            ))
        }
    }
}
