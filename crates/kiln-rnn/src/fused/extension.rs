//! The fused recurrent kernels as a Burn backend extension: a forward implementation for the
//! CPU backends, and for autodiff a hand-written backward pass that reuses the forward
//! activations.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::{Device, FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;

use super::Cell;
use super::kernels::{self, Dims};
use super::lstm_inference::{LstmPanels, StepSource, lstm_infer, token_table};
use kiln_kernels::host::{borrow, read, read_ints, register_gradients, write};
use kiln_kernels::matmul::{View, product};
use kiln_kernels::{add_into, fill_parts, run_parts};

/// Fused recurrent sequences (see [`kernels`]): each takes the layer's input `x`
/// `[batch, time, features]` with its input weight `w_in` `[features, gates * hidden]` and bias
/// `b_in`, and projects it inside the operation.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedRecurrentBackend: Backend {
    /// LSTM over a sequence: `[batch, time + 1, hidden]` (hidden states, then the final cell).
    #[allow(clippy::too_many_arguments)]
    fn fused_lstm(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self>;

    /// LSTM over the embedding rows of token ids `tokens` `[batch, time]` (`embedding`
    /// `[vocabulary, features]`): [`fused_lstm`](Self::fused_lstm) of the embedded tokens, bit
    /// for bit. Where the batch has at least as many tokens as the vocabulary, each token's
    /// input projection is computed once and looked up at every step (on autodiff, with the
    /// embedded sequence's gradients).
    #[allow(clippy::too_many_arguments)]
    fn fused_lstm_tokens(
        tokens: IntTensor<Self>,
        embedding: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self>;

    /// GRU over a sequence: every hidden state `[batch, time, hidden]`.
    #[allow(clippy::too_many_arguments)]
    fn fused_gru(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self>;

    /// Elman network over a sequence: every hidden state `[batch, time, hidden]`.
    #[allow(clippy::too_many_arguments)]
    fn fused_elman(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        relu: bool,
        reverse: bool,
    ) -> FloatTensor<Self>;
}

/// The primitives of one call (`bias` and `c0` only where the cell has them).
#[derive(Debug, Clone)]
struct Primitives<B: Backend> {
    x: FloatTensor<B>,
    w_in: FloatTensor<B>,
    b_in: FloatTensor<B>,
    w: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    h0: FloatTensor<B>,
    c0: Option<FloatTensor<B>>,
}

impl<B: Backend> Primitives<B> {
    /// An LSTM's primitives.
    fn lstm(
        x: FloatTensor<B>,
        w_in: FloatTensor<B>,
        b_in: FloatTensor<B>,
        w: FloatTensor<B>,
        h0: FloatTensor<B>,
        c0: FloatTensor<B>,
    ) -> Self {
        let (bias, c0) = (None, Some(c0));
        Self {
            x,
            w_in,
            b_in,
            w,
            bias,
            h0,
            c0,
        }
    }

    /// A GRU's primitives.
    fn gru(
        x: FloatTensor<B>,
        w_in: FloatTensor<B>,
        b_in: FloatTensor<B>,
        w: FloatTensor<B>,
        bias: FloatTensor<B>,
        h0: FloatTensor<B>,
    ) -> Self {
        let (bias, c0) = (Some(bias), None);
        Self {
            x,
            w_in,
            b_in,
            w,
            bias,
            h0,
            c0,
        }
    }

    /// An Elman network's primitives.
    fn elman(
        x: FloatTensor<B>,
        w_in: FloatTensor<B>,
        b_in: FloatTensor<B>,
        w: FloatTensor<B>,
        h0: FloatTensor<B>,
    ) -> Self {
        let (bias, c0) = (None, None);
        Self {
            x,
            w_in,
            b_in,
            w,
            bias,
            h0,
            c0,
        }
    }
}

/// The host inputs of one call, borrowed from the primitives where the backend allows (the
/// backward pass keeps the primitives, which share their values with the graph, rather than
/// copies: 5.3 MB less for the character model's recurrent weight).
#[derive(Debug, Clone)]
struct Inputs<'a> {
    /// The layer's input `[batch, time, features]`.
    x: Cow<'a, [f32]>,
    /// The input weight `[features, width]`.
    w_in: Cow<'a, [f32]>,
    /// The input bias `[width]`.
    b_in: Cow<'a, [f32]>,
    /// The recurrent weight.
    w: Cow<'a, [f32]>,
    /// The recurrent bias (GRU), else empty.
    bias: Cow<'a, [f32]>,
    /// The initial hidden state.
    h0: Cow<'a, [f32]>,
    /// The initial cell state (LSTM), else empty.
    c0: Cow<'a, [f32]>,
    /// Sizes of the call.
    dims: Dims,
    /// Features per step of `x`.
    features: usize,
    /// Gates times hidden: the width of the projection.
    width: usize,
    /// The dtype of `x`, which the output takes.
    dtype: DType,
    /// The token ids and embedding that `x` was gathered from, where it was.
    tokens: Option<Tokens<'a>>,
}

/// Token ids and the embedding whose rows they select: an LSTM's input given as tokens.
#[derive(Debug, Clone)]
struct Tokens<'a> {
    /// The ids `[batch, time]`, each below the vocabulary.
    ids: Vec<usize>,
    /// The embedding `[vocabulary, features]`.
    embedding: Cow<'a, [f32]>,
}

