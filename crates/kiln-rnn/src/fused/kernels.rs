//! The fused recurrent kernels on host memory: one call runs a whole sequence forwards, and one
//! call its backward pass from the activations the forward pass kept (its tape).
//!
//! Every tensor is batch-first and dense: the input projection `xp` is `[batch, time, gates *
//! hidden]` (the bias already added), the recurrent weight `w` is `[hidden, gates * hidden]`
//! (right-multiplied: `h · w`) and states are `[batch, hidden]`. Gate order is PyTorch's: LSTM
//! `(i, f, g, o)`, GRU `(r, z, n)`. A `reverse` kernel reads the steps from last to first and
//! still writes its outputs in time order.

use super::gate_tiles::{MIN_ROW_STEPS, PackedGates};
use super::math::tanh_in_place;
use super::rows::{
    gru_cell_grad_row, gru_cell_row, lstm_cell_grad_row, lstm_cell_row, lstm_hidden_row,
};
use kiln_kernels::matmul::{View, matmul, matmul_unpacked};
use std::ops::Range;

/// Sizes of one fused call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Sequences in the batch.
    pub batch: usize,
    /// Time steps.
    pub time: usize,
    /// Width of the hidden state.
    pub hidden: usize,
}

impl Dims {
    /// The time indices in processing order.
    pub(super) fn order(self, reverse: bool) -> Vec<usize> {
        let mut steps: Vec<usize> = (0..self.time).collect();
        if reverse {
            steps.reverse();
        }
        steps
    }
}

/// A `[batch, hidden]` block of rows `stride` apart, starting at `offset`, as a matmul operand.
fn rows(data: &[f32], offset: usize, stride: usize) -> View<'_> {
    View {
        data: &data[offset..],
        stride,
        transposed: false,
    }
}

/// `acts[:, t] += h · w`: step `t`'s rows of the `[batch, time, width]` activations gain the
/// recurrent product of the state `h` `[batch, hidden]` with `w` `[hidden, width]`, in products
/// that read `w` where it lies rather than a copy of it at every step.
fn step_product(acts: &mut [f32], h: &[f32], w: &[f32], t: usize, d: Dims, width: usize) {
    matmul_unpacked(
        &mut acts[t * width..],
        d.time * width,
        View::dense(h, d.hidden),
        View::dense(w, width),
        d.batch,
        d.hidden,
        width,
        true,
    );
}

/// `dh (+)= d_gates[:, t] · wᵀ`: the gradient that reaches the previous hidden state through the
/// recurrent weight, from step `t`'s rows of the `[batch, time, width]` gate gradients.
fn back_through_weight(
    dh: &mut [f32],
    d_gates: &[f32],
    w_t: &[f32],
    t: usize,
    d: Dims,
    width: usize,
    accumulate: bool,
) {
    matmul_unpacked(
        dh,
        d.hidden,
        rows(d_gates, t * width, d.time * width),
        View::dense(w_t, d.hidden),
        d.batch,
        width,
        d.hidden,
        accumulate,
    );
}

/// The dense transpose of a `rows x cols` matrix: products read it faster than a strided view.
/// It goes tile by tile (32 x 32), so that reads and writes both stay within a few cache lines.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0; rows * cols];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = data[r * cols + c];
                }
            }
        }
    }
    out
}

/// The recurrent weight's gradient `h_prevᵀ · d_gates` over every row and step, where
/// `h_prev` is `[rows, hidden]` and `d_gates` is `[rows, width]`.
fn weight_grad(h_prev: &[f32], d_gates: &[f32], hidden: usize, width: usize) -> Vec<f32> {
    let rows = h_prev.len() / hidden.max(1);
    let mut dw = vec![0.0; hidden * width];
    matmul(
        &mut dw,
        width,
        View::dense_t(h_prev, hidden),
        View::dense(d_gates, width),
        hidden,
        rows,
        width,
        false,
    );
    dw
}

/// The hidden state before each step, `[batch, time, hidden]`, rebuilt for the backward pass
/// from the forward output `out` (`steps` rows of `hidden` per sequence, every step's hidden
/// state in time order) and `h0`: the forward pass keeps no copy of its own (15 MB for the
/// character model).
fn previous_states(out: &[f32], h0: &[f32], d: Dims, steps: usize, reverse: bool) -> Vec<f32> {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let mut h_prev = vec![0.0; batch * time * hidden];
    let order = d.order(reverse);
    for b in 0..batch {
        for (s, &t) in order.iter().enumerate() {
            let from = match s {
                0 => &h0[b * hidden..(b + 1) * hidden],
                _ => {
                    let at = (b * steps + order[s - 1]) * hidden;
                    &out[at..at + hidden]
                }
            };
            let st = (b * time + t) * hidden;
            h_prev[st..st + hidden].copy_from_slice(from);
        }
    }
    h_prev
}

