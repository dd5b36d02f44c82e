//! The fused training batch norm (`relu(batch_norm(z) + skip)`) as a Burn backend extension: a
//! forward implementation for the CPU backends, and for autodiff a hand-written backward pass.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;
use kiln_kernels::host::{read, register_gradients, write};

use super::batch_norm::{self, Layout, Tape};

/// The fused training batch norm (see [`batch_norm`]).
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedNormBackend: Backend {
    /// `relu?(batch_norm(z))` with the batch's statistics: `z` `[batch, channels, ...]`,
    /// `gamma` and `beta` `[channels]`. Returns the output, and the batch's mean and biased
    /// variance `[channels]` (not differentiated).
    fn fused_batch_norm(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// [`fused_batch_norm`](Self::fused_batch_norm) with `skip` (the shape of `z`) added before
    /// the ReLU: the end of a residual block.
    fn fused_batch_norm_add(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        relu: bool,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Both extension methods as one: `skip` optional.
trait NormEither: FusedNormBackend {
    fn either(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        skip: Option<FloatTensor<Self>>,
        relu: bool,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The layout of `shape` `[batch, channels, ...]`.
fn layout(shape: &[usize]) -> Layout {
    assert!(
        shape.len() >= 2,
        "a batch norm takes [batch, channels, ...]"
    );
    Layout {
        batch: shape[0],
        channels: shape[1],
        plane: shape[2..].iter().product(),
    }
}

/// One call's forward pass on host vectors: the output, the tape and the dtype of `z`.
fn forward<B: Backend>(
    z: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    skip: Option<FloatTensor<B>>,
    relu: bool,
    epsilon: f64,
) -> (Vec<f32>, Tape, DType, Layout) {
    let l = layout(&z.shape());
    let (z, dtype) = read::<B>(z);
    let (gamma, beta) = (read::<B>(gamma).0, read::<B>(beta).0);
    let skip = skip.map(|s| read::<B>(s).0);
    let out = batch_norm::forward(&z, &gamma, &beta, skip.as_deref(), relu, epsilon, l);
    let tape = Tape {
        z,
        kept: out.kept,
        stats: out.stats,
        gamma,
    };
    (out.y, tape, dtype, l)
}

/// The output, mean and variance as primitives.
fn outputs<B: Backend>(
    y: Vec<f32>,
    tape: &Tape,
    shape: Vec<usize>,
    dtype: DType,
    device: &Device<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let channels = vec![tape.stats.mean.len()];
    (
        write::<B>(y, shape, dtype, device),
        write::<B>(tape.stats.mean.clone(), channels.clone(), dtype, device),
        write::<B>(tape.stats.variance.clone(), channels, dtype, device),
    )
}

/// The two extension methods, each a call of [`NormEither::either`].
macro_rules! both_through_either {
    () => {
        fn fused_batch_norm(
            z: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            relu: bool,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            Self::either(z, gamma, beta, None, relu, epsilon)
        }

        fn fused_batch_norm_add(
            z: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            skip: FloatTensor<Self>,
            relu: bool,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            Self::either(z, gamma, beta, Some(skip), relu, epsilon)
        }
    };
}

macro_rules! cpu_backend {
    ($backend:ty) => {
        impl FusedNormBackend for $backend {
            both_through_either!();
        }

        impl NormEither for $backend {
            fn either(
                z: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                skip: Option<FloatTensor<Self>>,
                relu: bool,
                epsilon: f64,
            ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
                let device = z.device();
                let shape = z.shape().to_vec();
                let (y, tape, dtype, _) = forward::<Self>(z, gamma, beta, skip, relu, epsilon);
                outputs::<Self>(y, &tape, shape, dtype, &device)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_backend!(burn::backend::Flex);
#[cfg(feature = "ndarray")]
cpu_backend!(burn::backend::NdArray);

/// What the backward pass needs.
#[derive(Debug, Clone)]
struct Saved<D> {
    tape: Arc<Tape>,
    epsilon: f64,
    layout: Layout,
    shape: Vec<usize>,
    /// dtypes of `z`, `gamma`, `beta` (and `skip`).
    dtypes: Vec<DType>,
    device: D,
}

/// The hand-written backward pass; `N` is 4 with a skip input, 3 without.
#[derive(Debug)]
struct NormBackward<const N: usize>;

impl<B: Backend, const N: usize> Backward<B, N> for NormBackward<N> {
    type State = Saved<Device<B>>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let (dy, _) = read::<B>(grads.consume::<B>(&ops.node));
        let want_skip = N == 4 && ops.parents[N - 1].is_some();
        let g = batch_norm::backward(dy, &s.tape, s.epsilon, want_skip, s.layout);
        let channels = vec![s.layout.channels];
        let mut values = vec![Some(g.z), Some(g.gamma), Some(g.beta)];
        let mut shapes = vec![s.shape.clone(), channels.clone(), channels];
        if N == 4 {
            values.push(g.skip);
            shapes.push(s.shape.clone());
        }
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        let values: [Option<Vec<f32>>; N] = values.try_into().expect("one value per parent");
        let shapes: [Vec<usize>; N] = shapes.try_into().expect("one shape per parent");
        let dtypes: [DType; N] = s.dtypes.try_into().expect("one dtype per parent");
        register_gradients::<B, N>(grads, parents, values, shapes, dtypes, &s.device);
    }
}

impl<B: FusedNormBackend, C: CheckpointStrategy> FusedNormBackend for Autodiff<B, C> {
    both_through_either!();
}

impl<B: FusedNormBackend, C: CheckpointStrategy> NormEither for Autodiff<B, C> {
    fn either(
        z: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        skip: Option<FloatTensor<Self>>,
        relu: bool,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let device = z.primitive().device();
        let shape = z.shape().to_vec();
        let mut dtypes = vec![z.dtype(), gamma.dtype(), beta.dtype()];
        // The nodes first, so that the input tensors can be read without copies.
        let mut nodes = vec![z.node(), gamma.node(), beta.node()];
        if let Some(skip) = &skip {
            dtypes.push(skip.dtype());
            nodes.push(skip.node());
        }
        let (y, tape, dtype, layout) = forward::<B>(
            z.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            skip.map(|s| s.into_primitive()),
            relu,
            epsilon,
        );
        let (output, mean, variance) = outputs::<B>(y, &tape, shape.clone(), dtype, &device);
        // The statistics are outputs without a gradient (untracked leaves).
        let statistics = (
            FloatTensor::<Self>::new(mean),
            FloatTensor::<Self>::new(variance),
        );
        let state = |dtypes| Saved {
            tape: Arc::new(tape),
            epsilon,
            layout,
            shape,
            dtypes,
            device,
        };
        let output = match <[_; 4]>::try_from(nodes) {
            Ok(nodes) => match NormBackward::<4>
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state(dtypes), output),
                OpsKind::UnTracked(prep) => prep.finish(output),
            },
            Err(nodes) => {
                let nodes: [_; 3] = nodes.try_into().expect("z, gamma and beta");
                match NormBackward::<3>
                    .prepare::<C>(nodes)
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(state(dtypes), output),
                    OpsKind::UnTracked(prep) => prep.finish(output),
                }
            }
        };
        (output, statistics.0, statistics.1)
    }
}
