//! The reference MLP (784 -> 256 ReLU -> 128 ReLU -> 10): inference at batch 256 and 1, and one
//! forward and backward pass at batch 64, on MNIST digits (19% of their pixels are nonzero: one
//! digit alone takes the fused dense layer's sparse product) and on dense random inputs.
//!
//! `cargo bench -p kiln-fnn --bench mlp`

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_fnn::{Mlp, MlpConfig};

/// `[batch, 784]`: the first test digits of the embedded MNIST-10k, or uniform random values.
fn input(batch: usize, digits: bool, device: &Device) -> Tensor<2> {
    if !digits {
        return Tensor::<2>::random([batch, 784], Distribution::Default, device);
    }
    let (_, test) = kiln_data::embedded::mnist_10k();
    let pixels: Vec<f32> = (0..batch).flat_map(|i| test.sample(i).to_vec()).collect();
    Tensor::<2>::from_data(TensorData::new(pixels, [batch, 784]), device)
}

/// The same network through Burn's own `Linear` and `relu`, for comparison.
fn burn_layers(model: &Mlp, x: Tensor<2>) -> Tensor<2> {
    let x = model.hidden.iter().fold(x, |x, layer| {
        burn::tensor::activation::relu(layer.forward(x))
    });
    model.output.forward(x)
}

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let config = MlpConfig::new(784, 10).with_hidden_sizes(vec![256, 128]);
    let model = config.init(&device);
    for (name, digits) in [("MNIST", true), ("dense random", false)] {
        for batch in [256, 1] {
            let x = input(batch, digits, &device);
            c.bench_function(&format!("forward batch {batch}, {name} input"), |b| {
                b.iter(|| model.forward(x.clone()).into_data())
            });
            c.bench_function(&format!("Burn's layers batch {batch}, {name} input"), |b| {
                b.iter(|| burn_layers(&model, x.clone()).into_data())
            });
        }
        let autodiff = device.clone().autodiff();
        let trained = config.init(&autodiff);
        let x = input(64, digits, &autodiff);
        c.bench_function(&format!("forward+backward batch 64, {name} input"), |b| {
            b.iter(|| {
                let grads = trained.forward(x.clone()).sum().backward();
                std::hint::black_box(trained.output.weight.grad(&grads))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
