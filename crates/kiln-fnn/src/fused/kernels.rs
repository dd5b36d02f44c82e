//! The host maths of the fused dense layer `relu?(x · w + bias)`: `x` `[batch, k]`, `w` `[k, n]`
//! (Burn's `Linear` layout), `bias` `[n]`, all row-major f32.
//!
//! The forward pass starts each output row from the bias and adds the product to it, then
//! rectifies it in place: no separate bias and activation passes. Rows of `x` that are mostly
//! zeros in the same places (see [`sparse`]: one MNIST digit, say) are multiplied over their
//! nonzero columns; others by gemm.

use std::ops::Range;

use kiln_kernels::matmul::{self, View};

use super::sparse::{self, Operand};

/// The shape of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of `x` and of the output.
    pub batch: usize,
    /// Input features (columns of `x`, rows of `w`).
    pub inputs: usize,
    /// Output features (columns of `w` and of the output).
    pub outputs: usize,
}

/// Rows `rows` of `relu?(x · w + bias)` into `out` (their `rows.len() x outputs` values) by the
/// sparse product, when those rows of `x` (the whole batch) are sparse enough for it to pay.
/// Returns whether they were.
pub fn sparse_rows(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    shape: Shape,
    relu: bool,
    rows: Range<usize>,
    out: &mut [f32],
) -> bool {
    let k = shape.inputs;
    let a = Operand {
        data: &x[rows.start * k..rows.end * k],
        cols: k,
        row_stride: k,
        col_stride: 1,
    };
    let done = sparse::product(a, 0..rows.len(), w, shape.outputs, Some(bias), out);
    if done && relu {
        rectify(out);
    }
    done
}

/// Rows `rows` of `relu?(x · w + bias)` into `out` by gemm: each row starts from the bias, the
/// product is added to it and the result rectified in place.
pub fn dense_rows(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    shape: Shape,
    relu: bool,
    rows: Range<usize>,
    out: &mut [f32],
) {
    let (k, n) = (shape.inputs, shape.outputs);
    for row in out.chunks_exact_mut(n.max(1)) {
        row.copy_from_slice(bias);
    }
    let x = View::dense(&x[rows.start * k..rows.end * k], k);
    matmul::matmul(out, n, x, View::dense(w, n), rows.len(), k, n, true);
    if relu {
        rectify(out);
    }
}

/// `max(v, 0)` in place.
fn rectify(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// The gradients of one call.
#[derive(Debug, Clone)]
pub struct Grads {
    /// `[batch, inputs]`, when asked for.
    pub x: Option<Vec<f32>>,
    /// `[inputs, outputs]`.
    pub w: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// The backward pass from the output gradient `dout` and the forward output `out` (its sign
/// is the ReLU's mask): `dz = dout ⊙ [out > 0]` (or `dout`), then `dw = xᵀ · dz`,
/// `dbias = Σ_rows dz` and, when `want_x`, `dx = dz · wᵀ` (gemm: a training batch of 64 digits
/// keeps too many columns for the sparse product to pay).
pub fn backward(
    dout: &[f32],
    out: Option<&[f32]>,
    x: &[f32],
    w: &[f32],
    shape: Shape,
    want_x: bool,
) -> Grads {
    let Shape {
        batch,
        inputs: k,
        outputs: n,
    } = shape;
    if k == 0 || n == 0 {
        return Grads {
            x: want_x.then(|| vec![0.0; batch * k]),
            w: vec![0.0; k * n],
            bias: vec![0.0; n],
        };
    }
    let dz: Vec<f32> = match out {
        Some(out) => dout
            .iter()
            .zip(out)
            .map(|(d, o)| if *o > 0.0 { *d } else { 0.0 })
            .collect(),
        None => dout.to_vec(),
    };
    let mut bias = vec![0.0f32; n];
    for row in dz.chunks_exact(n) {
        kiln_kernels::add_into(&mut bias, row);
    }
    let w_grad = matmul::product(View::dense_t(x, k), View::dense(&dz, n), k, batch, n);
    let x_grad =
        want_x.then(|| matmul::product(View::dense(&dz, n), View::dense_t(w, n), batch, n, k));
    Grads {
        x: x_grad,
        w: w_grad,
        bias,
    }
}
