//! The fused dense layer as a Burn backend extension: the forward pass on the CPU backends, and
//! for autodiff a hand-written backward pass that reads the layer's input and output where the
//! graph keeps them (no copies).

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;

use super::kernels::{self, Sizes};
use crate::host::{borrow, read, register_gradients, write};
use crate::{batch_parts, run_parts, split_rows};

/// A dense (fully connected) layer in one operation.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedDenseBackend: Backend {
    /// `x · weight + bias`, rectified when `relu`: `x` `[rows, inputs]`, `weight`
    /// `[inputs, outputs]`, `bias` `[outputs]`.
    fn fused_dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// Below this many multiply-adds per part, splitting the rows costs more than it saves.
const MIN_PART_WORK: usize = 1 << 20;

/// The sizes of a call, checked: `x` `[rows, inputs]`, `weight` `[inputs, outputs]`, `bias`
/// `[outputs]`.
fn sizes<B: Backend>(x: &FloatTensor<B>, weight: &FloatTensor<B>, bias: &FloatTensor<B>) -> Sizes {
    let (x, w, b) = (x.shape(), weight.shape(), bias.shape());
    assert!(
        x.num_dims() == 2 && w.num_dims() == 2 && x[1] == w[0] && b.dims::<1>() == [w[1]],
        "fused dense: x {x:?}, weight {w:?} and bias {b:?} do not fit"
    );
    Sizes {
        rows: x[0],
        inputs: x[1],
        outputs: w[1],
    }
}

/// A `[rows, width]` result filled part by part, the rows split across threads: `job(part
/// sizes, first row, output rows)` for each part (its products single-threaded).
fn by_rows(
    s: Sizes,
    width: usize,
    job: impl Fn(Sizes, usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let parts = batch_parts(s.rows, s.inputs * s.outputs, MIN_PART_WORK);
    let mut out = vec![0.0f32; s.rows * width];
    let slices = split_rows(&mut out, &parts, width);
    run_parts(parts.iter().zip(slices).collect(), |(rows, out)| {
        let part = Sizes {
            rows: rows.len(),
            ..s
        };
        job(part, rows.start, out)
    });
    out
}

/// The forward values.
fn forward(x: &[f32], w: &[f32], bias: &[f32], relu: bool, s: Sizes) -> Vec<f32> {
    by_rows(s, s.outputs, |part, first, out| {
        let x = &x[first * s.inputs..(first + part.rows) * s.inputs];
        kernels::forward(x, w, bias, relu, part, out)
    })
}

/// The gradients of `x` (when wanted), the weight and the bias from the output gradient
/// `dz` (already through the ReLU).
fn backward(
    dz: &[f32],
    x: &[f32],
    w: &[f32],
    s: Sizes,
    want_x: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let dx = want_x.then(|| {
        by_rows(s, s.inputs, |part, first, dx| {
            let dz = &dz[first * s.outputs..(first + part.rows) * s.outputs];
            kernels::input_grad(dz, w, part, dx)
        })
    });
    // The weight gradient split by its rows (input features): no partial sums to add.
    let parts = batch_parts(s.inputs, s.rows * s.outputs, MIN_PART_WORK);
    let mut dw = vec![0.0f32; s.inputs * s.outputs];
    let slices = split_rows(&mut dw, &parts, s.outputs);
    run_parts(parts.iter().zip(slices).collect(), |(features, dw)| {
        kernels::weight_grad(x, dz, s, features.clone(), dw)
    });
    (dx, dw, kernels::bias_grad(dz, s.outputs))
}

fn run<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    relu: bool,
) -> FloatTensor<B> {
    let s = sizes::<B>(&x, &weight, &bias);
    let device = x.device();
    let out = forward(
        &borrow::<B>(&x),
        &borrow::<B>(&weight),
        &borrow::<B>(&bias),
        relu,
        s,
    );
    write::<B>(out, vec![s.rows, s.outputs], x.dtype(), &device)
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

/// What the backward pass reads: the input and weight, and the output when rectified (all
/// shared with the graph, not copied).
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    output: Option<FloatTensor<B>>,
    sizes: Sizes,
    /// dtypes of `x`, `weight`, `bias` (the gradients are written in them).
    dtypes: [DType; 3],
    device: Device<B>,
}

/// The hand-written backward pass of a fused dense layer.
#[derive(Debug)]
struct DenseBackward;

impl<B: Backend> Backward<B, 3> for DenseBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let s = saved.sizes;
        let (mut dz, _) = read::<B>(grads.consume::<B>(&ops.node));
        if let Some(output) = &saved.output {
            kernels::relu_backward(&mut dz, &borrow::<B>(output));
        }
        let want_x = ops.parents[0].is_some();
        let x = borrow::<B>(&saved.x);
        let w = borrow::<B>(&saved.weight);
        let (dx, dw, db) = backward(&dz, &x, &w, s, want_x);
        let shapes = [
            vec![s.rows, s.inputs],
            vec![s.inputs, s.outputs],
            vec![s.outputs],
        ];
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        let values = [dx, Some(dw), Some(db)];
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
        let prep = DenseBackward.prepare::<C>(nodes).compute_bound().stateful();
        let x = x.into_primitive();
        let weight = weight.into_primitive();
        let bias = bias.into_primitive();
        let sizes = sizes::<B>(&x, &weight, &bias);
        let device = x.device();
        let output = B::fused_dense(x.clone(), weight.clone(), bias, relu);
        match prep {
            OpsKind::Tracked(prep) => {
                let state = Saved {
                    x,
                    weight,
                    output: relu.then(|| output.clone()),
                    sizes,
                    dtypes,
                    device,
                };
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }
}
