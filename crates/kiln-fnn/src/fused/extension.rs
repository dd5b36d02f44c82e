//! The fused dense layer as a Burn backend extension: a forward implementation for the CPU
//! backends, and for autodiff a hand-written backward pass that reuses the forward's input (in
//! the form it was multiplied in) and output.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;
use kiln_kernels::host::{borrow, read, register_gradients, write};
use kiln_kernels::{batch_parts, run_parts};

use super::kernels::{self, Shape};

/// The fused dense layer (see [`kernels`]).
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedDenseBackend: Backend {
    /// `relu?(x · weight + bias)`: `x` `[batch, inputs]`, `weight` `[inputs, outputs]`, `bias`
    /// `[outputs]`.
    fn fused_dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// The host inputs of one call.
#[derive(Debug, Clone)]
struct Inputs<'a> {
    x: Cow<'a, [f32]>,
    w: Cow<'a, [f32]>,
    bias: Cow<'a, [f32]>,
    shape: Shape,
    /// The dtype of `x`, which the output takes.
    dtype: DType,
}

/// The shape of a call on `x` `[batch, inputs]` and `weight` `[inputs, outputs]`.
fn shape_of(x: &[usize], weight: &[usize]) -> Shape {
    let ([batch, inputs], [rows, outputs]) = (dims2(x), dims2(weight));
    assert_eq!(
        inputs, rows,
        "fused dense: input width {inputs} but weight rows {rows}"
    );
    Shape {
        batch,
        inputs,
        outputs,
    }
}

fn dims2(shape: &[usize]) -> [usize; 2] {
    shape
        .try_into()
        .expect("a fused dense layer takes 2-d tensors")
}

impl Inputs<'static> {
    /// Owned copies of the primitives' values (for a backward pass to keep).
    fn read<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>, bias: FloatTensor<B>) -> Self {
        let shape = shape_of(&x.shape(), &weight.shape());
        let (x, dtype) = read::<B>(x);
        Self {
            x: Cow::Owned(x),
            w: Cow::Owned(read::<B>(weight).0),
            bias: Cow::Owned(read::<B>(bias).0),
            shape,
            dtype,
        }
    }
}

impl<'a> Inputs<'a> {
    /// The primitives' values, borrowed where the backend allows (a forward pass alone).
    fn borrow<B: Backend>(
        x: &'a FloatTensor<B>,
        weight: &'a FloatTensor<B>,
        bias: &'a FloatTensor<B>,
    ) -> Self {
        Self {
            x: borrow::<B>(x),
            w: borrow::<B>(weight),
            bias: borrow::<B>(bias),
            shape: shape_of(&x.shape(), &weight.shape()),
            dtype: x.dtype(),
        }
    }
}

/// Below this many multiply-adds per part, splitting the batch costs more than it saves.
const MIN_PART_WORK: usize = 1 << 20;

/// Runs the forward kernels: the sparse product on parts of the batch across threads, each part
/// writing its own rows of the output; the rows of parts too dense for it then by gemm, in one
/// product where they are contiguous (gemm's own threads share its packed weight).
fn forward(i: &Inputs, relu: bool) -> Vec<f32> {
    let s = i.shape;
    let mut out = vec![0.0f32; s.batch * s.outputs];
    let parts = batch_parts(s.batch, s.inputs * s.outputs, MIN_PART_WORK);
    let slices = split_rows(&mut out, &parts, s.outputs);
    let part = |(rows, out): (Range<usize>, &mut [f32])| {
        kernels::sparse_rows(&i.x, &i.w, &i.bias, s, relu, rows, out)
    };
    let done = run_parts(parts.iter().cloned().zip(slices).collect(), part);
    let mut dense: Vec<Range<usize>> = Vec::new();
    for (rows, _) in parts.into_iter().zip(done).filter(|(_, done)| !done) {
        match dense.last_mut() {
            Some(last) if last.end == rows.start => last.end = rows.end,
            _ => dense.push(rows),
        }
    }
    for rows in dense {
        let out = &mut out[rows.start * s.outputs..rows.end * s.outputs];
        kernels::dense_rows(&i.x, &i.w, &i.bias, s, relu, rows, out);
    }
    out
}

/// `data` cut into one mutable slice per part, `row_len` values per batch row.
fn split_rows<'a>(
    mut data: &'a mut [f32],
    parts: &[Range<usize>],
    row_len: usize,
) -> Vec<&'a mut [f32]> {
    parts
        .iter()
        .map(|rows| {
            let (head, tail) = std::mem::take(&mut data).split_at_mut(rows.len() * row_len);
            data = tail;
            head
        })
        .collect()
}

/// The forward pass on a CPU backend without autodiff.
fn run<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    relu: bool,
) -> FloatTensor<B> {
    let device = x.device();
    let inputs = Inputs::borrow::<B>(&x, &weight, &bias);
    let out = forward(&inputs, relu);
    let shape = vec![inputs.shape.batch, inputs.shape.outputs];
    write::<B>(out, shape, inputs.dtype, &device)
}

macro_rules! cpu_backend {
    ($backend:ty) => {
        impl FusedDenseBackend for $backend {
            fn fused_dense(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                relu: bool,
            ) -> FloatTensor<Self> {
                run::<Self>(x, weight, bias, relu)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_backend!(burn::backend::Flex);
#[cfg(feature = "ndarray")]
cpu_backend!(burn::backend::NdArray);

/// What the backward pass needs: the forward inputs, the output when a ReLU masks the
/// gradient, and where to write.
#[derive(Debug, Clone)]
struct Saved<D> {
    inputs: Arc<Inputs<'static>>,
    out: Option<Arc<Vec<f32>>>,
    /// dtypes of `x`, `weight`, `bias` (the gradients are written in them).
    dtypes: [DType; 3],
    device: D,
}

/// The hand-written backward pass of a fused call.
#[derive(Debug)]
struct FusedBackward;

impl<B: Backend> Backward<B, 3> for FusedBackward {
    type State = Saved<Device<B>>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let (dout, _) = read::<B>(grads.consume::<B>(&ops.node));
        let i = &saved.inputs;
        let want_x = ops.parents[0].is_some();
        let out = saved.out.as_deref().map(Vec::as_slice);
        let g = kernels::backward(&dout, out, &i.x, &i.w, i.shape, want_x);
        let s = i.shape;
        let shapes = [
            vec![s.batch, s.inputs],
            vec![s.inputs, s.outputs],
            vec![s.outputs],
        ];
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        let values = [g.x, Some(g.w), Some(g.bias)];
        register_gradients::<B, 3>(grads, parents, values, shapes, saved.dtypes, &saved.device);
    }
}

impl<B: FusedDenseBackend, C: CheckpointStrategy> FusedDenseBackend for Autodiff<B, C> {
    fn fused_dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let dtypes = [x.dtype(), weight.dtype(), bias.dtype()];
        let prep = FusedBackward.prepare::<C>(nodes).compute_bound().stateful();
        let device = x.primitive().device();
        let inputs = Inputs::read::<B>(
            x.into_primitive(),
            weight.primitive().clone(),
            bias.primitive().clone(),
        );
        let out = forward(&inputs, relu);
        let shape = vec![inputs.shape.batch, inputs.shape.outputs];
        match prep {
            OpsKind::Tracked(prep) => {
                let kept = relu.then(|| Arc::new(out.clone()));
                let output = write::<B>(out, shape, inputs.dtype, &device);
                let state = Saved {
                    inputs: Arc::new(inputs),
                    out: kept,
                    dtypes,
                    device,
                };
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(write::<B>(out, shape, inputs.dtype, &device)),
        }
    }
}
