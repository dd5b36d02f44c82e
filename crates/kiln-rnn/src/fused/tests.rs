//! The fused kernels against the composed reference: same outputs and the same gradients for
//! every input, in both directions, for every cell.

use burn::prelude::*;
use burn::tensor::Distribution;

use super::{Cell, composed, sequence};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn assert_close<const D: usize>(actual: Tensor<D>, expected: Tensor<D>, tol: f32, what: &str) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let (a, e) = (values(actual), values(expected));
    let worst = a
        .iter()
        .zip(&e)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f32, f32::max);
    // Sums of many products round differently in each order: scale the tolerance with the
    // values' magnitude.
    let scale = e.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
    assert!(
        worst < tol * scale,
        "{what}: max difference {worst} (scale {scale})"
    );
}

/// Inputs of one call: xp, w, bias, h0, c0.
type Inputs = (
    Tensor<3>,
    Tensor<2>,
    Option<Tensor<1>>,
    Tensor<2>,
    Option<Tensor<2>>,
);

/// A small batch (one part) and one large enough to be split across threads.
const SIZES: [(usize, usize, usize); 2] = [(3, 5, 4), (64, 6, 48)];

/// Random inputs for `cell` on `device`: xp, w, bias, h0, c0.
fn inputs(cell: Cell, device: &Device) -> Inputs {
    sized_inputs(cell, device, SIZES[0])
}

/// Random inputs of `(batch, time, hidden)`.
fn sized_inputs(
    cell: Cell,
    device: &Device,
    (batch, time, hidden): (usize, usize, usize),
) -> Inputs {
    let gates = match cell {
        Cell::Lstm => 4,
        Cell::Gru => 3,
        Cell::Elman { .. } => 1,
    };
    let uniform = Distribution::Uniform(-1.0, 1.0);
    let xp = Tensor::<3>::random([batch, time, gates * hidden], uniform, device);
    let w = Tensor::<2>::random([hidden, gates * hidden], uniform, device);
    let bias = (cell == Cell::Gru).then(|| Tensor::<1>::random([gates * hidden], uniform, device));
    let h0 = Tensor::<2>::random([batch, hidden], uniform, device);
    let c0 = (cell == Cell::Lstm).then(|| Tensor::<2>::random([batch, hidden], uniform, device));
    (xp, w, bias, h0, c0)
}

const CELLS: [Cell; 4] = [
    Cell::Lstm,
    Cell::Gru,
    Cell::Elman { relu: false },
    Cell::Elman { relu: true },
];

#[test]
fn fused_outputs_and_gradients_match_the_composed_reference() {
    let device = Device::flex().autodiff();
    for (cell, size, reverse) in CELLS
        .into_iter()
        .flat_map(|c| SIZES.map(|s| (c, s)))
        .flat_map(|(c, s)| [(c, s, false), (c, s, true)])
    {
        {
            let what = format!("{cell:?}, size {size:?}, reverse {reverse}");
            // Rounding grows with the width of the sums and the number of steps.
            let tol = if size == SIZES[0] { 1e-5 } else { 3e-5 };
            let (xp, w, bias, h0, c0) = sized_inputs(cell, &device, size);
            let run = |f: fn(
                Cell,
                Tensor<3>,
                Tensor<2>,
                Option<Tensor<1>>,
                Tensor<2>,
                Option<Tensor<2>>,
                bool,
            ) -> Tensor<3>| {
                let (xp, w, h0) = (
                    xp.clone().detach().require_grad(),
                    w.clone().detach().require_grad(),
                    h0.clone().detach().require_grad(),
                );
                let bias = bias.clone().map(|b| b.detach().require_grad());
                let c0 = c0.clone().map(|c| c.detach().require_grad());
                let out = f(
                    cell,
                    xp.clone(),
                    w.clone(),
                    bias.clone(),
                    h0.clone(),
                    c0.clone(),
                    reverse,
                );
                // A loss that weighs every output differently.
                let n = out.shape().num_elements() as i64;
                let weights = Tensor::<1, Int>::arange(0..n, &out.device())
                    .float()
                    .reshape(out.dims());
                let grads = (out.clone() * weights.sin()).sum().backward();
                let g = |t: &Tensor<2>| t.grad(&grads).expect("a gradient");
                (
                    out.detach(),
                    xp.grad(&grads).expect("d xp"),
                    g(&w),
                    g(&h0),
                    bias.map(|b| b.grad(&grads).expect("d bias")),
                    c0.map(|c| c.grad(&grads).expect("d c0")),
                )
            };
            let fused = run(sequence);
            let reference = run(composed::sequence);
            assert_close(fused.0, reference.0, tol, &format!("{what}: output"));
            assert_close(fused.1, reference.1, tol, &format!("{what}: d xp"));
            assert_close(fused.2, reference.2, tol, &format!("{what}: d w"));
            assert_close(fused.3, reference.3, tol, &format!("{what}: d h0"));
            if let (Some(a), Some(b)) = (fused.4, reference.4) {
                assert_close(a, b, tol, &format!("{what}: d bias"));
            }
            if let (Some(a), Some(b)) = (fused.5, reference.5) {
                assert_close(a, b, tol, &format!("{what}: d c0"));
            }
        }
    }
}

#[test]
fn half_precision_inputs_come_back_in_their_own_type() {
    let device = Device::flex();
    for dtype in [burn::tensor::DType::F16, burn::tensor::DType::BF16] {
        for cell in CELLS {
            let (xp, w, bias, h0, c0) = inputs(cell, &device);
            let reference = sequence(
                cell,
                xp.clone(),
                w.clone(),
                bias.clone(),
                h0.clone(),
                c0.clone(),
                false,
            );
            let half = sequence(
                cell,
                xp.cast(dtype),
                w.cast(dtype),
                bias.map(|b| b.cast(dtype)),
                h0.cast(dtype),
                c0.map(|c| c.cast(dtype)),
                false,
            );
            assert_eq!(half.dtype(), dtype, "{cell:?}");
            assert_close(half, reference, 0.05, &format!("{cell:?} in {dtype:?}"));
        }
    }
}

#[test]
fn without_autodiff_the_fused_kernel_gives_the_same_outputs() {
    let device = Device::flex();
    for cell in CELLS {
        let (xp, w, bias, h0, c0) = inputs(cell, &device);
        let fused = sequence(
            cell,
            xp.clone(),
            w.clone(),
            bias.clone(),
            h0.clone(),
            c0.clone(),
            true,
        );
        let reference = composed::sequence(cell, xp, w, bias, h0, c0, true);
        assert_close(fused, reference, 1e-5, &format!("{cell:?}"));
    }
}
