//! `charlm`: kiln-rnn's character language model, trained by truncated back-propagation
//! through time with the state carried between chunks ([`crate::LanguageModelling`]).

use burn::prelude::*;
use kiln_rnn::{CellKind, CharLanguageModel, CharLanguageModelConfig, RecurrentConfig};
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use super::rnn::{cell_params, lstm, one};
use crate::size::{check_params, linear};
use crate::{DataShape, KindInfo, ModelKind, TaskKind, Variant};

static INFO: KindInfo = KindInfo {
    name: "charlm",
    description: "character language model: embedding -> stacked recurrent layers -> vocabulary logits",
    crate_name: "kiln-rnn",
    task: TaskKind::LanguageModelling,
    variant_key: Some("cell"),
    variants: &[
        Variant {
            name: "elman",
            description: "Elman RNN",
        },
        Variant {
            name: "lstm",
            description: "long short-term memory",
        },
        Variant {
            name: "gru",
            description: "gated recurrent unit",
        },
    ],
    example: "[model]\nkind = \"charlm\"\ncell = \"lstm\"\nhidden = 256\nembedding = 64\n",
};

/// `[model] kind = "charlm"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CharLmSpec {
    /// kiln-rnn's cell: `elman`, `lstm` or `gru`.
    #[serde(default = "lstm", with = "crate::names")]
    pub cell: CellKind,
    /// Hidden units per layer.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Stacked layers.
    #[serde(default = "one")]
    pub layers: usize,
    /// Width of the character embedding.
    #[serde(default = "default_embedding")]
    pub embedding: usize,
    /// Dropout on every recurrent layer's outputs: between stacked layers and before the
    /// output layer.
    #[serde(default)]
    pub dropout: f64,
}

fn default_hidden() -> usize {
    256
}
fn default_embedding() -> usize {
    64
}

impl CharLmSpec {
    /// kiln-rnn's config for a vocabulary of `vocab` characters.
    pub fn config(&self, vocab: usize) -> CharLanguageModelConfig {
        let encoder = RecurrentConfig::new(self.cell, self.embedding, self.hidden)
            .with_num_layers(self.layers)
            .with_dropout(self.dropout);
        CharLanguageModelConfig::new(vocab, encoder).with_dropout(self.dropout)
    }
}

impl ModelKind for CharLmSpec {
    type Model = CharLanguageModel;

    fn info() -> &'static KindInfo {
        &INFO
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("model.dropout must be in [0, 1)".into());
        }
        if self.hidden == 0 || self.layers == 0 || self.embedding == 0 {
            return Err("model.hidden, model.layers and model.embedding must be > 0".into());
        }
        Ok(())
    }

    fn build(&self, shape: &DataShape, device: &Device) -> Result<CharLanguageModel> {
        if shape.vocab < 2 {
            return Err(KilnError::Input(
                "a language model needs text data (data.dataset = \"shakespeare\" or a text file)"
                    .into(),
            ));
        }
        let params = (|| {
            let embedding = (shape.vocab as u128).checked_mul(self.embedding as u128)?;
            let first = cell_params(self.cell, self.embedding, self.hidden)?;
            let rest = cell_params(self.cell, self.hidden, self.hidden)?
                .checked_mul(self.layers as u128 - 1)?;
            embedding
                .checked_add(first)?
                .checked_add(rest)?
                .checked_add(linear(self.hidden, shape.vocab)?)
        })();
        check_params(params, "model.hidden, model.layers, model.embedding")?;
        Ok(self.config(shape.vocab).init(device))
    }

    /// As a classifier: token ids (as floats) `[batch, time]` -> logits of the character that
    /// follows each sequence.
    fn logits(model: &CharLanguageModel, inputs: Tensor<2>) -> Tensor<2> {
        let [batch, steps] = inputs.dims();
        let (logits, _) = model.forward(inputs.int(), None);
        let vocab = logits.dims()[2];
        logits
            .slice([0..batch, steps - 1..steps])
            .reshape([batch, vocab])
    }
}
