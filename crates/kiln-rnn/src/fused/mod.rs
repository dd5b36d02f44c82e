//! Fused recurrent sequences: the whole time loop of an LSTM, GRU or Elman layer as one
//! operation with a hand-written backward pass.
//!
//! On the CPU backends (flex, ndarray) one call runs the recurrence on host memory with
//! vectorised activations and Burn's own `gemm` (an LSTM's gates in register tiles where the
//! CPU has AVX2 or AVX-512, with gemm's sums bit for bit: `gate_tiles`), and its backward pass
//! reuses the activations of the forward pass instead of recomputing them. An LSTM whose input is
//! a token embedding ([`lstm_tokens`]) computes each token's input projection once and looks it
//! up at every step, in training and inference. Half-precision inputs are computed in f32
//! inside the kernel and returned in their own type. Other backends (wgpu) get the same maths
//! composed from Burn's tensor operations.

mod composed;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
mod gate_tiles;
mod kernels;
mod lstm_inference;
mod math;
mod rows;
#[cfg(all(test, feature = "flex"))]
mod tests;

use burn::prelude::*;

pub use composed::sequence as composed_sequence;

/// Which fused cell a call runs, with its switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// LSTM: 4 gates `(i, f, g, o)`, a cell state, output `[batch, time + 1, hidden]`.
    Lstm,
    /// GRU: 3 gates `(r, z, n)` and a recurrent bias.
    Gru,
    /// Elman with tanh (`relu = false`) or relu.
    Elman {
        /// Rectified linear instead of tanh.
        relu: bool,
    },
}

/// The tensors of one recurrent layer over a sequence: its input `x` `[batch, time, features]`
/// with the input weight `w_in` `[features, gates * hidden]` and bias `b_in` `[gates * hidden]`
/// (projected inside the operation: `x · w_in + b_in`), the recurrent weight `w`
/// `[hidden, gates * hidden]` (right-multiplied: `h · w`), the recurrent `bias`
/// `[gates * hidden]` of a GRU, the initial state `h0` `[batch, hidden]` and the initial cell `c0`
/// of an LSTM.
#[derive(Debug, Clone)]
pub struct SequenceInput {
    /// The layer's input, `[batch, time, features]`.
    pub x: Tensor<3>,
    /// Input weight, `[features, gates * hidden]`.
    pub w_in: Tensor<2>,
    /// Input bias, `[gates * hidden]` (an LSTM's two biases summed).
    pub b_in: Tensor<1>,
    /// Recurrent weight, `[hidden, gates * hidden]`.
    pub w: Tensor<2>,
    /// Recurrent bias of a GRU, `[gates * hidden]`.
    pub bias: Option<Tensor<1>>,
    /// Initial hidden state, `[batch, hidden]`.
    pub h0: Tensor<2>,
    /// Initial cell state of an LSTM, `[batch, hidden]`.
    pub c0: Option<Tensor<2>>,
}

/// An LSTM layer whose input is token ids with the embedding whose rows they select: its
/// weights and initial state as in [`SequenceInput`], whose `x` is `embedding[tokens]`.
#[derive(Debug, Clone)]
pub struct TokenSequenceInput {
    /// Token ids, `[batch, time]`.
    pub tokens: Tensor<2, Int>,
    /// The embedding, `[vocabulary, features]`.
    pub embedding: Tensor<2>,
    /// Input weight, `[features, 4 * hidden]`.
    pub w_in: Tensor<2>,
    /// Input bias, `[4 * hidden]` (the two biases summed).
    pub b_in: Tensor<1>,
    /// Recurrent weight, `[hidden, 4 * hidden]`.
    pub w: Tensor<2>,
    /// Initial hidden state, `[batch, hidden]`.
    pub h0: Tensor<2>,
    /// Initial cell state, `[batch, hidden]`.
    pub c0: Tensor<2>,
}

impl TokenSequenceInput {
    /// The same layer with its input embedded: `x = embedding[tokens]`.
    pub fn embedded(self) -> SequenceInput {
        SequenceInput {
            x: burn::tensor::module::embedding(self.embedding, self.tokens),
            w_in: self.w_in,
            b_in: self.b_in,
            w: self.w,
            bias: None,
            h0: self.h0,
            c0: Some(self.c0),
        }
    }
}

pub use kiln_kernels::has_fused_kernel;

/// Runs an LSTM over token ids: [`sequence`] of the embedded tokens (see
/// [`TokenSequenceInput`]), bit for bit. On the CPU backends, where the batch holds at least as
/// many tokens as the vocabulary, each token's input projection is computed once and looked up
/// at every step (the character model's embedding of 64 is a tenth of its LSTM's forward
/// products); on autodiff the gradients are the embedded sequence's.
pub fn lstm_tokens(input: TokenSequenceInput, reverse: bool) -> Tensor<3> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&input.embedding.device()) {
        use burn::backend::Dispatch;
        use extension::FusedRecurrentBackend;
        let TokenSequenceInput {
            tokens,
            embedding,
            w_in,
            b_in,
            w,
            h0,
            c0,
        } = input;
        return Tensor::from_dispatch(<Dispatch as FusedRecurrentBackend>::fused_lstm_tokens(
            tokens.into_dispatch(),
            embedding.into_dispatch(),
            w_in.into_dispatch(),
            b_in.into_dispatch(),
            w.into_dispatch(),
            h0.into_dispatch(),
            c0.into_dispatch(),
            reverse,
        ));
    }
    composed::sequence(Cell::Lstm, input.embedded(), reverse)
}

/// Runs `cell` over `input` (see [`SequenceInput`]). A `reverse` run reads the steps from last
/// to first.
///
/// Returns every hidden state `[batch, time, hidden]` in time order; an LSTM appends its final
/// cell state as step `time`. Uses the fused kernel where the device has one.
///
/// # Panics
/// If a GRU has no bias or an LSTM no `c0`.
pub fn sequence(cell: Cell, input: SequenceInput, reverse: bool) -> Tensor<3> {
    #[cfg(any(feature = "flex", feature = "ndarray"))]
    if has_fused_kernel(&input.x.device()) {
        return fused(cell, input, reverse);
    }
    composed::sequence(cell, input, reverse)
}

#[cfg(any(feature = "flex", feature = "ndarray"))]
fn fused(cell: Cell, input: SequenceInput, reverse: bool) -> Tensor<3> {
    use burn::backend::Dispatch;
    use extension::FusedRecurrentBackend;
    let SequenceInput {
        x,
        w_in,
        b_in,
        w,
        bias,
        h0,
        c0,
    } = input;
    let (x, w_in, b_in) = (
        x.into_dispatch(),
        w_in.into_dispatch(),
        b_in.into_dispatch(),
    );
    let (w, h0) = (w.into_dispatch(), h0.into_dispatch());
    type Fused = Dispatch;
    let out = match cell {
        Cell::Lstm => {
            let c0 = c0.expect("an LSTM needs c0").into_dispatch();
            <Fused as FusedRecurrentBackend>::fused_lstm(x, w_in, b_in, w, h0, c0, reverse)
        }
        Cell::Gru => {
            let bias = bias.expect("a GRU needs its bias").into_dispatch();
            <Fused as FusedRecurrentBackend>::fused_gru(x, w_in, b_in, w, bias, h0, reverse)
        }
        Cell::Elman { relu } => {
            <Fused as FusedRecurrentBackend>::fused_elman(x, w_in, b_in, w, h0, relu, reverse)
        }
    };
    Tensor::from_dispatch(out)
}