impl Tokens<'_> {
    /// Whether a table of every token's input projection (rows of `features`) costs no more
    /// than projecting the batch's tokens one by one: no more rows than tokens.
    fn table_pays(&self, features: usize) -> bool {
        self.embedding.len() <= self.ids.len() * features
    }
}

impl<'a> Inputs<'a> {
    /// The primitives' values, borrowed where the backend allows (see [`borrow`]).
    fn borrow<B: Backend>(p: &'a Primitives<B>) -> Self {
        let (dims, features, width) = sizes(p);
        Self {
            x: borrow::<B>(&p.x),
            w_in: borrow::<B>(&p.w_in),
            b_in: borrow::<B>(&p.b_in),
            w: borrow::<B>(&p.w),
            bias: p.bias.as_ref().map(borrow::<B>).unwrap_or_default(),
            h0: borrow::<B>(&p.h0),
            c0: p.c0.as_ref().map(borrow::<B>).unwrap_or_default(),
            dims,
            features,
            width,
            dtype: p.x.dtype(),
            tokens: None,
        }
    }
}

/// The sizes of a call: its dims, features per step and projection width.
fn sizes<B: Backend>(p: &Primitives<B>) -> (Dims, usize, usize) {
    let shape = p.x.shape();
    let dims = Dims {
        batch: shape[0],
        time: shape[1],
        hidden: p.h0.shape()[1],
    };
    (dims, shape[2], p.w_in.shape()[1])
}

/// The forward tape of any cell, for one part of the batch.
#[derive(Debug, Clone)]
enum Tape {
    Lstm(kernels::LstmTape),
    Gru(kernels::GruTape),
    /// An Elman network's output is all its backward pass needs.
    Elman,
}

/// What one part of the batch keeps for the backward pass.
#[derive(Debug, Clone)]
struct Part {
    /// The batch rows of the part.
    rows: Range<usize>,
    /// Its gate activations `[rows, time, width]` (none for an Elman network).
    acts: Vec<f32>,
    /// The rest of its cell's tape.
    tape: Tape,
}

/// Below this many multiply-adds per part, splitting the batch costs more than it saves.
const MIN_PART_WORK: usize = 64 * 64 * 64;

/// The batch rows each thread takes (sequences in a batch are independent, so each part runs
/// its whole time loop without waiting for the others).
fn parts(d: Dims) -> Vec<Range<usize>> {
    kiln_kernels::batch_parts(d.batch, d.time * d.hidden * d.hidden, MIN_PART_WORK)
}

