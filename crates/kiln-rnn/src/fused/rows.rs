//! The element-wise work of one time step for one sequence, in one pass over its hidden units,
//! compiled for the widest vector unit the CPU has (AVX-512 with the crate's `avx512` feature,
//! else AVX2 with FMA, else the baseline), chosen at run time (`kiln_kernels::widest!`).
//!
//! Each function performs the same operations in the same order as the scalar formulas beside
//! it (Rust never fuses a multiply and an add on its own), so its values do not depend on the
//! width it runs at: trained weights are the same on every path.

use kiln_kernels::widest;

use super::math::{sigmoid, tanh};

widest! {
    /// One LSTM step: `gates` (the `4 hidden` pre-activations `i, f, g, o`) become the gate
    /// activations in place, the cell state `c` becomes `f c + i g` (also written to `cells`
    /// when given), and `h` and `out` get `o tanh(c)`.
    pub fn lstm_cell_row(
        gates: &mut [f32],
        c: &mut [f32],
        cells: Option<&mut [f32]>,
        h: &mut [f32],
        out: &mut [f32],
    ) {
        let hidden = c.len();
        let (i_gate, rest) = gates.split_at_mut(hidden);
        let (f_gate, rest) = rest.split_at_mut(hidden);
        let (g_gate, o_gate) = rest.split_at_mut(hidden);
        let (o_gate, h, out) = (&mut o_gate[..hidden], &mut h[..hidden], &mut out[..hidden]);
        for j in 0..hidden {
            let (i, f) = (sigmoid(i_gate[j]), sigmoid(f_gate[j]));
            let (g, o) = (tanh(g_gate[j]), sigmoid(o_gate[j]));
            i_gate[j] = i;
            f_gate[j] = f;
            g_gate[j] = g;
            o_gate[j] = o;
            let cell = f * c[j] + i * g;
            c[j] = cell;
            let value = o * tanh(cell);
            h[j] = value;
            out[j] = value;
        }
        if let Some(cells) = cells {
            cells[..hidden].copy_from_slice(c);
        }
    }
}

widest! {
    /// An LSTM step's hidden state `o tanh(cell)` again from its output gate activation `o`
    /// and cell state: the same operations as [`lstm_cell_row`], so the same bits.
    pub fn lstm_hidden_row(o: &[f32], cell: &[f32], h: &mut [f32]) {
        let hidden = h.len();
        let (o, cell) = (&o[..hidden], &cell[..hidden]);
        for j in 0..hidden {
            h[j] = o[j] * tanh(cell[j]);
        }
    }
}

widest! {
    /// One LSTM step backwards: `grad` holds the step's gate activations `i, f, g, o` and
    /// becomes their pre-activations' gradients; `cell` and `c_prev` are the cell state after and
    /// before the step, `dout` the gradient of the step's output and `dh` that reaching its
    /// hidden state from the next step; `dc`, the cell state's gradient from the next step,
    /// becomes the one reaching the previous step.
    pub fn lstm_cell_grad_row(
        grad: &mut [f32],
        cell: &[f32],
        c_prev: &[f32],
        dout: &[f32],
        dh: &[f32],
        dc: &mut [f32],
    ) {
        let hidden = dc.len();
        let (i_grad, rest) = grad.split_at_mut(hidden);
        let (f_grad, rest) = rest.split_at_mut(hidden);
        let (g_grad, o_grad) = rest.split_at_mut(hidden);
        let o_grad = &mut o_grad[..hidden];
        let (cell, c_prev) = (&cell[..hidden], &c_prev[..hidden]);
        let (dout, dh) = (&dout[..hidden], &dh[..hidden]);
        for j in 0..hidden {
            let (i, f) = (i_grad[j], f_grad[j]);
            let (g, o) = (g_grad[j], o_grad[j]);
            let tc = tanh(cell[j]);
            let dh_total = dout[j] + dh[j];
            let dc_total = dc[j] + dh_total * o * (1.0 - tc * tc);
            i_grad[j] = dc_total * g * i * (1.0 - i);
            f_grad[j] = dc_total * c_prev[j] * f * (1.0 - f);
            g_grad[j] = dc_total * i * (1.0 - g * g);
            o_grad[j] = dh_total * tc * o * (1.0 - o);
            dc[j] = dc_total * f;
        }
    }
}