/// Whether the initial hidden state is all zeros, so that the first step's recurrent product
/// can be skipped: it would add zeros (`+0`) to the gates, which changes at most the sign of a
/// zero gate, and the sigmoid and tanh of either zero are the same (a classifier's sequences and
/// a language model's first chunk start so; 1/28 of the LSTM reference model's products).
pub(super) fn starts_at_zero(h0: &[f32]) -> bool {
    h0.iter().all(|&v| v == 0.0)
}

/// The forward output and initial state of one call, which the backward pass reads again.
#[derive(Debug, Clone, Copy)]
pub struct Forward<'a> {
    /// The forward output, as the forward kernel returned it.
    pub out: &'a [f32],
    /// The initial hidden state `[batch, hidden]`.
    pub h0: &'a [f32],
}

/// Column sums of a dense `rows x cols` matrix.
pub fn column_sums(data: &[f32], cols: usize) -> Vec<f32> {
    let mut sums = vec![0.0; cols];
    for row in data.chunks_exact(cols) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    sums
}

/// What the LSTM forward pass keeps for its backward pass (besides the gate activations and its
/// output). The `tanh` of each cell state is computed again in the backward pass (the same
/// function on the same values, so the same bits) rather than kept, and the previous hidden
/// states are read from the output: 15 MB less each for the character model.
#[derive(Debug, Clone)]
pub struct LstmTape {
    /// Cell state after each step, `[batch, time, hidden]`.
    cells: Vec<f32>,
    /// The initial cell state, `[batch, hidden]`.
    c0: Vec<f32>,
}

/// LSTM forward: turns `acts`, the input projection, into the gate activations `(i, f, g, o)`
/// in place, and returns `[batch, time + 1, hidden]` (the hidden state after every step, then
/// the final cell state) and the tape, which is empty unless `keep` (a forward pass alone
/// keeps nothing for a backward pass).
pub fn lstm_forward(
    acts: &mut [f32],
    w: &[f32],
    h0: &[f32],
    c0: &[f32],
    d: Dims,
    reverse: bool,
    keep: bool,
) -> (Vec<f32>, LstmTape) {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let g4 = 4 * hidden;
    let tape_len = if keep { batch * time * hidden } else { 0 };
    let mut cells = vec![0.0; tape_len];
    let mut out = vec![0.0; batch * (time + 1) * hidden];
    let mut h = h0.to_vec();
    let mut c = c0.to_vec();
    let tiles = (batch * time >= MIN_ROW_STEPS)
        .then(|| PackedGates::new(w, hidden, hidden))
        .flatten();
    // With the tiles, each block of rows runs its cell step right after its product.
    let blocks: Vec<Vec<Range<usize>>> = match &tiles {
        Some(tiles) => tiles.row_blocks(batch),
        None => vec![vec![0..batch]],
    };
    let zero_start = starts_at_zero(h0);
    for (s, t) in d.order(reverse).into_iter().enumerate() {
        for block in &blocks {
            match &tiles {
                _ if s == 0 && zero_start => {}
                Some(tiles) => {
                    tiles.add_products(&mut acts[t * g4..], time * g4, &h, hidden, block)
                }
                None => step_product(acts, &h, w, t, d, g4),
            }
            for b in block[0].start..block[block.len() - 1].end {
                let at = (b * time + t) * g4;
                let st = (b * time + t) * hidden;
                let hb = b * hidden;
                let ot = (b * (time + 1) + t) * hidden;
                lstm_cell_row(
                    &mut acts[at..at + g4],
                    &mut c[hb..hb + hidden],
                    keep.then(|| &mut cells[st..st + hidden]),
                    &mut h[hb..hb + hidden],
                    &mut out[ot..ot + hidden],
                );
            }
        }
    }
    for b in 0..batch {
        let ot = (b * (time + 1) + time) * hidden;
        out[ot..ot + hidden].copy_from_slice(&c[b * hidden..(b + 1) * hidden]);
    }
    let c0 = if keep { c0.to_vec() } else { Vec::new() };
    let tape = LstmTape { cells, c0 };
    (out, tape)
}

/// Gradients of one fused call: input projection, recurrent weight, optional recurrent bias and
/// the initial states.
#[derive(Debug)]
pub struct Grads {
    /// `d xp`, shaped like `xp`.
    pub xp: Vec<f32>,
    /// `d w`, shaped like `w`.
    pub w: Vec<f32>,
    /// `d b` of the recurrent bias (GRU only).
    pub bias: Option<Vec<f32>>,
    /// `d h0`.
    pub h0: Vec<f32>,
    /// `d c0` (LSTM only).
    pub c0: Option<Vec<f32>>,
}