/// `x · w_in + b_in` for `count` rows of `x` (`features` values each): `[count, width]`.
fn projection(i: &Inputs, x: &[f32], count: usize) -> Vec<f32> {
    let mut acts = product(
        View::dense(x, i.features),
        View::dense(&i.w_in, i.width),
        count,
        i.features,
        i.width,
    );
    for row in acts.chunks_exact_mut(i.width.max(1)) {
        for (a, b) in row.iter_mut().zip(i.b_in.iter()) {
            *a += b;
        }
    }
    acts
}

/// `x_part · w_in + b_in` for the batch rows `rows`: `[rows, time, width]`. Where the input is
/// given as tokens and `table` holds every token's projection ([`token_projections`]), its rows
/// are copied instead.
fn project(i: &Inputs, table: Option<&[f32]>, rows: &Range<usize>) -> Vec<f32> {
    let steps = rows.len() * i.dims.time;
    if let (Some(table), Some(tokens)) = (table, &i.tokens) {
        let ids = &tokens.ids[rows.start * i.dims.time..rows.end * i.dims.time];
        let mut acts = Vec::with_capacity(steps * i.width);
        for &id in ids {
            acts.extend_from_slice(&table[id * i.width..(id + 1) * i.width]);
        }
        return acts;
    }
    let per_row = i.dims.time * i.features;
    projection(i, &i.x[rows.start * per_row..rows.end * per_row], steps)
}

/// Every token's input projection, `[vocabulary, width]`, where the input is given as tokens
/// and a table costs no more than projecting them one by one: the same products as
/// [`project`]'s, row for row, so the same bits (tested through the training path).
fn token_projections(i: &Inputs) -> Option<Vec<f32>> {
    let tokens = i.tokens.as_ref().filter(|t| t.table_pays(i.features))?;
    let vocabulary = tokens.embedding.len() / i.features.max(1);
    Some(projection(i, &tokens.embedding, vocabulary))
}

/// Projects the input of the batch rows `rows` and runs the forward kernel of `cell` on it,
/// keeping its tape when `keep`.
fn forward_part(
    cell: Cell,
    i: &Inputs,
    table: Option<&[f32]>,
    rows: Range<usize>,
    reverse: bool,
    keep: bool,
) -> (Vec<f32>, Part) {
    let mut acts = project(i, table, &rows);
    let d = Dims {
        batch: rows.len(),
        ..i.dims
    };
    let h = d.hidden;
    let h0 = &i.h0[rows.start * h..rows.end * h];
    let (out, tape) = match cell {
        Cell::Lstm => {
            let c0 = &i.c0[rows.start * h..rows.end * h];
            let (out, tape) = kernels::lstm_forward(&mut acts, &i.w, h0, c0, d, reverse, keep);
            (out, Tape::Lstm(tape))
        }
        Cell::Gru => {
            let (out, tape) = kernels::gru_forward(&mut acts, &i.w, &i.bias, h0, d, reverse, keep);
            (out, Tape::Gru(tape))
        }
        Cell::Elman { relu } => {
            kernels::elman_forward(&mut acts, &i.w, h0, d, relu, reverse);
            (std::mem::take(&mut acts), Tape::Elman)
        }
    };
    if !keep {
        acts = Vec::new();
    }
    (out, Part { rows, acts, tape })
}

/// LSTM inference for the batch rows `rows` into `out`, their rows of the output; each step's
/// input projection read from `table` (every token's, see [`token_table`]) where there is one.
fn infer_lstm_part(
    i: &Inputs,
    panels: &LstmPanels,
    table: Option<&[f32]>,
    rows: &Range<usize>,
    reverse: bool,
    out: &mut [f32],
) {
    let (h, time) = (i.dims.hidden, i.dims.time);
    let d = Dims {
        batch: rows.len(),
        ..i.dims
    };
    let source = match (table, &i.tokens) {
        (Some(table), Some(tokens)) => StepSource::Lookup {
            tokens: &tokens.ids[rows.start * time..rows.end * time],
            table,
        },
        _ => StepSource::Project {
            x: &i.x[rows.start * time * i.features..rows.end * time * i.features],
            w_in: &panels.w_in,
            b_in: &i.b_in,
        },
    };
    let h0 = &i.h0[rows.start * h..rows.end * h];
    let c0 = &i.c0[rows.start * h..rows.end * h];
    lstm_infer(source, &panels.w, h0, c0, d, reverse, out);
}

