//! `rnn`: kiln-rnn's recurrent sequence classifier (Elman, LSTM or GRU); images are read row
//! by row.

use burn::prelude::*;
use kiln_rnn::{
    CellKind, ElmanActivation, RecurrentConfig, SequenceClassifier, SequenceClassifierConfig,
};
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use crate::size::{check_params, linear};
use crate::{DataShape, KindInfo, ModelKind, TaskKind, Variant};

static INFO: KindInfo = KindInfo {
    name: "rnn",
    description: "recurrent sequence classifier: stacked (bi)directional cells, last state -> Linear",
    crate_name: "kiln-rnn",
    task: TaskKind::Sequences,
    variant_key: Some("cell"),
    variants: &[
        Variant {
            name: "elman",
            description: "Elman RNN, h = f(W_hh h + W_xh x + b), tanh or relu",
        },
        Variant {
            name: "lstm",
            description: "long short-term memory, PyTorch's equations",
        },
        Variant {
            name: "gru",
            description: "gated recurrent unit, PyTorch's equations",
        },
    ],
    example: "[model]\nkind = \"rnn\"\ncell = \"lstm\"\nhidden = 128\n",
};

/// `[model] kind = "rnn"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RnnSpec {
    /// kiln-rnn's cell: `elman`, `lstm` or `gru`.
    #[serde(default = "lstm", with = "crate::names")]
    pub cell: CellKind,
    /// Hidden units per layer and direction.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Stacked layers.
    #[serde(default = "one")]
    pub layers: usize,
    /// Read the sequence both ways.
    #[serde(default)]
    pub bidirectional: bool,
    /// kiln-rnn's Elman activation: `tanh` or `relu`.
    #[serde(default = "tanh", with = "crate::names")]
    pub activation: ElmanActivation,
    /// Dropout between stacked layers.
    #[serde(default)]
    pub dropout: f64,
}

pub(crate) fn lstm() -> CellKind {
    CellKind::Lstm
}
fn tanh() -> ElmanActivation {
    ElmanActivation::Tanh
}
fn default_hidden() -> usize {
    128
}
pub(crate) fn one() -> usize {
    1
}

/// Weights of one recurrent layer direction: gates x (input + hidden + bias) x hidden.
pub(crate) fn cell_params(cell: CellKind, inputs: usize, hidden: usize) -> Option<u128> {
    let gates: u128 = match cell {
        CellKind::Elman => 1,
        CellKind::Lstm => 4,
        CellKind::Gru => 3,
    };
    let per_gate = (inputs as u128 + hidden as u128 + 2).checked_mul(hidden as u128)?;
    gates.checked_mul(per_gate)
}

impl ModelKind for RnnSpec {
    type Model = SequenceClassifier;

    fn info() -> &'static KindInfo {
        &INFO
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("model.dropout must be in [0, 1)".into());
        }
        if self.hidden == 0 || self.layers == 0 {
            return Err("model.hidden and model.layers must be > 0".into());
        }
        Ok(())
    }

    fn build(&self, shape: &DataShape, device: &Device) -> Result<SequenceClassifier> {
        // Images are read row by row: `height` steps of `channels * width` values.
        let per_step = match shape.sample_shape[..] {
            [channels, _, width] => channels * width,
            [_, per_step] => per_step,
            _ => {
                return Err(KilnError::Input(format!(
                    "rnn models read sequences, but the data's samples have shape {:?}; use image or sequence data",
                    shape.sample_shape
                )));
            }
        };
        let directions = if self.bidirectional { 2 } else { 1 };
        let layer = |inputs| cell_params(self.cell, inputs, self.hidden);
        let params = (|| {
            let first = layer(per_step)?;
            let rest = layer(self.hidden.checked_mul(directions)?)?
                .checked_mul(self.layers as u128 - 1)?;
            let head = linear(self.hidden.checked_mul(directions)?, shape.outputs())?;
            first
                .checked_add(rest)?
                .checked_mul(directions as u128)?
                .checked_add(head)
        })();
        check_params(params, "model.hidden, model.layers")?;
        let encoder = RecurrentConfig::new(self.cell, per_step, self.hidden)
            .with_num_layers(self.layers)
            .with_bidirectional(self.bidirectional)
            .with_activation(self.activation)
            .with_dropout(self.dropout);
        Ok(SequenceClassifierConfig::new(encoder, shape.outputs()).init(device))
    }

    fn logits(model: &SequenceClassifier, inputs: Tensor<2>) -> Tensor<2> {
        let steps = inputs.dims()[1] / model.input_size();
        model.forward_flat(inputs, steps)
    }

    fn remove_units(
        &self,
        model: &SequenceClassifier,
        fraction: f64,
        shape: &DataShape,
        device: &Device,
    ) -> Result<(Self, SequenceClassifier)> {
        crate::kinds::rnn_units::remove_units(self, model, fraction, shape, device)
    }
}