/// LSTM backward from `dout`, the gradient of the forward output `[batch, time + 1, hidden]`,
/// the gate activations `acts` of the forward pass and `h0`. The hidden state before each step
/// is computed again from the previous step's output gate and cell state (the same operations
/// on the same values as the forward pass, so the same bits) rather than read from the
/// forward output: the layer's output need not outlive its forward pass (16 MB for the
/// character model, alive through the output layer's backward pass otherwise).
pub fn lstm_backward(
    dout: &[f32],
    h0: &[f32],
    w: &[f32],
    acts: Vec<f32>,
    tape: LstmTape,
    d: Dims,
    reverse: bool,
) -> Grads {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let g4 = 4 * hidden;
    let w_t = transpose(w, hidden, g4);
    // The gate gradients overwrite the gate activations, step by step (each step's activations
    // are read only to compute that step's gradients, and the hidden state before it, from
    // the previous step's, before those are overwritten): one buffer of
    // `[batch, time, 4 hidden]` instead of two (59 MB for the character model).
    let mut dg = acts;
    let mut h_prev = vec![0.0; batch * time * hidden];
    let mut dh = vec![0.0; batch * hidden];
    let mut dc = vec![0.0; batch * hidden];
    for b in 0..batch {
        let ot = (b * (time + 1) + time) * hidden;
        dc[b * hidden..(b + 1) * hidden].copy_from_slice(&dout[ot..ot + hidden]);
    }
    let order = d.order(reverse);
    for (s, &t) in order.iter().enumerate().rev() {
        for b in 0..batch {
            let at = (b * time + t) * g4;
            let st = (b * time + t) * hidden;
            let ot = (b * (time + 1) + t) * hidden;
            let hb = b * hidden;
            let h_before = &mut h_prev[st..st + hidden];
            let c_prev = match s {
                0 => {
                    h_before.copy_from_slice(&h0[hb..hb + hidden]);
                    &tape.c0[hb..hb + hidden]
                }
                _ => {
                    let prev = (b * time + order[s - 1]) * hidden;
                    let o_prev = (b * time + order[s - 1]) * g4 + 3 * hidden;
                    let c_prev = &tape.cells[prev..prev + hidden];
                    lstm_hidden_row(&dg[o_prev..o_prev + hidden], c_prev, h_before);
                    c_prev
                }
            };
            lstm_cell_grad_row(
                &mut dg[at..at + g4],
                &tape.cells[st..st + hidden],
                c_prev,
                &dout[ot..ot + hidden],
                &dh[hb..hb + hidden],
                &mut dc[hb..hb + hidden],
            );
        }
        back_through_weight(&mut dh, &dg, &w_t, t, d, g4, false);
    }
    drop(tape);
    let dw = weight_grad(&h_prev, &dg, hidden, g4);
    Grads {
        xp: dg,
        w: dw,
        bias: None,
        h0: dh,
        c0: Some(dc),
    }
}

/// What the GRU forward pass keeps for its backward pass (besides the gate activations).
#[derive(Debug, Clone)]
pub struct GruTape {
    /// The new gate's hidden part `w_n · h + b_n` before the reset, `[batch, time, hidden]`.
    hidden_new: Vec<f32>,
}

/// GRU forward (reset applied after the matmul, as PyTorch and Burn):
/// `r = σ(x_r + h w_r + b_r)`, `z = σ(x_z + h w_z + b_z)`, `n = tanh(x_n + r ⊙ (h w_n + b_n))`,
/// `h' = (1 - z) ⊙ n + z ⊙ h`. Turns `acts`, the input projection, into the gate activations
/// `(r, z, n)` in place; returns every hidden state `[batch, time, hidden]` and the tape.
pub fn gru_forward(
    acts: &mut [f32],
    w: &[f32],
    bias: &[f32],
    h0: &[f32],
    d: Dims,
    reverse: bool,
    keep: bool,
) -> (Vec<f32>, GruTape) {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let g3 = 3 * hidden;
    let tape_len = if keep { batch * time * hidden } else { 0 };
    let mut hidden_new = vec![0.0; tape_len];
    let mut out = vec![0.0; batch * time * hidden];
    let mut projected = vec![0.0; batch * g3];
    let mut h = h0.to_vec();
    for t in d.order(reverse) {
        matmul_unpacked(
            &mut projected,
            g3,
            View::dense(&h, hidden),
            View::dense(w, g3),
            batch,
            hidden,
            g3,
            false,
        );
        for b in 0..batch {
            let at = (b * time + t) * g3;
            let st = (b * time + t) * hidden;
            let hb = b * hidden;
            let p = &mut projected[b * g3..(b + 1) * g3];
            gru_cell_row(
                &mut acts[at..at + g3],
                p,
                bias,
                &mut h[hb..hb + hidden],
                &mut out[st..st + hidden],
            );
            if keep {
                hidden_new[st..st + hidden].copy_from_slice(&p[2 * hidden..]);
            }
        }
    }
    let tape = GruTape { hidden_new };
    (out, tape)
}