/// Runs the forward kernel, the batch split across threads: the output values, its shape, and
/// each part's tape (empty unless `keep`).
fn forward(
    cell: Cell,
    inputs: &Inputs,
    reverse: bool,
    keep: bool,
) -> (Vec<f32>, Vec<usize>, Vec<Part>) {
    let d = inputs.dims;
    let steps = if cell == Cell::Lstm {
        d.time + 1
    } else {
        d.time
    };
    let parts = parts(d);
    if let (Cell::Lstm, false) = (cell, keep)
        && let Some(panels) = LstmPanels::new(&inputs.w_in, &inputs.w, inputs.features, d)
    {
        let table = (inputs.tokens.as_ref())
            .filter(|tokens| tokens.table_pays(inputs.features))
            .map(|tokens| token_table(&tokens.embedding, &panels.w_in, &inputs.b_in));
        // Each part writes its rows of the output where they lie (no copy to join them).
        let row = steps * d.hidden;
        let jobs = parts.into_iter().map(|rows| (rows, ())).collect();
        let (out, _) = fill_parts(d.batch * row, row, jobs, |rows, (), out| {
            infer_lstm_part(inputs, &panels, table.as_deref(), rows, reverse, out)
        });
        return (out, vec![d.batch, steps, d.hidden], Vec::new());
    }
    let table = token_projections(inputs);
    let results = run_parts(parts, |rows| {
        forward_part(cell, inputs, table.as_deref(), rows, reverse, keep)
    });
    let mut out = Vec::with_capacity(d.batch * steps * d.hidden);
    let mut tapes = Vec::with_capacity(results.len());
    for (values, part) in results {
        if tapes.is_empty() && out.capacity() == values.len() {
            out = values;
        } else {
            out.extend_from_slice(&values);
        }
        tapes.push(part);
    }
    (out, vec![d.batch, steps, d.hidden], tapes)
}

/// The gradients of one call.
#[derive(Debug)]
struct AllGrads {
    x: Option<Vec<f32>>,
    w_in: Vec<f32>,
    b_in: Vec<f32>,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    h0: Vec<f32>,
    c0: Option<Vec<f32>>,
}

/// The backward pass of one part: the cell's kernel, then through the input projection.
/// `dout` is the gradient of the forward output `out` (both for the whole batch).
fn backward_part(
    cell: Cell,
    dout: &[f32],
    out: &[f32],
    i: &Inputs,
    part: Part,
    reverse: bool,
    want_x: bool,
) -> AllGrads {
    let rows = &part.rows;
    let d = Dims {
        batch: rows.len(),
        ..i.dims
    };
    let per_row = dout.len() / i.dims.batch.max(1);
    let dout = &dout[rows.start * per_row..rows.end * per_row];
    let h = d.hidden;
    let forward = kernels::Forward {
        // (Empty for an LSTM, which keeps no output.)
        out: out
            .get(rows.start * per_row..rows.end * per_row)
            .unwrap_or(&[]),
        h0: &i.h0[rows.start * h..rows.end * h],
    };
    let g = match (cell, part.tape) {
        (Cell::Lstm, Tape::Lstm(t)) => {
            kernels::lstm_backward(dout, forward.h0, &i.w, part.acts, t, d, reverse)
        }
        (Cell::Gru, Tape::Gru(t)) => {
            kernels::gru_backward(dout, forward, &i.w, &part.acts, &t, d, reverse)
        }
        (Cell::Elman { relu }, Tape::Elman) => {
            kernels::elman_backward(dout, forward, &i.w, d, relu, reverse)
        }
        _ => unreachable!("the tape always matches its cell"),
    };
    let x_per_row = d.time * i.features;
    let x = &i.x[rows.start * x_per_row..rows.end * x_per_row];
    let steps = rows.len() * d.time;
    let dacts = &g.xp;
    let w_in = product(
        View::dense_t(x, i.features),
        View::dense(dacts, i.width),
        i.features,
        steps,
        i.width,
    );
    let dx = want_x.then(|| {
        product(
            View::dense(dacts, i.width),
            View::dense_t(&i.w_in, i.width),
            steps,
            i.width,
            i.features,
        )
    });
    AllGrads {
        x: dx,
        w_in,
        b_in: kernels::column_sums(dacts, i.width),
        w: g.w,
        bias: g.bias,
        h0: g.h0,
        c0: g.c0,
    }
}

