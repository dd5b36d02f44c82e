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
    let groups: Vec<Range<usize>> = w_in.row_groups(vocabulary).collect();
    w_in.add_products(&mut table, g4, embedding, features, &groups);
    for row in table.chunks_exact_mut(g4.max(1)) {
        for (g, b) in row.iter_mut().zip(b_in) {
            *g += b;
        }
    }
    table
}

/// Writes the input part of step `t`'s gates for the rows of `block` (groups of rows, the first
/// starting at `block[0].start`) into `gates`, one `4 hidden` row each from the block's first.
fn step_inputs(source: StepSource, gates: &mut [f32], block: &[Range<usize>], t: usize, d: Dims) {
    let g4 = 4 * d.hidden;
    let first = block[0].start;
    let rows = first..block[block.len() - 1].end;
    match source {
        StepSource::Project { x, w_in, b_in } => {
            let features = w_in.inputs();
            gates.fill(0.0);
            let x_t = &x[(first * d.time + t) * features..];
            let groups = relative(block, first);
            w_in.add_products(gates, g4, x_t, d.time * features, &groups);
            for row in gates.chunks_exact_mut(g4) {
                for (g, b) in row.iter_mut().zip(b_in) {
                    *g += b;
                }
            }
        }
        StepSource::Lookup { tokens, table } => {
            for (row, b) in gates.chunks_exact_mut(g4).zip(rows) {
                let token = tokens[b * d.time + t];
                row.copy_from_slice(&table[token * g4..(token + 1) * g4]);
            }
        }
    }
}

/// The groups of `block` counted from row `first`.
fn relative(block: &[Range<usize>], first: usize) -> Vec<Range<usize>> {
    block
        .iter()
        .map(|g| g.start - first..g.end - first)
        .collect()
}

/// LSTM inference: writes [`lstm_forward`](super::kernels::lstm_forward)'s output into `out`
/// (every value of it), bit for bit, with no tape and no projection of the whole input first.
/// For each step and block of rows, the block's gates are gathered in a buffer of at most a few
/// hundred KiB (the step's input part from `source`, then `h · w` added, in the order gemm and
/// `lstm_forward` add them) and go through the cell step at once, so that nothing of `[batch,
/// time, 4 hidden]` is written (7 MB per thread for the LSTM reference model's batch of 256).
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
    let blocks = w.row_blocks(batch);
    let most_rows = blocks.iter().map(|b| b[b.len() - 1].end - b[0].start);
    let mut gates = vec![0.0; most_rows.max().unwrap_or(0) * g4];
    let zero_start = starts_at_zero(h0);
    for (s, t) in d.order(reverse).into_iter().enumerate() {
        for block in &blocks {
            let first = block[0].start;
            let rows = first..block[block.len() - 1].end;
            let gates = &mut gates[..rows.len() * g4];
            step_inputs(source, gates, block, t, d);
            if s > 0 || !zero_start {
                let groups = relative(block, first);
                w.add_products(gates, g4, &h[first * hidden..], hidden, &groups);
            }
            for (row, b) in gates.chunks_exact_mut(g4).zip(rows) {
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

#[cfg(test)]
mod tests {
    use super::super::kernels::lstm_forward;
    use super::*;
    use kiln_kernels::matmul::{View, product};

    fn values(len: usize, seed: u32, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32)
            .map(|v| (v / (1u32 << 24) as f32 - 0.5) * scale)
            .collect()
    }

    #[test]
    fn blocks_of_rows_give_the_training_forward_bit_for_bit() {
        // Gates of 576 units: 28 rows a block, so that the batch of 64 runs in three blocks.
        let (batch, time, hidden, features) = (64, 3, 576, 8);
        let d = Dims {
            batch,
            time,
            hidden,
        };
        let g4 = 4 * hidden;
        let x = values(batch * time * features, 1, 2.0);
        let w_in = values(features * g4, 2, 1.0);
        let b_in = values(g4, 3, 1.0);
        let w = values(hidden * g4, 4, 0.2);
        let (h0, c0) = (
            values(batch * hidden, 5, 1.0),
            values(batch * hidden, 6, 1.0),
        );
        let Some(panels) = LstmPanels::new(&w_in, &w, features, d) else {
            eprintln!("skipped: this CPU has no gate tile kernel");
            return;
        };
        assert!(panels.w.row_blocks(batch).len() > 1, "one block");
        let steps = batch * time;
        let x_view = View::dense(&x, features);
        let mut acts = product(x_view, View::dense(&w_in, g4), steps, features, g4);
        for row in acts.chunks_exact_mut(g4) {
            for (a, b) in row.iter_mut().zip(&b_in) {
                *a += b;
            }
        }
        for reverse in [false, true] {
            let (expected, _) = lstm_forward(&mut acts.clone(), &w, &h0, &c0, d, reverse, false);
            let mut out = vec![0.0; batch * (time + 1) * hidden];
            let source = StepSource::Project {
                x: &x,
                w_in: &panels.w_in,
                b_in: &b_in,
            };
            lstm_infer(source, &panels.w, &h0, &c0, d, reverse, &mut out);
            let differ = (out.iter().zip(&expected))
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, 0, "reverse {reverse}: values that differ");
        }
    }
}
