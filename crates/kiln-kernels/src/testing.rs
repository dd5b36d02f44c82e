//! Comparisons the fused kernels' tests share: a fused operation against the same maths composed
//! from Burn's tensor operations.

use burn::prelude::*;

/// The values of a tensor as f32, in row-major order.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// Asserts that two tensors have the same shape and agree within `tol` times the largest
/// magnitude of `expected` (at least 1): sums of many products round differently in each order.
///
/// # Panics
/// With `what`, the largest difference and the scale when they do not agree.
pub fn assert_close<const D: usize>(actual: Tensor<D>, expected: Tensor<D>, tol: f32, what: &str) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let (a, e) = (values(actual), values(expected));
    let worst = a
        .iter()
        .zip(&e)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f32, f32::max);
    let scale = e.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
    assert!(
        worst < tol * scale,
        "{what}: max difference {worst} (scale {scale})"
    );
}