/// Runs the backward pass part by part (in parallel) and joins the gradients: per-row
/// gradients side by side, weight and bias gradients summed.
fn backward(
    cell: Cell,
    dout: &[f32],
    out: &[f32],
    i: &Inputs,
    parts: Vec<Part>,
    reverse: bool,
    want_x: bool,
) -> AllGrads {
    let run = |part: Part| backward_part(cell, dout, out, i, part, reverse, want_x);
    let mut grads = run_parts(parts, run);
    let mut total = grads.remove(0);
    for g in grads {
        if let (Some(all), Some(x)) = (total.x.as_mut(), g.x.as_ref()) {
            all.extend_from_slice(x);
        }
        add_into(&mut total.w_in, &g.w_in);
        add_into(&mut total.b_in, &g.b_in);
        add_into(&mut total.w, &g.w);
        if let (Some(sum), Some(b)) = (total.bias.as_mut(), g.bias.as_ref()) {
            add_into(sum, b);
        }
        total.h0.extend_from_slice(&g.h0);
        if let (Some(all), Some(c)) = (total.c0.as_mut(), g.c0.as_ref()) {
            all.extend_from_slice(c);
        }
    }
    total
}

/// The forward pass on a CPU backend without autodiff.
fn run<B: Backend>(cell: Cell, p: Primitives<B>, reverse: bool) -> FloatTensor<B> {
    let device = p.x.device();
    let inputs = Inputs::borrow::<B>(&p);
    let (out, shape, _) = forward(cell, &inputs, reverse, false);
    write::<B>(out, shape, inputs.dtype, &device)
}

/// The token ids of `tokens` as indices, each checked against the rows of `embedding`.
///
/// # Panics
/// If an id is negative or not below the embedding's row count.
fn token_ids<B: Backend>(tokens: IntTensor<B>, embedding: &FloatTensor<B>) -> Vec<usize> {
    let vocabulary = embedding.shape()[0];
    read_ints::<B>(tokens)
        .into_iter()
        .map(|id| {
            usize::try_from(id)
                .ok()
                .filter(|&id| id < vocabulary)
                .unwrap_or_else(|| {
                    panic!("token id {id} is outside the embedding's {vocabulary} rows")
                })
        })
        .collect()
}

/// The forward pass of [`FusedRecurrentBackend::fused_lstm_tokens`] on a CPU backend without
/// autodiff: `p.x` is the embedding, gathered here into the layer's input for the paths that
/// read it.
fn run_lstm_tokens<B: Backend>(
    tokens: IntTensor<B>,
    p: Primitives<B>,
    reverse: bool,
) -> FloatTensor<B> {
    let device = p.x.device();
    let ids = token_ids::<B>(tokens.clone(), &p.x);
    let embedding = p.x.clone();
    let p = Primitives {
        x: B::embedding(p.x, tokens),
        ..p
    };
    let mut inputs = Inputs::borrow::<B>(&p);
    inputs.tokens = Some(Tokens {
        ids,
        embedding: borrow::<B>(&embedding),
    });
    let (out, shape, _) = forward(Cell::Lstm, &inputs, reverse, false);
    write::<B>(out, shape, inputs.dtype, &device)
}

