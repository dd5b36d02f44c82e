//! The host maths of the fused dense layer, on row-major f32 slices.

use std::ops::Range;

use crate::matmul::{View, matmul};

/// The sizes of one call: `x` is `rows x inputs`, the weight `inputs x outputs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Rows of `x` (samples).
    pub rows: usize,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
}

/// `out = x · w + bias`, rectified when `relu`, for some rows of `x`: the product, then bias and
/// ReLU in one pass over the rows while they are still in cache.
pub fn forward(x: &[f32], w: &[f32], bias: &[f32], relu: bool, s: Sizes, out: &mut [f32]) {
    let Sizes {
        rows,
        inputs,
        outputs,
    } = s;
    matmul(
        out,
        outputs,
        View::dense(x, inputs),
        View::dense(w, outputs),
        rows,
        inputs,
        outputs,
        false,
    );
    for row in out.chunks_exact_mut(outputs) {
        for (value, b) in row.iter_mut().zip(bias) {
            let biased = *value + b;
            *value = if relu { biased.max(0.0) } else { biased };
        }
    }
}

/// The gradient before the ReLU: `dy` where the output was positive, 0 elsewhere (in place).
pub fn relu_backward(dy: &mut [f32], y: &[f32]) {
    for (d, y) in dy.iter_mut().zip(y) {
        if *y <= 0.0 {
            *d = 0.0;
        }
    }
}

/// `dx = dz · wᵀ` for some rows of `dz` (`rows x outputs`).
pub fn input_grad(dz: &[f32], w: &[f32], s: Sizes, dx: &mut [f32]) {
    let Sizes {
        rows,
        inputs,
        outputs,
    } = s;
    matmul(
        dx,
        inputs,
        View::dense(dz, outputs),
        View::dense_t(w, outputs),
        rows,
        outputs,
        inputs,
        false,
    );
}

/// Rows `features` of `dw = xᵀ · dz` (one row per input feature) into `dw_rows`.
pub fn weight_grad(x: &[f32], dz: &[f32], s: Sizes, features: Range<usize>, dw_rows: &mut [f32]) {
    let Sizes {
        rows,
        inputs,
        outputs,
    } = s;
    let xt = View {
        data: &x[features.start..],
        stride: inputs,
        transposed: true,
    };
    matmul(
        dw_rows,
        outputs,
        xt,
        View::dense(dz, outputs),
        features.len(),
        rows,
        outputs,
        false,
    );
}

/// `db`: the column sums of `dz` (`rows x outputs`).
pub fn bias_grad(dz: &[f32], outputs: usize) -> Vec<f32> {
    let mut db = vec![0.0f32; outputs];
    for row in dz.chunks_exact(outputs) {
        crate::add_into(&mut db, row);
    }
    db
}
