//! A seeded language model draws the same initial weights whichever way its encoder reads its
//! input. Burn initialises a parameter when it is first read, from one generator for the whole
//! process: this file holds a single test, so that no other test draws from that generator
//! between the seed and the reads (integration test files run as processes of their own).

use burn::prelude::*;
use kiln_rnn::{
    CellKind, CharLanguageModel, CharLanguageModelConfig, RecurrentConfig, RecurrentLayer,
};

/// The bits of the embedding's and the first LSTM layer's parameters, reading them (and so
/// initialising any not yet read) in a fixed order.
fn weights(model: &CharLanguageModel) -> Vec<u32> {
    let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32 values");
    let RecurrentLayer::Gated(layers) = &model.encoder.layers[0] else {
        panic!("an LSTM encoder has gated layers");
    };
    let (layer, row) = (&layers[0], |t: Tensor<1>| t.unsqueeze_dim(0));
    [
        values(model.embedding.weight.val()),
        values(layer.w_ih.val()),
        values(layer.w_hh.val()),
        values(row(layer.b_ih.val())),
        values(row(layer.b_hh.val())),
    ]
    .concat()
    .iter()
    .map(|v| v.to_bits())
    .collect()
}

#[test]
fn reading_tokens_initialises_the_weights_as_embedding_them_first_does() {
    // The language model's encoder reads token ids with the embedding; it must read the LSTM's
    // parameters in the order the encoder reads them from embedded features, or a seeded run's
    // model changes (it did once: biases and weights swapped).
    let device = Device::flex().autodiff();
    let config = CharLanguageModelConfig::new(10, RecurrentConfig::new(CellKind::Lstm, 4, 16));
    let tokens = Tensor::<2, Int>::from_data([[1, 5, 2, 9, 0, 3]], &device);
    device.seed(5);
    let from_tokens = config.init(&device);
    from_tokens.forward(tokens.clone(), None);
    device.seed(5);
    let embedded_first = config.init(&device);
    let embedded = embedded_first.embedding.forward(tokens);
    embedded_first.encoder.forward(embedded, None);
    assert!(
        weights(&from_tokens) == weights(&embedded_first),
        "the same seed initialised different weights"
    );
}
