//! One forward and backward pass of the fused recurrent operation on the seq-MNIST reference
//! shape (batch 64, 28 steps, hidden 128), against the same maths composed from Burn's ops.
//!
//! `cargo bench -p kiln-rnn --bench fused`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_rnn::fused::{Cell, composed_sequence, sequence};

type Sequence = fn(
    Cell,
    Tensor<3>,
    Tensor<2>,
    Option<Tensor<1>>,
    Tensor<2>,
    Option<Tensor<2>>,
    bool,
) -> Tensor<3>;

/// Inputs of one call: xp, w, bias, h0, c0.
type Inputs = (
    Tensor<3>,
    Tensor<2>,
    Option<Tensor<1>>,
    Tensor<2>,
    Option<Tensor<2>>,
);

fn inputs(cell: Cell, device: &Device) -> Inputs {
    let (batch, time, hidden) = (64, 28, 128);
    let gates = match cell {
        Cell::Lstm => 4,
        Cell::Gru => 3,
        Cell::Elman { .. } => 1,
    };
    let uniform = Distribution::Uniform(-0.5, 0.5);
    let xp = Tensor::<3>::random([batch, time, gates * hidden], uniform, device);
    let w = Tensor::<2>::random([hidden, gates * hidden], uniform, device);
    let bias = (cell == Cell::Gru).then(|| Tensor::<1>::zeros([gates * hidden], device));
    let h0 = Tensor::<2>::zeros([batch, hidden], device);
    let c0 = (cell == Cell::Lstm).then(|| Tensor::<2>::zeros([batch, hidden], device));
    (xp, w, bias, h0, c0)
}

fn step(f: Sequence, cell: Cell, (xp, w, bias, h0, c0): Inputs) {
    let (xp, w) = (xp.require_grad(), w.require_grad());
    let out = f(cell, xp, w.clone(), bias, h0, c0, false);
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
        let data = inputs(cell, &device);
        c.bench_function(&format!("fused {name} forward+backward"), |b| {
            b.iter(|| step(sequence, cell, data.clone()))
        });
        c.bench_function(&format!("composed {name} forward+backward"), |b| {
            b.iter(|| step(composed_sequence, cell, data.clone()))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
