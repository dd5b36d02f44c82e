//! Character-level language model: `Embedding -> Recurrent -> Linear` over the vocabulary at
//! every step, with the recurrent state handed back for the next chunk.

use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;

use crate::recurrent::{Recurrent, RecurrentConfig};
use crate::state::RecurrentState;

/// Configuration of a [`CharLanguageModel`].
#[derive(Config, Debug)]
pub struct CharLanguageModelConfig {
    /// Number of distinct tokens (characters).
    pub vocab_size: usize,
    /// The recurrent encoder; its `input_size` is the embedding width.
    pub encoder: RecurrentConfig,
    /// Dropout probability on the last layer's outputs, before the output layer (0 disables
    /// it; the encoder's own `dropout` acts between stacked layers).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Predicts the next token at every step: `Embedding -> Recurrent -> Linear`.
#[derive(Module, Debug)]
pub struct CharLanguageModel {
    /// Token embeddings, `[vocab_size, encoder input_size]`.
    pub embedding: Embedding,
    /// The recurrent encoder.
    pub encoder: Recurrent,
    /// Projection of every step's features onto the vocabulary (logits).
    pub output: Linear,
    /// Dropout before the output layer.
    pub dropout: Dropout,
}

impl CharLanguageModelConfig {
    /// Builds the model with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> CharLanguageModel {
        let encoder = self.encoder.init(device);
        CharLanguageModel {
            embedding: EmbeddingConfig::new(self.vocab_size, self.encoder.input_size).init(device),
            output: LinearConfig::new(encoder.output_size(), self.vocab_size).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            encoder,
        }
    }
}

impl CharLanguageModel {
    /// Logits `[batch, time, vocab_size]` for token ids `[batch, time]`, starting from `state`
    /// (zeros when `None`), and the state that continues the sequence.
    ///
    /// For truncated backpropagation through time, pass the returned state, after
    /// [`RecurrentState::detach`], with the next chunk.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        // The encoder reads the tokens with the embedding (its LSTMs look their input
        // projections up instead of summing them at every step).
        let embedding = self.embedding.weight.val();
        let (features, state) = self.encoder.forward_tokens(tokens, embedding, state);
        // In training, one `[batch x time, hidden]` matrix through the output layer: one
        // product, and one for its weight gradient, instead of one per sequence (a `[batch,
        // hidden, vocab]` gradient summed afterwards: 80 MB of temporaries for the character
        // model). Off an autodiff device (where dropout is the identity) the sequences' rows
        // are read where they lie (flattening would copy them).
        if !features.device().is_autodiff() {
            return (self.output.forward(features), state);
        }
        let [batch, time, hidden] = features.dims();
        // Kiln's dropout keeps the dropped elements as bits, not as Burn's f32 draw (15 MB).
        let flat =
            kiln_kernels::dropout::dropout(&self.dropout, features.reshape([batch * time, hidden]));
        let logits = self.output.forward(flat);
        (logits.reshape([batch, time, self.vocab_size()]), state)
    }

    /// Number of distinct tokens.
    pub fn vocab_size(&self) -> usize {
        self.output.weight.dims()[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrent::CellKind;

    #[test]
    fn logits_and_state_shapes_for_every_cell_kind() {
        let device = Device::flex();
        for cell in [CellKind::Elman, CellKind::Lstm, CellKind::Gru] {
            let encoder = RecurrentConfig::new(cell, 8, 12).with_num_layers(2);
            let model = CharLanguageModelConfig::new(30, encoder).init(&device);
            let tokens = Tensor::<2, Int>::from_data([[1, 2, 3, 4, 5], [6, 7, 8, 9, 29]], &device);
            let (logits, state) = model.forward(tokens.clone(), None);
            assert_eq!(logits.dims(), [2, 5, 30]);
            assert_eq!(state.hidden.dims(), [2, 2, 12]);
            assert_eq!(state.cell.is_some(), cell == CellKind::Lstm);
            let (logits, _) = model.forward(tokens.narrow(1, 0, 2), Some(state.detach()));
            assert_eq!(logits.dims(), [2, 2, 30]);
            assert_eq!(model.vocab_size(), 30);
        }
    }

    #[test]
    fn chunked_logits_equal_one_pass() {
        let device = Device::flex();
        let encoder = RecurrentConfig::new(CellKind::Lstm, 4, 6);
        let model = CharLanguageModelConfig::new(10, encoder).init(&device);
        let tokens = Tensor::<2, Int>::from_data([[1, 5, 2, 9, 0, 3]], &device);
        let (whole, _) = model.forward(tokens.clone(), None);
        let (first, state) = model.forward(tokens.clone().narrow(1, 0, 3), None);
        let (second, _) = model.forward(tokens.narrow(1, 3, 3), Some(state));
        let chunked = Tensor::cat(vec![first, second], 1);
        let diff: f32 = (chunked - whole).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "max difference {diff}");
    }

    #[test]
    fn training_and_inference_paths_give_the_same_logits() {
        // On an autodiff device the output layer takes one flattened matrix; off it, the
        // sequences as they lie. Without dropout both are the same maths.
        let device = Device::flex().autodiff();
        let encoder = RecurrentConfig::new(CellKind::Lstm, 4, 6);
        let model = CharLanguageModelConfig::new(10, encoder).init(&device);
        let tokens = [[1, 5, 2, 9, 0, 3], [4, 4, 8, 1, 7, 2]];
        let (trained, _) = model.forward(Tensor::<2, Int>::from_data(tokens, &device), None);
        let plain = Device::flex();
        let (inferred, _) = model
            .valid()
            .forward(Tensor::<2, Int>::from_data(tokens, &plain), None);
        assert_eq!(trained.dims(), [2, 6, 10]);
        let diff: f32 = (trained.inner() - inferred)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-5, "max difference {diff}");
    }
}
