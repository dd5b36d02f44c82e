//! One forward and backward pass of the fused `conv -> ReLU -> max pool` block on the two layers
//! of the reference CNN (batch 64), against the same maths composed from Burn's operations.
//!
//! `cargo bench -p kiln-cnn --bench fused`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_cnn::fused::{ConvPool, composed_conv_relu_pool, conv_relu_pool};

type Block = fn(Tensor<4>, Tensor<4>, Tensor<1>, ConvPool) -> Tensor<4>;

/// The reference CNN's blocks: `(name, channels, size, filters, input tracked)`.
const LAYERS: [(&str, usize, usize, usize, bool); 2] = [
    ("conv1 1x28x28 -> 32", 1, 28, 32, false),
    ("conv2 32x13x13 -> 64", 32, 13, 64, true),
];

fn step(f: Block, x: &Tensor<4>, w: &Tensor<4>, b: &Tensor<1>, tracked: bool) {
    let spec = ConvPool {
        stride: 1,
        padding: 0,
        pool: 2,
    };
    let x = if tracked {
        x.clone().require_grad()
    } else {
        x.clone()
    };
    let w = w.clone().require_grad();
    let out = f(x, w.clone(), b.clone().require_grad(), spec);
    let grads = out.sum().backward();
    std::hint::black_box(w.grad(&grads));
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    for (name, channels, size, filters, tracked) in LAYERS {
        let x = Tensor::<4>::random([64, channels, size, size], normal, &device);
        let w = Tensor::<4>::random([filters, channels, 3, 3], normal, &device) * 0.1;
        let b = Tensor::<1>::zeros([filters], &device);
        c.bench_function(&format!("fused {name} forward+backward"), |bench| {
            bench.iter(|| step(conv_relu_pool, &x, &w, &b, tracked))
        });
        c.bench_function(&format!("composed {name} forward+backward"), |bench| {
            bench.iter(|| step(composed_conv_relu_pool, &x, &w, &b, tracked))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
