//! The fused `conv -> ReLU -> max pool` block and the plain biased convolution as a Burn
//! backend extension: a forward implementation for the CPU backends, and for autodiff a
//! hand-written backward pass that reuses the forward's input and pooling winners.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;
use kiln_kernels::host::{borrow, read, register_gradients, write};
use kiln_kernels::{add_into, fill_parts, run_parts};

use super::direct;
use super::kernels::{self, Epilogue, Geometry, Grads, Tape};

/// Fused convolution blocks (see [`kernels`]).
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedConvBackend: Backend {
    /// `max_pool(relu(conv2d(x, weight) + bias))`: `x` `[batch, channels, height, width]`,
    /// `weight` `[filters, channels, k, k]`, `bias` `[filters]`; square pooling windows of `pool`
    /// with stride `pool` (1: none).
    fn fused_conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        pool: usize,
    ) -> FloatTensor<Self>;

    /// `conv2d(x, weight) + bias`: `x` `[batch, channels, height, width]`, `weight`
    /// `[filters, channels, k, k]`, `bias` `[filters]`.
    fn fused_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// `relu(conv2d(x, weight) + bias + skip)`, `skip` the shape of the output: the end of a
    /// residual block, for a forward pass alone (on autodiff it is composed).
    fn fused_conv2d_add_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// The settings of one call besides its tensors.
#[derive(Debug, Clone, Copy)]
struct Settings {
    stride: usize,
    padding: usize,
    pool: usize,
    epilogue: Epilogue,
}

impl Settings {
    fn relu_pool(stride: usize, padding: usize, pool: usize) -> Self {
        let pool = pool.max(1);
        let epilogue = Epilogue::ReluPool;
        Self {
            stride,
            padding,
            pool,
            epilogue,
        }
    }

    fn conv(stride: usize, padding: usize) -> Self {
        let (pool, epilogue) = (1, Epilogue::Bias);
        Self {
            stride,
            padding,
            pool,
            epilogue,
        }
    }
}

/// The host inputs of one call.
#[derive(Debug, Clone)]
struct Inputs<'a> {
    x: Cow<'a, [f32]>,
    w: Cow<'a, [f32]>,
    bias: Cow<'a, [f32]>,
    geometry: Geometry,
    /// The dtype of `x`, which the output takes.
    dtype: DType,
    /// A residual input added to the output before the ReLU (the direct kernel only).
    skip: Option<Cow<'a, [f32]>>,
}

impl<'a> Inputs<'a> {
    /// The primitives' values, borrowed where the backend allows (a forward pass alone).
    fn borrow<B: Backend>(
        x: &'a FloatTensor<B>,
        weight: &'a FloatTensor<B>,
        bias: &'a FloatTensor<B>,
        settings: Settings,
    ) -> Self {
        Self {
            x: borrow::<B>(x),
            w: borrow::<B>(weight),
            bias: borrow::<B>(bias),
            geometry: geometry(&x.shape(), &weight.shape(), settings),
            dtype: x.dtype(),
            skip: None,
        }
    }

    /// The geometry of the batch rows `rows`.
    fn part(&self, rows: &Range<usize>) -> Geometry {
        Geometry {
            batch: rows.len(),
            ..self.geometry
        }
    }
}

/// The geometry of a call on `x` `[batch, channels, height, width]` with `weight`
/// `[filters, channels, k, k]`.
fn geometry(x: &[usize], weight: &[usize], settings: Settings) -> Geometry {
    let Settings {
        stride,
        padding,
        pool,
        epilogue,
    } = settings;
    let [batch, channels, height, width] = dims4(x);
    let [filters, _, kernel, _] = dims4(weight);
    Geometry {
        batch,
        channels,
        height,
        width,
        filters,
        kernel,
        stride,
        padding,
        pool,
        epilogue,
    }
}

fn dims4(shape: &[usize]) -> [usize; 4] {
    shape
        .try_into()
        .expect("a fused convolution takes 4-d tensors")
}

