//! The one trait every model implements to be trained by Kiln's loop, and the models Kiln builds
//! from a config.

use burn::nn::activation::ActivationConfig;
use burn::prelude::*;
use kiln_cnn::{Cnn, CnnConfig, ConvBlockConfig};
use kiln_fnn::{Mlp, MlpConfig};
use kiln_rnn::{
    CellKind, CharLanguageModel, CharLanguageModelConfig, ElmanActivation, RecurrentConfig,
    SequenceClassifier, SequenceClassifierConfig,
};

use crate::config::{
    ActivationName, CellName, CharLmSpec, CnnPreset, CnnSpec, ModelConfig, RnnActivation, RnnSpec,
};
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

impl TaskModel for Cnn {
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2> {
        self.forward_flat(inputs)
    }
}

impl TaskModel for SequenceClassifier {
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2> {
        let steps = inputs.dims()[1] / self.input_size();
        self.forward_flat(inputs, steps)
    }
}

/// A language model as a classifier: token ids (as floats) `[batch, time]` -> logits of the
/// character that follows each sequence.
impl TaskModel for CharLanguageModel {
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2> {
        let [batch, steps] = inputs.dims();
        let (logits, _) = self.forward(inputs.int(), None);
        let vocab = logits.dims()[2];
        logits
            .slice([0..batch, steps - 1..steps])
            .reshape([batch, vocab])
    }
}

/// Any model Kiln can build from a config file.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per run, never in bulk
pub enum AnyModel {
    /// A multi-layer perceptron.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Cnn),
    /// A recurrent sequence classifier.
    Rnn(SequenceClassifier),
    /// A character language model.
    Charlm(CharLanguageModel),
}

impl TaskModel for AnyModel {
    fn logits(&self, inputs: Tensor<2>) -> Tensor<2> {
        match self {
            AnyModel::Mlp(model) => model.logits(inputs),
            AnyModel::Cnn(model) => model.logits(inputs),
            AnyModel::Rnn(model) => model.logits(inputs),
            AnyModel::Charlm(model) => model.logits(inputs),
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
        ModelConfig::Cnn(spec) => {
            let config = cnn_config(spec, objective.outputs());
            if spec.input != preprocess.sample_shape {
                return Err(KilnError::Input(format!(
                    "model.input is {:?} (channels, height, width) but the data's samples are {:?}",
                    spec.input, preprocess.sample_shape
                )));
            }
            config
                .check()
                .map_err(|e| KilnError::Input(format!("model: {e}")))?;
            Ok(AnyModel::Cnn(config.init(device)))
        }
        ModelConfig::Charlm(spec) => {
            let vocab = preprocess.vocab.chars().count();
            if vocab < 2 {
                return Err(KilnError::Input("a language model needs text data (data.dataset = \"shakespeare\" or a text file)".into()));
            }
            Ok(AnyModel::Charlm(charlm_config(spec, vocab).init(device)))
        }
        ModelConfig::Rnn(spec) => {
            // Images are read row by row: `height` steps of `channels * width` values.
            let per_step = match preprocess.sample_shape[..] {
                [channels, _, width] => channels * width,
                [_, per_step] => per_step,
                _ => {
                    return Err(KilnError::Input(format!(
                        "rnn models read sequences, but the data's samples have shape {:?}; use image or sequence data",
                        preprocess.sample_shape
                    )));
                }
            };
            Ok(AnyModel::Rnn(
                rnn_config(spec, per_step, objective.outputs()).init(device),
            ))
        }
    }
}

/// Kiln-cnn's config for a `[model]` section of kind `cnn`.
pub fn cnn_config(spec: &CnnSpec, classes: usize) -> CnnConfig {
    let [channels, height, width] = [spec.input[0], spec.input[1], spec.input[2]];
    let preset = match spec.preset {
        CnnPreset::Lenet => CnnConfig::lenet(classes),
        CnnPreset::Resnet => CnnConfig::resnet_small(classes),
        CnnPreset::Custom => CnnConfig::new(channels, height, width, classes)
            .with_hidden_sizes(spec.hidden.clone())
            .with_global_avg_pool(spec.global_avg_pool)
            .with_blocks(
                spec.blocks
                    .iter()
                    .map(|b| {
                        ConvBlockConfig::new(b.channels)
                            .with_kernel_size(b.kernel)
                            .with_padding(b.padding)
                            .with_stride(b.stride)
                            .with_pool(b.pool)
                            .with_batch_norm(b.batch_norm)
                            .with_dropout(b.dropout)
                            .with_residual(b.residual)
                    })
                    .collect(),
            ),
    };
    CnnConfig {
        input_channels: channels,
        input_height: height,
        input_width: width,
        ..preset
    }
    .with_dropout(spec.dropout)
}

/// Kiln-rnn's config for a `[model]` section of kind `rnn` reading `per_step` values a step.
pub fn rnn_config(spec: &RnnSpec, per_step: usize, classes: usize) -> SequenceClassifierConfig {
    let cell = match spec.cell {
        CellName::Elman => CellKind::Elman,
        CellName::Lstm => CellKind::Lstm,
        CellName::Gru => CellKind::Gru,
    };
    let activation = match spec.activation {
        RnnActivation::Tanh => ElmanActivation::Tanh,
        RnnActivation::Relu => ElmanActivation::Relu,
    };
    let encoder = RecurrentConfig::new(cell, per_step, spec.hidden)
        .with_num_layers(spec.layers)
        .with_bidirectional(spec.bidirectional)
        .with_activation(activation)
        .with_dropout(spec.dropout);
    SequenceClassifierConfig::new(encoder, classes)
}

/// Kiln-rnn's config for a `[model]` section of kind `charlm` over `vocab` characters.
pub fn charlm_config(spec: &CharLmSpec, vocab: usize) -> CharLanguageModelConfig {
    let cell = match spec.cell {
        CellName::Elman => CellKind::Elman,
        CellName::Lstm => CellKind::Lstm,
        CellName::Gru => CellKind::Gru,
    };
    let encoder = RecurrentConfig::new(cell, spec.embedding, spec.hidden)
        .with_num_layers(spec.layers)
        .with_dropout(spec.dropout);
    CharLanguageModelConfig::new(vocab, encoder).with_dropout(spec.dropout)
}
