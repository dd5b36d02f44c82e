//! The fused recurrent kernels as a Burn backend extension: a forward implementation for the
//! CPU backends, and for autodiff a hand-written backward pass that reuses the forward
//! activations.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;

use super::Cell;
use super::kernels::{self, Dims, Grads};
use kiln_kernels::host::{read, write};
use kiln_kernels::matmul::serial;

/// Fused recurrent sequences (see [`kernels`]).
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedRecurrentBackend: Backend {
    /// LSTM over a sequence: `[batch, time + 1, hidden]` (hidden states, then the final cell).
    fn fused_lstm(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self>;

    /// GRU over a sequence: every hidden state `[batch, time, hidden]`.
    fn fused_gru(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self>;

    /// Elman network over a sequence: every hidden state `[batch, time, hidden]`.
    fn fused_elman(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        relu: bool,
        reverse: bool,
    ) -> FloatTensor<Self>;
}

/// The host inputs of one call, read from the primitives.
#[derive(Debug, Clone)]
struct Inputs {
    /// The input projection; after [`forward`] it holds the activations instead (reused in
    /// place, so the backward pass reads them here).
    xp: Vec<f32>,
    /// The recurrent weight.
    w: Vec<f32>,
    /// The recurrent bias (GRU), else empty.
    bias: Vec<f32>,
    /// The initial hidden state.
    h0: Vec<f32>,
    /// The initial cell state (LSTM), else empty.
    c0: Vec<f32>,
    /// Sizes of the call.
    dims: Dims,
    /// The dtype of `xp`, which the output takes.
    dtype: DType,
}

impl Inputs {
    /// Reads `xp`, `w`, `h0` and the optional `bias` and `c0`.
    fn read<B: Backend>(
        xp: FloatTensor<B>,
        w: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        h0: FloatTensor<B>,
        c0: Option<FloatTensor<B>>,
    ) -> Self {
        let shape = xp.shape();
        let hidden = h0.shape()[1];
        let dims = Dims {
            batch: shape[0],
            time: shape[1],
            hidden,
        };
        let (xp, dtype) = read::<B>(xp);
        Self {
            xp,
            w: read::<B>(w).0,
            bias: bias.map(|b| read::<B>(b).0).unwrap_or_default(),
            h0: read::<B>(h0).0,
            c0: c0.map(|c| read::<B>(c).0).unwrap_or_default(),
            dims,
            dtype,
        }
    }
}

/// The forward tape of any cell, for one part of the batch.
#[derive(Debug, Clone)]
enum Tape {
    Lstm(kernels::LstmTape),
    Gru(kernels::GruTape),
    Elman(kernels::ElmanTape),
}

/// Below this many multiply-adds per part, splitting the batch costs more than it saves.
const MIN_PART_WORK: usize = 64 * 64 * 64;

/// The batch rows each thread takes (sequences in a batch are independent, so each part runs
/// its whole time loop without waiting for the others).
fn parts(d: Dims) -> Vec<Range<usize>> {
    kiln_kernels::batch_parts(d.batch, d.time * d.hidden * d.hidden, MIN_PART_WORK)
}

/// Runs the forward kernel of `cell` on the batch rows `rows`, whose input projection `acts`
/// becomes their activations.
fn forward_part(
    cell: Cell,
    acts: &mut [f32],
    i: &Shared,
    rows: Range<usize>,
    reverse: bool,
) -> (Vec<f32>, Tape) {
    let d = Dims {
        batch: rows.len(),
        ..i.dims
    };
    let h = d.hidden;
    let h0 = &i.h0[rows.start * h..rows.end * h];
    match cell {
        Cell::Lstm => {
            let c0 = &i.c0[rows.start * h..rows.end * h];
            let (out, tape) = kernels::lstm_forward(acts, i.w, h0, c0, d, reverse);
            (out, Tape::Lstm(tape))
        }
        Cell::Gru => {
            let (out, tape) = kernels::gru_forward(acts, i.w, i.bias, h0, d, reverse);
            (out, Tape::Gru(tape))
        }
        Cell::Elman { relu } => {
            let (out, tape) = kernels::elman_forward(acts, i.w, h0, d, relu, reverse);
            (out, Tape::Elman(tape))
        }
    }
}

/// The inputs every part reads.
struct Shared<'a> {
    w: &'a [f32],
    bias: &'a [f32],
    h0: &'a [f32],
    c0: &'a [f32],
    dims: Dims,
}

/// Runs the forward kernel, the batch split across threads: the output values, its shape, and
/// each part's rows and tape. Afterwards `inputs.xp` holds the activations.
fn forward(cell: Cell, inputs: &mut Inputs, reverse: bool) -> (Vec<f32>, Vec<usize>, Tapes) {
    let d = inputs.dims;
    let steps = if cell == Cell::Lstm {
        d.time + 1
    } else {
        d.time
    };
    let parts = parts(d);
    let per_row = inputs.xp.len() / d.batch.max(1);
    let shared = Shared {
        w: &inputs.w,
        bias: &inputs.bias,
        h0: &inputs.h0,
        c0: &inputs.c0,
        dims: d,
    };
    let mut slices = Vec::with_capacity(parts.len());
    let mut rest: &mut [f32] = &mut inputs.xp;
    for rows in &parts {
        let (head, tail) = rest.split_at_mut(rows.len() * per_row);
        slices.push((rows.clone(), head));
        rest = tail;
    }
    let results: Vec<(Vec<f32>, Tape)> = if slices.len() == 1 {
        let (rows, acts) = slices.pop().expect("one part");
        vec![forward_part(cell, acts, &shared, rows, reverse)]
    } else {
        slices
            .into_par_iter()
            .map(|(rows, acts)| serial(|| forward_part(cell, acts, &shared, rows, reverse)))
            .collect()
    };
    let mut out = Vec::with_capacity(d.batch * steps * d.hidden);
    let mut tapes = Vec::with_capacity(parts.len());
    for (rows, (values, tape)) in parts.into_iter().zip(results) {
        if tapes.is_empty() && out.capacity() == values.len() {
            out = values;
        } else {
            out.extend_from_slice(&values);
        }
        tapes.push((rows, tape));
    }
    (out, vec![d.batch, steps, d.hidden], tapes)
}

/// Each part's batch rows and forward tape.
type Tapes = Vec<(Range<usize>, Tape)>;

/// Runs the backward kernels part by part (in parallel) and joins their gradients: per-row
/// gradients side by side, weight and bias gradients summed. `i.xp` holds the activations.
fn backward(cell: Cell, dout: &[f32], i: &Inputs, tapes: &Tapes, reverse: bool) -> Grads {
    let per_row = dout.len() / i.dims.batch.max(1);
    let acts_per_row = i.xp.len() / i.dims.batch.max(1);
    let part = |(rows, tape): &(Range<usize>, Tape)| {
        let d = Dims {
            batch: rows.len(),
            ..i.dims
        };
        let dout = &dout[rows.start * per_row..rows.end * per_row];
        let acts = &i.xp[rows.start * acts_per_row..rows.end * acts_per_row];
        match (cell, tape) {
            (Cell::Lstm, Tape::Lstm(t)) => kernels::lstm_backward(dout, &i.w, acts, t, d, reverse),
            (Cell::Gru, Tape::Gru(t)) => kernels::gru_backward(dout, &i.w, acts, t, d, reverse),
            (Cell::Elman { relu }, Tape::Elman(t)) => {
                kernels::elman_backward(dout, &i.w, acts, t, d, relu, reverse)
            }
            _ => unreachable!("the tape always matches its cell"),
        }
    };
    let mut grads: Vec<Grads> = if tapes.len() == 1 {
        vec![part(&tapes[0])]
    } else {
        tapes.par_iter().map(|t| serial(|| part(t))).collect()
    };
    let mut total = grads.remove(0);
    for g in grads {
        total.xp.extend_from_slice(&g.xp);
        add(&mut total.w, &g.w);
        if let (Some(sum), Some(b)) = (total.bias.as_mut(), g.bias.as_ref()) {
            add(sum, b);
        }
        total.h0.extend_from_slice(&g.h0);
        if let (Some(all), Some(c)) = (total.c0.as_mut(), g.c0.as_ref()) {
            all.extend_from_slice(c);
        }
    }
    total
}

/// `sum += values`, element-wise.
fn add(sum: &mut [f32], values: &[f32]) {
    for (s, v) in sum.iter_mut().zip(values) {
        *s += v;
    }
}

/// The forward pass on a CPU backend without autodiff.
#[allow(clippy::too_many_arguments)]
fn run<B: Backend>(
    cell: Cell,
    xp: FloatTensor<B>,
    w: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    h0: FloatTensor<B>,
    c0: Option<FloatTensor<B>>,
    reverse: bool,
) -> FloatTensor<B> {
    let device = xp.device();
    let mut inputs = Inputs::read::<B>(xp, w, bias, h0, c0);
    let (out, shape, _) = forward(cell, &mut inputs, reverse);
    write::<B>(out, shape, inputs.dtype, &device)
}

macro_rules! cpu_backend {
    ($backend:ty) => {
        impl FusedRecurrentBackend for $backend {
            fn fused_lstm(
                xp: FloatTensor<Self>,
                w: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                c0: FloatTensor<Self>,
                reverse: bool,
            ) -> FloatTensor<Self> {
                run::<Self>(Cell::Lstm, xp, w, None, h0, Some(c0), reverse)
            }

            fn fused_gru(
                xp: FloatTensor<Self>,
                w: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                reverse: bool,
            ) -> FloatTensor<Self> {
                run::<Self>(Cell::Gru, xp, w, Some(bias), h0, None, reverse)
            }

            fn fused_elman(
                xp: FloatTensor<Self>,
                w: FloatTensor<Self>,
                h0: FloatTensor<Self>,
                relu: bool,
                reverse: bool,
            ) -> FloatTensor<Self> {
                let cell = Cell::Elman { relu };
                run::<Self>(cell, xp, w, None, h0, None, reverse)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_backend!(burn::backend::Flex);
#[cfg(feature = "ndarray")]
cpu_backend!(burn::backend::NdArray);

/// What the backward pass needs: the cell, the forward inputs and tape, and where to write.
#[derive(Debug, Clone)]
struct Saved<D> {
    cell: Cell,
    reverse: bool,
    inputs: Arc<Inputs>,
    tape: Arc<Tapes>,
    /// dtypes of `xp`, `w`, `bias`, `h0`, `c0` (the gradients are written in them).
    dtypes: [DType; 5],
    device: D,
}

/// The hand-written backward pass of a fused call.
#[derive(Debug)]
struct FusedBackward;

impl<B: Backend> Backward<B, 5> for FusedBackward {
    type State = Saved<Device<B>>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let (dout, _) = read::<B>(grads.consume::<B>(&ops.node));
        let (i, d) = (&saved.inputs, saved.inputs.dims);
        let g = backward(saved.cell, &dout, i, &saved.tape, saved.reverse);
        let gates = g.xp.len() / (d.batch * d.time).max(1);
        let shapes = [
            vec![d.batch, d.time, gates],
            vec![d.hidden, gates],
            vec![gates],
            vec![d.batch, d.hidden],
            vec![d.batch, d.hidden],
        ];
        let values = [Some(g.xp), Some(g.w), g.bias, Some(g.h0), g.c0];
        for (k, (parent, value)) in ops.parents.into_iter().zip(values).enumerate() {
            if let (Some(node), Some(value)) = (parent, value) {
                let grad = write::<B>(value, shapes[k].clone(), saved.dtypes[k], &saved.device);
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

/// The autodiff forward pass: runs the kernel, keeping its tape when any input is tracked.
#[allow(clippy::too_many_arguments)]
fn run_tracked<B: FusedRecurrentBackend, C: CheckpointStrategy>(
    cell: Cell,
    xp: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
    bias: Option<FloatTensor<Autodiff<B, C>>>,
    h0: FloatTensor<Autodiff<B, C>>,
    c0: Option<FloatTensor<Autodiff<B, C>>>,
    reverse: bool,
) -> FloatTensor<Autodiff<B, C>> {
    // Absent inputs stand in as an untracked copy of `h0`; they never receive a gradient.
    let filler = || h0.clone();
    let (bias, has_bias) = match bias {
        Some(b) => (b, true),
        None => (filler(), false),
    };
    let (c0, has_c0) = match c0 {
        Some(c) => (c, true),
        None => (filler(), false),
    };
    let nodes = [xp.node(), w.node(), bias.node(), h0.node(), c0.node()];
    let dtypes = [xp.dtype(), w.dtype(), bias.dtype(), h0.dtype(), c0.dtype()];
    let prep = FusedBackward.prepare::<C>(nodes).compute_bound().stateful();
    let device = xp.primitive().device();
    // `xp` is read by value: its buffer becomes the activations without a copy when unique.
    let mut inputs = Inputs::read::<B>(
        xp.into_primitive(),
        w.primitive().clone(),
        has_bias.then(|| bias.primitive().clone()),
        h0.primitive().clone(),
        has_c0.then(|| c0.primitive().clone()),
    );
    let (out, shape, tape) = forward(cell, &mut inputs, reverse);
    let inputs = Arc::new(inputs);
    let output = write::<B>(out, shape, inputs.dtype, &device);
    match prep {
        OpsKind::Tracked(prep) => {
            let state = Saved {
                cell,
                reverse,
                inputs,
                tape: Arc::new(tape),
                dtypes,
                device,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

impl<B: FusedRecurrentBackend, C: CheckpointStrategy> FusedRecurrentBackend for Autodiff<B, C> {
    fn fused_lstm(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        run_tracked::<B, C>(Cell::Lstm, xp, w, None, h0, Some(c0), reverse)
    }

    fn fused_gru(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        run_tracked::<B, C>(Cell::Gru, xp, w, Some(bias), h0, None, reverse)
    }

    fn fused_elman(
        xp: FloatTensor<Self>,
        w: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        relu: bool,
        reverse: bool,
    ) -> FloatTensor<Self> {
        run_tracked::<B, C>(Cell::Elman { relu }, xp, w, None, h0, None, reverse)
    }
}
