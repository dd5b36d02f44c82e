//! The reference MLP (`configs/mlp-mnist.toml`: 784 -> 256 ReLU -> 128 ReLU -> 10) on the fused
//! dense layers (`Mlp::forward`) against Burn's layers (`Mlp::forward_composed`): a forward and
//! backward pass at batch 64, inference at batch 256 and 1.
//!
//! `cargo bench -p kiln-fnn --bench dense`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_fnn::{Mlp, MlpConfig};

fn train_step(model: &Mlp, x: &Tensor<2>, fused: bool) {
    let logits = if fused {
        model.forward(x.clone())
    } else {
        model.forward_composed(x.clone())
    };
    let grads = logits.sum().backward();
    std::hint::black_box(model.output.weight.grad(&grads));
}

fn bench(c: &mut Criterion) {
    let config = MlpConfig::new(784, 10).with_hidden_sizes(vec![256, 128]);
    let device = Device::flex().autodiff();
    let model = config.init(&device);
    let x = Tensor::<2>::random([64, 784], Distribution::Default, &device);
    c.bench_function("fused mlp forward+backward, batch 64", |b| {
        b.iter(|| train_step(&model, &x, true))
    });
    c.bench_function("composed mlp forward+backward, batch 64", |b| {
        b.iter(|| train_step(&model, &x, false))
    });
    let inference = config.init(&Device::flex());
    for batch in [256, 1] {
        let x = Tensor::<2>::random([batch, 784], Distribution::Default, &Device::flex());
        c.bench_function(&format!("fused mlp inference, batch {batch}"), |b| {
            b.iter(|| inference.forward(x.clone()).into_data())
        });
        c.bench_function(&format!("composed mlp inference, batch {batch}"), |b| {
            b.iter(|| inference.forward_composed(x.clone()).into_data())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