/// GRU backward from `dout`, the gradient of every hidden state `[batch, time, hidden]`, and
/// the gate activations `acts` of the forward pass.
pub fn gru_backward(
    dout: &[f32],
    forward: Forward,
    w: &[f32],
    acts: &[f32],
    tape: &GruTape,
    d: Dims,
    reverse: bool,
) -> Grads {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let g3 = 3 * hidden;
    let w_t = transpose(w, hidden, g3);
    let h_prev = previous_states(forward.out, forward.h0, d, time, reverse);
    let mut dxp = vec![0.0; batch * time * g3];
    let mut dp = vec![0.0; batch * time * g3];
    let mut dh = vec![0.0; batch * hidden];
    for &t in d.order(reverse).iter().rev() {
        for b in 0..batch {
            let at = (b * time + t) * g3;
            let st = (b * time + t) * hidden;
            let hb = b * hidden;
            gru_cell_grad_row(
                &acts[at..at + g3],
                &dout[st..st + hidden],
                &h_prev[st..st + hidden],
                &tape.hidden_new[st..st + hidden],
                &mut dxp[at..at + g3],
                &mut dp[at..at + g3],
                &mut dh[hb..hb + hidden],
            );
        }
        back_through_weight(&mut dh, &dp, &w_t, t, d, g3, true);
    }
    let dw = weight_grad(&h_prev, &dp, hidden, g3);
    let bias = Some(column_sums(&dp, g3));
    Grads {
        xp: dxp,
        w: dw,
        bias,
        h0: dh,
        c0: None,
    }
}

/// Elman forward: `h' = f(x + h · w)` with `f` tanh or relu. Turns `acts`, the input
/// projection, into every hidden state `[batch, time, hidden]` in place: the layer's output,
/// and all its backward pass needs.
pub fn elman_forward(acts: &mut [f32], w: &[f32], h0: &[f32], d: Dims, relu: bool, reverse: bool) {
    let Dims { batch, hidden, .. } = d;
    let mut h = h0.to_vec();
    for t in d.order(reverse) {
        step_product(acts, &h, w, t, d, hidden);
        for b in 0..batch {
            let st = (b * d.time + t) * hidden;
            let hb = b * hidden;
            let row = &mut acts[st..st + hidden];
            if relu {
                for a in row.iter_mut() {
                    *a = a.max(0.0);
                }
            } else {
                tanh_in_place(row);
            }
            h[hb..hb + hidden].copy_from_slice(row);
        }
    }
}

/// Elman backward from `dout`, the gradient of every hidden state `[batch, time, hidden]`, and
/// the forward pass, whose output is those hidden states.
pub fn elman_backward(
    dout: &[f32],
    forward: Forward,
    w: &[f32],
    d: Dims,
    relu: bool,
    reverse: bool,
) -> Grads {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let w_t = transpose(w, hidden, hidden);
    let acts = forward.out;
    let mut da = vec![0.0; batch * time * hidden];
    let mut dh = vec![0.0; batch * hidden];
    for &t in d.order(reverse).iter().rev() {
        for b in 0..batch {
            let st = (b * time + t) * hidden;
            let hb = b * hidden;
            for j in 0..hidden {
                let y = acts[st + j];
                let slope = if relu {
                    if y > 0.0 { 1.0 } else { 0.0 }
                } else {
                    1.0 - y * y
                };
                da[st + j] = (dout[st + j] + dh[hb + j]) * slope;
            }
        }
        back_through_weight(&mut dh, &da, &w_t, t, d, hidden, false);
    }
    let h_prev = previous_states(forward.out, forward.h0, d, time, reverse);
    let dw = weight_grad(&h_prev, &da, hidden, hidden);
    Grads {
        xp: da,
        w: dw,
        bias: None,
        h0: dh,
        c0: None,
    }
}

#[cfg(test)]
mod tests {
    use super::transpose;

    #[test]
    fn transpose_swaps_rows_and_columns_of_any_shape() {
        for (rows, cols) in [(1, 1), (3, 70), (33, 5), (64, 96)] {
            let data: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transpose(&data, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        t[c * rows + r],
                        data[r * cols + c],
                        "{rows}x{cols} at ({r}, {c})"
                    );
                }
            }
        }
    }
}
