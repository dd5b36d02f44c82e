//! The ResNet preset's two residual blocks (batch 64): one forward and backward pass on the
//! fused kernels (`ConvBlock::forward`: fused convolutions and batch norms) against Burn's layers
//! (`ConvBlock::forward_composed`), and inference with the batch norms folded on every call and
//! folded once (`ConvBlock::fold_batch_norms`), batch 256 and 1.
//!
//! `cargo bench -p kiln-cnn --bench resnet`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_cnn::{ConvBlock, ConvBlockConfig};

/// `(name, input channels, input size, block)`, as `CnnConfig::resnet_small` builds them.
fn blocks(device: &Device) -> Vec<(&'static str, usize, usize, ConvBlock)> {
    let residual = |filters| {
        ConvBlockConfig::new(filters)
            .with_stride(2)
            .with_residual(true)
    };
    vec![
        (
            "block 2: 32x28x28 -> 64x14x14",
            32,
            28,
            residual(64).init(32, device),
        ),
        (
            "block 3: 64x14x14 -> 128x7x7",
            64,
            14,
            residual(128).init(64, device),
        ),
    ]
}

fn train_step(block: &ConvBlock, x: &Tensor<4>, fused: bool) {
    let x = x.clone().require_grad();
    let out = if fused {
        block.forward(x.clone())
    } else {
        block.forward_composed(x.clone())
    };
    let grads = out.sum().backward();
    std::hint::black_box(x.grad(&grads));
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    for (name, channels, size, block) in blocks(&device) {
        let x = Tensor::<4>::random([64, channels, size, size], normal, &device);
        c.bench_function(&format!("fused {name} forward+backward"), |bench| {
            bench.iter(|| train_step(&block, &x, true))
        });
        c.bench_function(&format!("composed {name} forward+backward"), |bench| {
            bench.iter(|| train_step(&block, &x, false))
        });
        let valid = block.valid();
        let prepared = valid.clone().fold_batch_norms();
        for batch in [256, 1] {
            let x = Tensor::<4>::random([batch, channels, size, size], normal, &Device::flex());
            c.bench_function(
                &format!("folded once {name} inference, batch {batch}"),
                |bench| {
                    bench.iter(|| std::hint::black_box(prepared.forward(x.clone()).into_data()))
                },
            );
            c.bench_function(
                &format!("folded {name} inference, batch {batch}"),
                |bench| bench.iter(|| std::hint::black_box(valid.forward(x.clone()).into_data())),
            );
            c.bench_function(
                &format!("composed {name} inference, batch {batch}"),
                |bench| {
                    bench.iter(|| {
                        std::hint::black_box(valid.forward_composed(x.clone()).into_data())
                    })
                },
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