/// Below this many multiply-adds per part, splitting the batch costs more than it saves.
const MIN_PART_WORK: usize = 1 << 20;

/// Each part's batch rows and forward tape.
type Tapes = Vec<(Range<usize>, Tape)>;

/// Runs the forward kernel, the batch split across threads, each part writing its own rows of
/// the output: the output values, its shape and the tapes. The direct convolution takes the
/// call where it handles it and no tape is needed: a forward pass alone (`inference`), or a
/// plain biased convolution (whose backward pass reads only the input); a pooled block takes it
/// too, followed by the pooling pass (which keeps the tape).
fn forward(i: &Inputs, inference: bool) -> (Vec<f32>, Vec<usize>, Tapes) {
    let g = i.geometry;
    let work_per_row = g.positions() / g.batch.max(1) * g.patch() * g.filters;
    let tapeless = inference || g.epilogue == Epilogue::Bias;
    let direct = tapeless && direct::supports(&g);
    assert!(
        direct || i.skip.is_none(),
        "a skip input takes the direct kernel"
    );
    if direct && g.batch == 1 {
        return direct_single(i);
    }
    let parts = kiln_kernels::batch_parts(g.batch, work_per_row, MIN_PART_WORK);
    let ol = g.output_len();
    // A pooled block: the direct convolution, then the pooling pass over its output.
    let unpooled = Geometry {
        pool: 1,
        epilogue: Epilogue::Bias,
        ..g
    };
    // (At batch 1 the im2col path is as fast: the direct kernel regroups the weights per call.)
    let pooled_direct = g.pool > 1 && g.batch > 1 && direct::supports(&unpooled);
    let no_bias = vec![0.0f32; if pooled_direct { g.filters } else { 0 }];
    let part = |rows: &Range<usize>, (), out: &mut [f32]| {
        let x = &i.x[rows.start * g.input_len()..rows.end * g.input_len()];
        if direct {
            let skip = i.skip.as_ref().map(|s| &s[rows.start * ol..rows.end * ol]);
            direct::forward(x, &i.w, &i.bias, skip, i.part(rows), out);
            return Tape {
                winners: Vec::new(),
            };
        }
        if pooled_direct {
            let conv_part = Geometry {
                batch: rows.len(),
                ..unpooled
            };
            let mut conv = vec![0.0f32; rows.len() * unpooled.output_len()];
            direct::forward(x, &i.w, &no_bias, None, conv_part, &mut conv);
            return kernels::pool_convolved(&conv, &i.bias, i.part(rows), out);
        }
        kernels::forward(x, &i.w, &i.bias, i.part(rows), out)
    };
    let jobs = parts.iter().map(|rows| (rows.clone(), ())).collect();
    let (out, tapes) = fill_parts(g.batch * ol, ol, jobs, part);
    let (ph, pw) = g.pooled_size();
    (
        out,
        vec![g.batch, g.filters, ph, pw],
        parts.into_iter().zip(tapes).collect(),
    )
}

/// The direct convolution of a batch of one sample, its filters split across threads (in runs
/// of whole tiles) when the call is large enough: what [`forward`] returns.
fn direct_single(i: &Inputs) -> (Vec<f32>, Vec<usize>, Tapes) {
    let g = i.geometry;
    let (oh, ow) = g.conv_size();
    let (patch, plane) = (g.patch(), oh * ow);
    let group = direct::filter_group();
    let groups = g.filters.div_ceil(group);
    let parts: Vec<Range<usize>> =
        kiln_kernels::batch_parts(groups, plane * patch * group, MIN_PART_WORK)
            .into_iter()
            .map(|r| r.start * group..(r.end * group).min(g.filters))
            .collect();
    let jobs = parts.iter().map(|filters| (filters.clone(), ())).collect();
    let (out, _) = fill_parts(g.filters * plane, plane, jobs, |filters, (), out| {
        let part = Geometry {
            filters: filters.len(),
            ..g
        };
        let w = &i.w[filters.start * patch..filters.end * patch];
        let skip = i
            .skip
            .as_ref()
            .map(|s| &s[filters.start * plane..filters.end * plane]);
        direct::forward(&i.x, w, &i.bias[filters.clone()], skip, part, out);
    });
    let tape = Tape {
        winners: Vec::new(),
    };
    (out, vec![1, g.filters, oh, ow], vec![(0..1, tape)])
}

