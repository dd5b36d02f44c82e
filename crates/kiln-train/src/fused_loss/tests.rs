//! The fused losses against Burn's own: values and gradients.

use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};

use super::*;

type Loss = fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1>;

/// Loss value and gradient of the logits, computed with `loss` on an autodiff device.
fn value_and_grad(loss: Loss, logits: &Tensor<2>, labels: &Tensor<1, Int>) -> (f32, Vec<f32>) {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::from_data(logits.to_data(), &device).require_grad();
    let y = Tensor::<1, Int>::from_data(labels.to_data(), &device);
    let value = loss(x.clone(), y);
    let grads = value.clone().mul_scalar(3.0).backward();
    let grad = x.grad(&grads).expect("a gradient for the logits");
    let value: f32 = value.into_scalar();
    (
        value,
        grad.into_data().convert::<f32>().try_to_vec().unwrap(),
    )
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 + 1e-5 * y.abs(),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn logits(rows: usize, classes: usize, seed: u64) -> Tensor<2> {
    let device = Device::flex();
    let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
    device.seed(seed);
    Tensor::random([rows, classes], Distribution::Normal(0.0, 4.0), &device)
}

fn labels(rows: usize, classes: usize, seed: u64) -> Tensor<1, Int> {
    let device = Device::flex();
    let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
    device.seed(seed);
    Tensor::<1>::random([rows], Distribution::Uniform(0.0, classes as f64), &device)
        .int()
        .clamp(0, classes as i64 - 1)
}

#[test]
fn binary_cross_entropy_matches_burn() {
    for rows in [1, 7, 455] {
        let (x, y) = (logits(rows, 1, rows as u64), labels(rows, 2, 9));
        let fused = value_and_grad(binary_cross_entropy_with_logits, &x, &y);
        let burn = value_and_grad(composed_binary_cross_entropy, &x, &y);
        assert_close(&[fused.0], &[burn.0], "loss");
        assert_close(&fused.1, &burn.1, "gradient");
    }
}

#[test]
fn cross_entropy_matches_burn() {
    // 600 rows: more than one parallel task of `kernels::cross_entropy`.
    for (rows, classes) in [(1, 2), (64, 10), (33, 65), (600, 5)] {
        let (x, y) = (logits(rows, classes, 5), labels(rows, classes, 6));
        let fused = value_and_grad(cross_entropy, &x, &y);
        let burn = value_and_grad(composed_cross_entropy, &x, &y);
        assert_close(&[fused.0], &[burn.0], "loss");
        assert_close(&fused.1, &burn.1, "gradient");
    }
}

#[test]
fn inference_and_half_precision_logits_work() {
    let (x, y) = (logits(16, 4, 1), labels(16, 4, 2));
    let plain: f32 = cross_entropy(x.clone(), y.clone()).into_scalar();
    let reference: f32 = composed_cross_entropy(x.clone(), y.clone()).into_scalar();
    assert!((plain - reference).abs() < 1e-5);
    let half = cross_entropy(x.cast(FloatDType::BF16), y);
    assert_eq!(half.dtype(), burn::tensor::DType::BF16);
    let half: f32 = half.cast(FloatDType::F32).into_scalar();
    assert!((half - reference).abs() < 0.05 * reference.abs().max(1.0));
}
