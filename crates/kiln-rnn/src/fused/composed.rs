//! The same sequences as the fused kernels, composed from Burn's differentiable tensor
//! operations one step at a time: the path for backends without a fused kernel (wgpu), and the
//! reference the kernels are tested against.

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use super::{Cell, SequenceInput};

/// Runs `cell` over `input` one step at a time; returns what the fused kernel returns (see
/// [`super::sequence`]).
pub fn sequence(cell: Cell, input: SequenceInput, reverse: bool) -> Tensor<3> {
    let SequenceInput {
        x,
        w_in,
        b_in,
        w,
        bias,
        h0,
        c0,
    } = input;
    let [batch, time, features] = x.dims();
    let width = w_in.dims()[1];
    let xp = x
        .reshape([batch * time, features])
        .matmul(w_in)
        .add(b_in.unsqueeze::<2>())
        .reshape([batch, time, width]);
    let hidden = h0.dims()[1];
    let mut h = h0;
    let mut c = c0;
    let mut outputs: Vec<Option<Tensor<2>>> = vec![None; time];
    let steps: Vec<usize> = if reverse {
        (0..time).rev().collect()
    } else {
        (0..time).collect()
    };
    let gate = |g: &Tensor<2>, k: usize| g.clone().narrow(1, k * hidden, hidden);
    for t in steps {
        let x = xp.clone().narrow(1, t, 1).squeeze_dim::<2>(1);
        let projected = h.clone().matmul(w.clone());
        h = match cell {
            Cell::Lstm => {
                let g = x + projected;
                let (i, f) = (sigmoid(gate(&g, 0)), sigmoid(gate(&g, 1)));
                let (u, o) = (gate(&g, 2).tanh(), sigmoid(gate(&g, 3)));
                let cell = f * c.take().expect("an LSTM needs c0") + i * u;
                c = Some(cell.clone());
                o * cell.tanh()
            }
            Cell::Gru => {
                let p = projected + bias.clone().expect("a GRU needs its bias").unsqueeze();
                let r = sigmoid(gate(&x, 0) + gate(&p, 0));
                let z = sigmoid(gate(&x, 1) + gate(&p, 1));
                let n = (gate(&x, 2) + r * gate(&p, 2)).tanh();
                z.clone().neg().add_scalar(1.0) * n + z * h
            }
            Cell::Elman { relu: true } => relu(x + projected),
            Cell::Elman { relu: false } => (x + projected).tanh(),
        };
        outputs[t] = Some(h.clone());
    }
    let mut steps: Vec<Tensor<3>> = outputs
        .into_iter()
        .map(|o| o.expect("every step ran").unsqueeze_dim(1))
        .collect();
    if let Some(c) = c {
        steps.push(c.unsqueeze_dim(1));
    }
    Tensor::cat(steps, 1)
}
