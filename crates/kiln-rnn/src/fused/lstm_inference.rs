//! LSTM inference without a tape: the gates of each step and group of rows are summed in a small
//! buffer and go through the cell step at once, bit for bit the values of
//! [`lstm_forward`](super::kernels::lstm_forward).
//!
//! Each step's input part of the gates, `x_t · w_in + b_in`, is either summed from the layer's
//! input ([`StepSource::Project`]) or, where the input is a token embedding, read from a table
//! holding it for every token of the vocabulary ([`StepSource::Lookup`], [`token_table`]): an
//! embedding row is the same input whichever step reads it, so its projection is the same sum.

use super::gate_tiles::{MIN_ROW_STEPS, PackedGates};
use super::kernels::{Dims, starts_at_zero};
use super::rows::lstm_cell_row;
use std::ops::Range;

/// An LSTM's weights packed for [`lstm_infer`].
#[derive(Debug, Clone)]
pub struct LstmPanels {
    /// The input weight `[features, 4 hidden]`.
    pub w_in: PackedGates,
    /// The recurrent weight `[hidden, 4 hidden]`.
    pub w: PackedGates,
}

impl LstmPanels {
    /// Packs both weights for a call of `d` (`features` per step), or `None` where the tiles do
    /// not run (see [`PackedGates::new`]) or the call is too short to repay the packing.
    pub fn new(w_in: &[f32], w: &[f32], features: usize, d: Dims) -> Option<Self> {
        if d.batch * d.time < MIN_ROW_STEPS {
            return None;
        }
        Some(Self {
            w_in: PackedGates::new(w_in, features, d.hidden)?,
            w: PackedGates::new(w, d.hidden, d.hidden)?,
        })
    }
}

/// Where [`lstm_infer`] reads each step's input part of the gates, `x_t · w_in + b_in`.
#[derive(Debug, Clone, Copy)]
pub enum StepSource<'a> {
    /// Summed at every step from the layer's input `x` `[batch, time, features]`.
    Project {
        /// The layer's input.
        x: &'a [f32],
        /// The packed input weight.
        w_in: &'a PackedGates,
        /// The input bias `[4 hidden]`.
        b_in: &'a [f32],
    },
    /// Row `tokens[b * time + t]` of `table` `[vocabulary, 4 hidden]` (see [`token_table`]).
    Lookup {
        /// Token ids `[batch, time]`, each below the table's row count.
        tokens: &'a [usize],
        /// Every token's `x · w_in + b_in`.
        table: &'a [f32],
    },
}

/// The input part of the gates for every row of `embedding` `[vocabulary, features]`:
/// `embedding[v] · w_in + b_in`, summed and rounded exactly as [`lstm_infer`] sums a step's
/// input (from zero, the product added, then the bias), so that looking a token's row up gives
/// the bits that projecting its embedding would.
pub fn token_table(embedding: &[f32], w_in: &PackedGates, b_in: &[f32]) -> Vec<f32> {
    let (features, g4) = (w_in.inputs(), b_in.len());
    let vocabulary = embedding.len() / features.max(1);
    let mut table = vec![0.0; vocabulary * g4];
    for rows in w_in.row_groups(vocabulary) {
        w_in.add_product(&mut table, g4, embedding, features, rows);
    }
    for row in table.chunks_exact_mut(g4.max(1)) {
        for (g, b) in row.iter_mut().zip(b_in) {
            *g += b;
        }
    }
    table
}

/// Writes the input part of step `t`'s gates for the rows `rows` into `gates` (one `4 hidden`
/// row each).
fn step_inputs(source: StepSource, gates: &mut [f32], rows: &Range<usize>, t: usize, d: Dims) {
    let g4 = 4 * d.hidden;
    match source {
        StepSource::Project { x, w_in, b_in } => {
            let features = w_in.inputs();
            gates.fill(0.0);
            let x_t = &x[(rows.start * d.time + t) * features..];
            w_in.add_product(gates, g4, x_t, d.time * features, 0..rows.len());
            for row in gates.chunks_exact_mut(g4) {
                for (g, b) in row.iter_mut().zip(b_in) {
                    *g += b;
                }
            }
        }
        StepSource::Lookup { tokens, table } => {
            for (row, b) in gates.chunks_exact_mut(g4).zip(rows.clone()) {
                let token = tokens[b * d.time + t];
                row.copy_from_slice(&table[token * g4..(token + 1) * g4]);
            }
        }
    }
}

/// LSTM inference: writes [`lstm_forward`](super::kernels::lstm_forward)'s output into `out`
/// (every value of it), bit for bit, with no tape and no projection of the whole input first.
/// For each step and group of rows, the group's gates are gathered in a small buffer (the
/// step's input part from `source`, then `h · w` added, in the order gemm and `lstm_forward` add
/// them) and go through the cell step at once, so that nothing of `[batch, time, 4 hidden]` is
/// written (7 MB per thread for the LSTM reference model's batch of 256).
pub fn lstm_infer(
    source: StepSource,
    w: &PackedGates,
    h0: &[f32],
    c0: &[f32],
    d: Dims,
    reverse: bool,
    out: &mut [f32],
) {
    let Dims {
        batch,
        time,
        hidden,
    } = d;
    let g4 = 4 * hidden;
    assert_eq!(
        out.len(),
        batch * (time + 1) * hidden,
        "lstm_infer: output size"
    );
    let mut h = h0.to_vec();
    let mut c = c0.to_vec();
    let mut gates = vec![0.0; w.most_rows() * g4];
    let groups: Vec<Range<usize>> = w.row_groups(batch).collect();
    let zero_start = starts_at_zero(h0);
    for (s, t) in d.order(reverse).into_iter().enumerate() {
        for rows in &groups {
            let (first, count) = (rows.start, rows.len());
            let gates = &mut gates[..count * g4];
            step_inputs(source, gates, rows, t, d);
            if s > 0 || !zero_start {
                w.add_product(gates, g4, &h[first * hidden..], hidden, 0..count);
            }
            for (row, b) in gates.chunks_exact_mut(g4).zip(rows.clone()) {
                let hb = b * hidden;
                let ot = (b * (time + 1) + t) * hidden;
                lstm_cell_row(
                    row,
                    &mut c[hb..hb + hidden],
                    None,
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
}
