//! One forward and backward pass of the fused recurrent operation on the seq-MNIST reference
//! shape (batch 64, 28 steps, hidden 128), against the same maths composed from Burn's ops, and
//! its forward pass alone off autodiff (inference, batch 256 and 1); the character model's
//! shape in training (LSTM 512) and in inference (one chunk, LSTM 576, from its embedding rows
//! and from its tokens).
//!
//! `cargo bench -p kiln-rnn --bench fused`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_rnn::fused::{
    Cell, SequenceInput, TokenSequenceInput, composed_sequence, lstm_tokens, sequence,
};

/// Features per step: seq-MNIST reads rows of 28 pixels.
const FEATURES: usize = 28;

type Sequence = fn(Cell, SequenceInput, bool) -> Tensor<3>;

/// Random inputs of `(batch, time, hidden)` for `cell`, [`FEATURES`] per step.
fn inputs(cell: Cell, device: &Device, size: (usize, usize, usize)) -> SequenceInput {
    inputs_with(cell, device, size, FEATURES)
}

/// Random inputs of `(batch, time, hidden)` for `cell`, `features` per step.
fn inputs_with(
    cell: Cell,
    device: &Device,
    (batch, time, hidden): (usize, usize, usize),
    features: usize,
) -> SequenceInput {
    let gates = match cell {
        Cell::Lstm => 4,
        Cell::Gru => 3,
        Cell::Elman { .. } => 1,
    };
    let uniform = Distribution::Uniform(-0.5, 0.5);
    let x = Tensor::<3>::random([batch, time, features], uniform, device);
    let w_in = Tensor::<2>::random([features, gates * hidden], uniform, device);
    let b_in = Tensor::<1>::zeros([gates * hidden], device);
    let w = Tensor::<2>::random([hidden, gates * hidden], uniform, device);
    let bias = (cell == Cell::Gru).then(|| Tensor::<1>::zeros([gates * hidden], device));
    let h0 = Tensor::<2>::zeros([batch, hidden], device);
    let c0 = (cell == Cell::Lstm).then(|| Tensor::<2>::zeros([batch, hidden], device));
    SequenceInput {
        x,
        w_in,
        b_in,
        w,
        bias,
        h0,
        c0,
    }
}

fn step(f: Sequence, cell: Cell, input: SequenceInput) {
    let w = input.w.clone().require_grad();
    let input = SequenceInput {
        w_in: input.w_in.require_grad(),
        w: w.clone(),
        ..input
    };
    let out = f(cell, input, false);
    let grads = out.sum().backward();
    std::hint::black_box(w.grad(&grads));
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    for (name, cell) in [
        ("lstm", Cell::Lstm),
        ("gru", Cell::Gru),
        ("elman", Cell::Elman { relu: false }),
    ] {
        let data = inputs(cell, &device, (64, 28, 128));
        c.bench_function(&format!("fused {name} forward+backward"), |b| {
            b.iter(|| step(sequence, cell, data.clone()))
        });
        c.bench_function(&format!("composed {name} forward+backward"), |b| {
            b.iter(|| step(composed_sequence, cell, data.clone()))
        });
    }
}

/// Inference: the forward pass alone on a device without autodiff, batch 256 and 1.
fn bench_inference(c: &mut Criterion) {
    let device = Device::flex();
    for (name, cell) in [("lstm", Cell::Lstm), ("gru", Cell::Gru)] {
        for batch in [256, 1] {
            let data = inputs(cell, &device, (batch, 28, 128));
            c.bench_function(&format!("fused {name} inference, batch {batch}"), |b| {
                b.iter(|| std::hint::black_box(sequence(cell, data.clone(), false).into_data()))
            });
        }
    }
}

/// The character language model's shape: batch 128, 50 steps, hidden 512.
fn bench_language_model(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let data = inputs(Cell::Lstm, &device, (128, 50, 512));
    c.bench_function("fused lstm-512 language model chunk", |b| {
        b.iter(|| step(sequence, Cell::Lstm, data.clone()))
    });
}

/// The character model's inference: one chunk of 128 streams x 50 characters, embedding 64,
/// LSTM 576 (the compare script's shape), off autodiff.
fn bench_language_model_inference(c: &mut Criterion) {
    let device = Device::flex();
    let data = inputs_with(Cell::Lstm, &device, (128, 50, 576), 64);
    c.bench_function("fused lstm-576 language model inference chunk", |b| {
        b.iter(|| std::hint::black_box(sequence(Cell::Lstm, data.clone(), false).into_data()))
    });
    // The same chunk read from token ids of the Shakespeare text's 73 characters: each token's
    // input projection computed once and looked up.
    let vocabulary = 73;
    let ids: Vec<i64> = (0..128 * 50)
        .map(|i| (i * 31 % vocabulary) as i64)
        .collect();
    let uniform = Distribution::Uniform(-0.5, 0.5);
    let tokens = TokenSequenceInput {
        tokens: Tensor::<1, Int>::from_data(ids.as_slice(), &device).reshape([128, 50]),
        embedding: Tensor::random([vocabulary, 64], uniform, &device),
        w_in: data.w_in,
        b_in: data.b_in,
        w: data.w,
        h0: data.h0,
        c0: data.c0.expect("an LSTM's c0"),
    };
    c.bench_function(
        "fused lstm-576 language model inference chunk, tokens",
        |b| b.iter(|| std::hint::black_box(lstm_tokens(tokens.clone(), false).into_data())),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench, bench_inference, bench_language_model, bench_language_model_inference
}
criterion_main!(benches);