macro_rules! cpu_backend {
    ($backend:ty) => {
        impl FusedRecurrentBackend for $backend {
            fn fused_lstm(
                x: FloatTensor<Self>,
                w_in: FloatTensor<Self>,
                b_in: FloatTensor<Self>,
                w: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                c0: FloatTensor<Self>,
                reverse: bool,
            ) -> FloatTensor<Self> {
                let p = Primitives::lstm(x, w_in, b_in, w, h0, c0);
                run::<Self>(Cell::Lstm, p, reverse)
            }

            fn fused_lstm_tokens(
                tokens: IntTensor<Self>,
                embedding: FloatTensor<Self>,
                w_in: FloatTensor<Self>,
                b_in: FloatTensor<Self>,
                w: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                c0: FloatTensor<Self>,
                reverse: bool,
            ) -> FloatTensor<Self> {
                let p = Primitives::lstm(embedding, w_in, b_in, w, h0, c0);
                run_lstm_tokens::<Self>(tokens, p, reverse)
            }

            fn fused_gru(
                x: FloatTensor<Self>,
                w_in: FloatTensor<Self>,
                b_in: FloatTensor<Self>,
                w: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                reverse: bool,
            ) -> FloatTensor<Self> {
                let p = Primitives::gru(x, w_in, b_in, w, bias, h0);
                run::<Self>(Cell::Gru, p, reverse)
            }

            fn fused_elman(
                x: FloatTensor<Self>,
                w_in: FloatTensor<Self>,
                b_in: FloatTensor<Self>,
                w: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                relu: bool,
                reverse: bool,
            ) -> FloatTensor<Self> {
                let p = Primitives::elman(x, w_in, b_in, w, h0);
                run::<Self>(Cell::Elman { relu }, p, reverse)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_backend!(burn::backend::Flex);
#[cfg(feature = "ndarray")]
cpu_backend!(burn::backend::NdArray);

/// What the backward pass needs: the cell, the forward inputs, output and tapes, and where to
/// write.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    cell: Cell,
    reverse: bool,
    primitives: Primitives<B>,
    parts: Arc<Vec<Part>>,
    /// dtypes of `x`, `w_in`, `b_in`, `w`, `bias`, `h0`, `c0` (the gradients are written in
    /// them).
    dtypes: [DType; 7],
    /// The forward output (shared with the graph, not copied: the Elman and GRU backward
    /// passes read the previous hidden states from it; the LSTM's computes them again, so
    /// that its output need not be kept).
    output: Option<FloatTensor<B>>,
    device: Device<B>,
}

/// The hand-written backward pass of a fused call.
#[derive(Debug)]
struct FusedBackward;

impl<B: Backend> Backward<B, 7> for FusedBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let (dout, _) = read::<B>(grads.consume::<B>(&ops.node));
        let i = &Inputs::borrow::<B>(&saved.primitives);
        let d = i.dims;
        let want_x = ops.parents[0].is_some();
        // The tapes are used up here (the LSTM's gate activations become its gate gradients).
        let parts = Arc::try_unwrap(saved.parts).unwrap_or_else(|shared| (*shared).clone());
        let out = saved.output.as_ref().map(borrow::<B>);
        let out = out.as_deref().unwrap_or(&[]);
        let g = backward(saved.cell, &dout, out, i, parts, saved.reverse, want_x);
        let shapes = [
            vec![d.batch, d.time, i.features],
            vec![i.features, i.width],
            vec![i.width],
            vec![d.hidden, i.width],
            vec![i.width],
            vec![d.batch, d.hidden],
            vec![d.batch, d.hidden],
        ];
        let values = [
            g.x,
            Some(g.w_in),
            Some(g.b_in),
            Some(g.w),
            g.bias,
            Some(g.h0),
            g.c0,
        ];
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        register_gradients::<B, 7>(grads, parents, values, shapes, saved.dtypes, &saved.device);
    }
}

/// The autodiff forward pass: runs the kernel, keeping its tape when any input is tracked.
///
/// `tokens`, where given, are the token ids and the embedding (the inner backend's) that `p.x`
/// was gathered from: an LSTM then copies each token's input projection from a table.
fn run_tracked<B: FusedRecurrentBackend, C: CheckpointStrategy>(
    cell: Cell,
    p: Primitives<Autodiff<B, C>>,
    reverse: bool,
    tokens: Option<(IntTensor<B>, FloatTensor<B>)>,
) -> FloatTensor<Autodiff<B, C>> {
    // Absent inputs stand in as an untracked copy of `h0`; they never receive a gradient.
    let filler = || p.h0.clone();
    let (bias, has_bias) = match p.bias {
        Some(b) => (b, true),
        None => (filler(), false),
    };
    let (c0, has_c0) = match p.c0 {
        Some(c) => (c, true),
        None => (filler(), false),
    };
    let all = [&p.x, &p.w_in, &p.b_in, &p.w, &bias, &p.h0, &c0];
    let nodes = all.map(|t| t.node());
    let dtypes = all.map(|t| t.dtype());
    let prep = FusedBackward.prepare::<C>(nodes).compute_bound().stateful();
    let device = p.x.primitive().device();
    let primitives = Primitives {
        x: p.x.into_primitive(),
        w_in: p.w_in.into_primitive(),
        b_in: p.b_in.into_primitive(),
        w: p.w.into_primitive(),
        bias: has_bias.then(|| bias.primitive().clone()),
        h0: p.h0.primitive().clone(),
        c0: has_c0.then(|| c0.primitive().clone()),
    };
    let keep = matches!(prep, OpsKind::Tracked(_));
    let ids_and_embedding =
        tokens.map(|(ids, embedding)| (token_ids::<B>(ids, &embedding), embedding));
    let mut inputs = Inputs::borrow::<B>(&primitives);
    inputs.tokens = ids_and_embedding.as_ref().map(|(ids, embedding)| Tokens {
        ids: ids.clone(),
        embedding: borrow::<B>(embedding),
    });
    let (out, shape, parts) = forward(cell, &inputs, reverse, keep);
    let output = write::<B>(out, shape, inputs.dtype, &device);
    drop(inputs);
    match prep {
        OpsKind::Tracked(prep) => {
            let state = Saved {
                cell,
                reverse,
                primitives,
                parts: Arc::new(parts),
                dtypes,
                output: (cell != Cell::Lstm).then(|| output.clone()),
                device,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

impl<B: FusedRecurrentBackend, C: CheckpointStrategy> FusedRecurrentBackend for Autodiff<B, C> {
    fn fused_lstm(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let p = Primitives::lstm(x, w_in, b_in, w, h0, c0);
        run_tracked::<B, C>(Cell::Lstm, p, reverse, None)
    }

    /// On autodiff: the embedding's own operation (its gradient included), then the LSTM, whose
    /// forward pass copies each token's input projection from a table (the same values).
    fn fused_lstm_tokens(
        tokens: IntTensor<Self>,
        embedding: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let table_of = (tokens.clone(), embedding.primitive().clone());
        let x = Self::embedding(embedding, tokens);
        let p = Primitives::lstm(x, w_in, b_in, w, h0, c0);
        run_tracked::<B, C>(Cell::Lstm, p, reverse, Some(table_of))
    }

    fn fused_gru(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let p = Primitives::gru(x, w_in, b_in, w, bias, h0);
        run_tracked::<B, C>(Cell::Gru, p, reverse, None)
    }

    fn fused_elman(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        b_in: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        relu: bool,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let p = Primitives::elman(x, w_in, b_in, w, h0);
        run_tracked::<B, C>(Cell::Elman { relu }, p, reverse, None)
    }
}