/// Runs the backward kernel part by part (in parallel), each part writing its own rows of the
/// input gradient; the weight and bias gradients summed.
fn backward(dout: &[f32], i: &Inputs, tapes: &Tapes, want_x: bool) -> (Option<Vec<f32>>, Grads) {
    let g = i.geometry;
    // A stride-1 input gradient as a direct convolution of the output gradient.
    let transposed = want_x
        .then(|| direct::input_gradient(&g))
        .flatten()
        .map(|t| (t, direct::flipped(&i.w, &g), vec![0.0f32; g.channels]));
    let part = |(rows, tape): &(Range<usize>, Tape), dx: Option<&mut [f32]>| {
        let dout = &dout[rows.start * g.output_len()..rows.end * g.output_len()];
        let x = &i.x[rows.start * g.input_len()..rows.end * g.input_len()];
        match (&transposed, dx) {
            (Some((t, w_flipped, zeros)), Some(dx)) => {
                let t = Geometry {
                    batch: rows.len(),
                    ..*t
                };
                direct::forward(dout, w_flipped, zeros, None, t, dx);
                kernels::backward(dout, &i.w, x, tape, i.part(rows), None)
            }
            (_, dx) => kernels::backward(dout, &i.w, x, tape, i.part(rows), dx),
        }
    };
    // The input gradient zeroed part by part, on each part's thread.
    let (dx, mut grads) = if want_x {
        let jobs = tapes.iter().map(|t| (t.0.clone(), t)).collect();
        let (dx, grads) = fill_parts(g.batch * g.input_len(), g.input_len(), jobs, |_, t, dx| {
            part(t, Some(dx))
        });
        (Some(dx), grads)
    } else {
        (None, run_parts(tapes.iter().collect(), |t| part(t, None)))
    };
    let mut total = grads.remove(0);
    for part in grads {
        add_into(&mut total.w, &part.w);
        add_into(&mut total.bias, &part.bias);
    }
    (dx, total)
}

/// The forward pass on a CPU backend without autodiff.
fn run<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    settings: Settings,
) -> FloatTensor<B> {
    let device = x.device();
    let inputs = Inputs::borrow::<B>(&x, &weight, &bias, settings);
    let (out, shape, _) = forward(&inputs, true);
    write::<B>(out, shape, inputs.dtype, &device)
}

/// `relu(conv2d(x, weight) + bias + skip)` on a CPU backend without autodiff: the skip added in
/// the direct kernel's last pass where it takes the call, else after the convolution.
fn run_add_relu<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    skip: FloatTensor<B>,
    stride: usize,
    padding: usize,
) -> FloatTensor<B> {
    let device = x.device();
    let rectified = Settings::relu_pool(stride, padding, 1);
    let mut inputs = Inputs::borrow::<B>(&x, &weight, &bias, rectified);
    let skip = borrow::<B>(&skip);
    let (out, shape) = if direct::supports(&inputs.geometry) {
        inputs.skip = Some(skip);
        let (out, shape, _) = forward(&inputs, true);
        (out, shape)
    } else {
        inputs.geometry.epilogue = Epilogue::Bias;
        let (mut out, shape, _) = forward(&inputs, true);
        assert_eq!(skip.len(), out.len(), "the skip input fits the output");
        for (o, s) in out.iter_mut().zip(skip.iter()) {
            *o = (*o + s).max(0.0);
        }
        (out, shape)
    };
    write::<B>(out, shape, inputs.dtype, &device)
}