widest! {
    /// One GRU step: with `p = projected + bias` (`projected` the `3 hidden` recurrent products
    /// `h w_r, h w_z, h w_n`), `gates` (the input projections `x_r, x_z, x_n`) become the gate
    /// activations `r = σ(x_r + p_r)`, `z = σ(x_z + p_z)`, `n = tanh(x_n + r p_n)`; `h` and
    /// `out` get `(1 - z) n + z h`; `projected`'s last third becomes `p_n` (which the backward
    /// pass keeps).
    pub fn gru_cell_row(
        gates: &mut [f32],
        projected: &mut [f32],
        bias: &[f32],
        h: &mut [f32],
        out: &mut [f32],
    ) {
        let hidden = h.len();
        let (r_gate, rest) = gates.split_at_mut(hidden);
        let (z_gate, n_gate) = rest.split_at_mut(hidden);
        let n_gate = &mut n_gate[..hidden];
        let (r_proj, rest) = projected.split_at_mut(hidden);
        let (z_proj, n_proj) = rest.split_at_mut(hidden);
        let n_proj = &mut n_proj[..hidden];
        let (r_bias, rest) = bias.split_at(hidden);
        let (z_bias, n_bias) = rest.split_at(hidden);
        let (n_bias, out) = (&n_bias[..hidden], &mut out[..hidden]);
        for j in 0..hidden {
            let (pr, pz) = (r_proj[j] + r_bias[j], z_proj[j] + z_bias[j]);
            let pn = n_proj[j] + n_bias[j];
            n_proj[j] = pn;
            let r = sigmoid(r_gate[j] + pr);
            let z = sigmoid(z_gate[j] + pz);
            let n = tanh(n_gate[j] + r * pn);
            r_gate[j] = r;
            z_gate[j] = z;
            n_gate[j] = n;
            let value = (1.0 - z) * n + z * h[j];
            h[j] = value;
            out[j] = value;
        }
    }
}

widest! {
    /// One GRU step backwards: from the gate activations `act` (`r, z, n`), the step's output
    /// gradient `dout`, the previous hidden state `h_prev` and the kept `hidden_new` (`h w_n +
    /// b_n`), writes the pre-activations' gradients to `dxp` and the recurrent products' to
    /// `dp`; `dh`, the hidden state's gradient from the next step, becomes its part of the one
    /// reaching the previous step (the recurrent weight's part is added later).
    pub fn gru_cell_grad_row(
        act: &[f32],
        dout: &[f32],
        h_prev: &[f32],
        hidden_new: &[f32],
        dxp: &mut [f32],
        dp: &mut [f32],
        dh: &mut [f32],
    ) {
        let hidden = dh.len();
        let (r_act, rest) = act.split_at(hidden);
        let (z_act, n_act) = rest.split_at(hidden);
        let n_act = &n_act[..hidden];
        let (dout, h_prev) = (&dout[..hidden], &h_prev[..hidden]);
        let hidden_new = &hidden_new[..hidden];
        let (dxr, rest) = dxp.split_at_mut(hidden);
        let (dxz, dxn) = rest.split_at_mut(hidden);
        let dxn = &mut dxn[..hidden];
        let (dpr, rest) = dp.split_at_mut(hidden);
        let (dpz, dpn) = rest.split_at_mut(hidden);
        let dpn = &mut dpn[..hidden];
        for j in 0..hidden {
            let (r, z, n) = (r_act[j], z_act[j], n_act[j]);
            let dh_total = dout[j] + dh[j];
            let dn = dh_total * (1.0 - z) * (1.0 - n * n);
            let dz = dh_total * (h_prev[j] - n) * z * (1.0 - z);
            let dr = dn * hidden_new[j] * r * (1.0 - r);
            dxr[j] = dr;
            dxz[j] = dz;
            dxn[j] = dn;
            dpr[j] = dr;
            dpz[j] = dz;
            dpn[j] = dn * r;
            dh[j] = dh_total * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::math::tanh_in_place;
    use super::*;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn wave(len: usize, step: f32, scale: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * step).sin() * scale).collect()
    }

    /// [`sigmoid`] of every value, in place (the pass per gate the kernels made before).
    fn sigmoid_in_place(values: &mut [f32]) {
        for v in values.iter_mut() {
            *v = sigmoid(*v);
        }
    }

    /// 37 units: whole vectors and a remainder at every width.
    const HIDDEN: usize = 37;

    #[test]
    fn the_one_pass_lstm_step_equals_a_pass_per_gate_bit_for_bit() {
        let hidden = HIDDEN;
        let gates: Vec<f32> = (0..4 * hidden)
            .map(|i| (i as f32 * 0.61).sin() * 6.0)
            .collect();
        let c0: Vec<f32> = (0..hidden).map(|i| (i as f32 * 0.37).cos() * 2.0).collect();
        // A pass per gate, as the kernel did before.
        let mut expected = gates.clone();
        sigmoid_in_place(&mut expected[..2 * hidden]);
        tanh_in_place(&mut expected[2 * hidden..3 * hidden]);
        sigmoid_in_place(&mut expected[3 * hidden..]);
        let mut c_expected = c0.clone();
        for j in 0..hidden {
            c_expected[j] =
                expected[hidden + j] * c_expected[j] + expected[j] * expected[2 * hidden + j];
        }
        let mut tc = c_expected.clone();
        tanh_in_place(&mut tc);
        let h_expected: Vec<f32> = (0..hidden)
            .map(|j| expected[3 * hidden + j] * tc[j])
            .collect();
        // One pass.
        let (mut row, mut c) = (gates.clone(), c0.clone());
        let (mut cells, mut h, mut out) = (vec![0.0; hidden], vec![0.0; hidden], vec![0.0; hidden]);
        lstm_cell_row(&mut row, &mut c, Some(&mut cells), &mut h, &mut out);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&row), bits(&expected), "gate activations");
        assert_eq!(bits(&c), bits(&c_expected), "cell state");
        assert_eq!(bits(&cells), bits(&c_expected), "kept cell state");
        assert_eq!(bits(&h), bits(&h_expected), "hidden state");
        assert_eq!(bits(&out), bits(&h_expected), "output");
        // The backward pass's hidden state, again from the output gate and the cell state.
        let mut again = vec![f32::NAN; hidden];
        lstm_hidden_row(&row[3 * hidden..], &cells, &mut again);
        assert_eq!(
            bits(&again),
            bits(&h_expected),
            "hidden state computed again"
        );
    }

    #[test]
    fn the_one_pass_gru_step_and_gradient_equal_the_per_gate_passes_bit_for_bit() {
        let hidden = HIDDEN;
        let gates = wave(3 * hidden, 0.53, 3.0);
        let projected = wave(3 * hidden, 0.37, 2.0);
        let bias = wave(3 * hidden, 0.11, 0.3);
        let h0 = wave(hidden, 0.19, 0.9);
        // The passes the kernel made before.
        let mut p = projected.clone();
        for (p, b) in p.iter_mut().zip(&bias) {
            *p += b;
        }
        let mut row = gates.clone();
        for j in 0..2 * hidden {
            row[j] += p[j];
        }
        sigmoid_in_place(&mut row[..2 * hidden]);
        for j in 0..hidden {
            row[2 * hidden + j] += row[j] * p[2 * hidden + j];
        }
        tanh_in_place(&mut row[2 * hidden..]);
        let h_expected: Vec<f32> = (0..hidden)
            .map(|j| (1.0 - row[hidden + j]) * row[2 * hidden + j] + row[hidden + j] * h0[j])
            .collect();
        let (mut g, mut proj, mut h, mut out) = (gates, projected, h0.clone(), vec![0.0; hidden]);
        gru_cell_row(&mut g, &mut proj, &bias, &mut h, &mut out);
        assert_eq!(bits(&g), bits(&row), "gate activations");
        assert_eq!(
            bits(&proj[2 * hidden..]),
            bits(&p[2 * hidden..]),
            "kept n product"
        );
        assert_eq!(bits(&h), bits(&h_expected), "hidden state");
        assert_eq!(bits(&out), bits(&h_expected), "output");
        // Backwards from those activations.
        let (dout, dh0) = (wave(hidden, 0.71, 1.0), wave(hidden, 0.23, 0.5));
        let hidden_new = &p[2 * hidden..];
        let (mut dxp_e, mut dp_e, mut dh_e) =
            (vec![0.0; 3 * hidden], vec![0.0; 3 * hidden], dh0.clone());
        for j in 0..hidden {
            let (r, z, n) = (row[j], row[hidden + j], row[2 * hidden + j]);
            let dh_total = dout[j] + dh_e[j];
            let dn = dh_total * (1.0 - z) * (1.0 - n * n);
            let dz = dh_total * (h0[j] - n) * z * (1.0 - z);
            let dr = dn * hidden_new[j] * r * (1.0 - r);
            (dxp_e[j], dxp_e[hidden + j], dxp_e[2 * hidden + j]) = (dr, dz, dn);
            (dp_e[j], dp_e[hidden + j], dp_e[2 * hidden + j]) = (dr, dz, dn * r);
            dh_e[j] = dh_total * z;
        }
        let (mut dxp, mut dp, mut dh) = (vec![0.0; 3 * hidden], vec![0.0; 3 * hidden], dh0);
        gru_cell_grad_row(&row, &dout, &h0, hidden_new, &mut dxp, &mut dp, &mut dh);
        assert_eq!(bits(&dxp), bits(&dxp_e), "pre-activation gradients");
        assert_eq!(bits(&dp), bits(&dp_e), "product gradients");
        assert_eq!(bits(&dh), bits(&dh_e), "hidden gradient");
    }

    #[test]
    fn the_one_pass_lstm_gradient_equals_the_per_unit_formulas_bit_for_bit() {
        let hidden = HIDDEN;
        let acts = wave(4 * hidden, 0.43, 0.49);
        let acts: Vec<f32> = acts.iter().map(|v| v + 0.5).collect();
        let (cell, c_prev) = (wave(hidden, 0.29, 2.0), wave(hidden, 0.17, 1.5));
        let (dout, dh, dc0) = (
            wave(hidden, 0.71, 1.0),
            wave(hidden, 0.23, 0.5),
            wave(hidden, 0.31, 0.7),
        );
        let mut tanh_cell = cell.clone();
        tanh_in_place(&mut tanh_cell);
        let mut expected = acts.clone();
        let mut dc_expected = dc0.clone();
        for j in 0..hidden {
            let (i, f) = (expected[j], expected[hidden + j]);
            let (g, o) = (expected[2 * hidden + j], expected[3 * hidden + j]);
            let tc = tanh_cell[j];
            let dh_total = dout[j] + dh[j];
            let dc_total = dc_expected[j] + dh_total * o * (1.0 - tc * tc);
            expected[j] = dc_total * g * i * (1.0 - i);
            expected[hidden + j] = dc_total * c_prev[j] * f * (1.0 - f);
            expected[2 * hidden + j] = dc_total * i * (1.0 - g * g);
            expected[3 * hidden + j] = dh_total * tc * o * (1.0 - o);
            dc_expected[j] = dc_total * f;
        }
        let (mut grad, mut dc) = (acts, dc0);
        lstm_cell_grad_row(&mut grad, &cell, &c_prev, &dout, &dh, &mut dc);
        assert_eq!(bits(&grad), bits(&expected), "gate gradients");
        assert_eq!(bits(&dc), bits(&dc_expected), "cell gradient");
    }
}