macro_rules! cpu_backend {
    ($backend:ty) => {
        impl FusedConvBackend for $backend {
            fn fused_conv_relu_pool(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                stride: usize,
                padding: usize,
                pool: usize,
            ) -> FloatTensor<Self> {
                run::<Self>(x, weight, bias, Settings::relu_pool(stride, padding, pool))
            }

            fn fused_conv2d(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                stride: usize,
                padding: usize,
            ) -> FloatTensor<Self> {
                run::<Self>(x, weight, bias, Settings::conv(stride, padding))
            }

            fn fused_conv2d_add_relu(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                skip: FloatTensor<Self>,
                stride: usize,
                padding: usize,
            ) -> FloatTensor<Self> {
                run_add_relu::<Self>(x, weight, bias, skip, stride, padding)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_backend!(burn::backend::Flex);
#[cfg(feature = "ndarray")]
cpu_backend!(burn::backend::NdArray);

/// What the backward pass needs: the forward inputs (shared with the graph, not copied: the
/// backward pass reads them in place where the backend allows) and the tapes.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    settings: Settings,
    tapes: Arc<Tapes>,
    /// dtypes of `x`, `weight`, `bias` (the gradients are written in them).
    dtypes: [DType; 3],
    /// Shape of `weight`.
    weight_shape: Vec<usize>,
    device: Device<B>,
}

/// The hand-written backward pass of a fused call.
#[derive(Debug)]
struct FusedBackward;

impl<B: Backend> Backward<B, 3> for FusedBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let (dout, _) = read::<B>(grads.consume::<B>(&ops.node));
        let i = &Inputs::borrow::<B>(&saved.x, &saved.weight, &saved.bias, saved.settings);
        let want_x = ops.parents[0].is_some();
        let (dx, g) = backward(&dout, i, &saved.tapes, want_x);
        let geo = i.geometry;
        let shapes = [
            vec![geo.batch, geo.channels, geo.height, geo.width],
            saved.weight_shape.clone(),
            vec![geo.filters],
        ];
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        let values = [dx, Some(g.w), Some(g.bias)];
        register_gradients::<B, 3>(grads, parents, values, shapes, saved.dtypes, &saved.device);
    }
}

impl<B: FusedConvBackend, C: CheckpointStrategy> FusedConvBackend for Autodiff<B, C> {
    fn fused_conv_relu_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        pool: usize,
    ) -> FloatTensor<Self> {
        tracked::<B, C>(x, weight, bias, Settings::relu_pool(stride, padding, pool))
    }

    fn fused_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        tracked::<B, C>(x, weight, bias, Settings::conv(stride, padding))
    }

    fn fused_conv2d_add_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let conv = Self::fused_conv2d(x, weight, bias, stride, padding);
        Self::relu(Self::float_add(conv, skip))
    }
}

/// A fused call on an autodiff device: the forward pass on the inner backend, the tape kept for
/// [`FusedBackward`] when a gradient is wanted.
fn tracked<B: FusedConvBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    settings: Settings,
) -> FloatTensor<Autodiff<B, C>> {
    let nodes = [x.node(), weight.node(), bias.node()];
    let dtypes = [x.dtype(), weight.dtype(), bias.dtype()];
    let weight_shape = weight.shape().to_vec();
    let prep = FusedBackward.prepare::<C>(nodes).compute_bound().stateful();
    let device = x.primitive().device();
    let (x, weight, bias) = (
        x.into_primitive(),
        weight.into_primitive(),
        bias.into_primitive(),
    );
    let inputs = Inputs::borrow::<B>(&x, &weight, &bias, settings);
    let (out, shape, tapes) = forward(&inputs, false);
    let output = write::<B>(out, shape, inputs.dtype, &device);
    drop(inputs);
    match prep {
        OpsKind::Tracked(prep) => {
            let state = Saved {
                x,
                weight,
                bias,
                settings,
                tapes: Arc::new(tapes),
                dtypes,
                weight_shape,
                device,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}
