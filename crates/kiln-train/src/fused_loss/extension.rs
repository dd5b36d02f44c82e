//! The fused losses as a Burn backend extension: a forward implementation for the CPU backends
//! that also computes the gradient of the loss with respect to the logits, and for autodiff a
//! backward pass that only scales that saved gradient by the incoming one.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{Device, FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;
use kiln_kernels::host::{read, read_ints, register_gradients, write};

use super::kernels;

/// Fused classification losses (see [`kernels`]).
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait FusedLossBackend: Backend {
    /// Mean binary cross-entropy of `[rows, 1]` logits against `[rows]` 0/1 labels: `[1]`.
    fn fused_binary_cross_entropy(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Mean softmax cross-entropy of `[rows, classes]` logits against `[rows]` labels: `[1]`.
    fn fused_cross_entropy(logits: FloatTensor<Self>, labels: IntTensor<Self>)
    -> FloatTensor<Self>;
}

/// Which loss.
#[derive(Debug, Clone, Copy)]
enum Loss {
    Binary,
    Softmax,
}

/// The loss of `logits` on the host: its value and its gradient with respect to the logits,
/// with the logits' shape and dtype.
fn compute<B: Backend>(
    loss: Loss,
    logits: FloatTensor<B>,
    labels: IntTensor<B>,
) -> (f32, Vec<f32>, Vec<usize>, DType) {
    let shape = logits.shape().to_vec();
    let (x, dtype) = read::<B>(logits);
    let labels = read_ints::<B>(labels);
    let classes = shape.last().copied().unwrap_or(1);
    assert_eq!(
        x.len(),
        labels.len() * classes,
        "logits {shape:?} do not fit {} labels",
        labels.len()
    );
    let (value, grad) = match loss {
        Loss::Binary => kernels::binary_cross_entropy(&x, &labels),
        Loss::Softmax => kernels::cross_entropy(&x, &labels, classes),
    };
    (value, grad, shape, dtype)
}

fn run<B: Backend>(loss: Loss, logits: FloatTensor<B>, labels: IntTensor<B>) -> FloatTensor<B> {
    let device = logits.device();
    let (value, _, _, dtype) = compute::<B>(loss, logits, labels);
    write::<B>(vec![value], vec![1], dtype, &device)
}

macro_rules! cpu_backend {
    ($backend:ty) => {
        impl FusedLossBackend for $backend {
            fn fused_binary_cross_entropy(
                logits: FloatTensor<Self>,
                labels: IntTensor<Self>,
            ) -> FloatTensor<Self> {
                run::<Self>(Loss::Binary, logits, labels)
            }

            fn fused_cross_entropy(
                logits: FloatTensor<Self>,
                labels: IntTensor<Self>,
            ) -> FloatTensor<Self> {
                run::<Self>(Loss::Softmax, logits, labels)
            }
        }
    };
}

#[cfg(feature = "flex")]
cpu_backend!(burn::backend::Flex);
#[cfg(feature = "ndarray")]
cpu_backend!(burn::backend::NdArray);

/// What the backward pass needs: the loss's gradient with respect to the logits.
#[derive(Debug, Clone)]
struct Saved<D> {
    grad: Vec<f32>,
    shape: Vec<usize>,
    dtype: DType,
    device: D,
}

/// Scales the saved gradient by the loss's incoming gradient.
#[derive(Debug)]
struct LossBackward;

impl<B: Backend> Backward<B, 1> for LossBackward {
    type State = Saved<Device<B>>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let (incoming, _) = read::<B>(grads.consume::<B>(&ops.node));
        let scale = incoming.first().copied().unwrap_or(1.0);
        let mut grad = saved.grad;
        if scale != 1.0 {
            grad.iter_mut().for_each(|g| *g *= scale);
        }
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        register_gradients::<B, 1>(
            grads,
            parents,
            [Some(grad)],
            [saved.shape],
            [saved.dtype],
            &saved.device,
        );
    }
}

fn tracked<B: Backend, C: CheckpointStrategy>(
    loss: Loss,
    logits: FloatTensor<Autodiff<B, C>>,
    labels: IntTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let prep = LossBackward
        .prepare::<C>([logits.node()])
        .compute_bound()
        .stateful();
    let device = logits.primitive().device();
    let (value, grad, shape, dtype) = compute::<B>(loss, logits.into_primitive(), labels);
    let output = write::<B>(vec![value], vec![1], dtype, &device);
    match prep {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                grad,
                shape,
                dtype,
                device,
            },
            output,
        ),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

impl<B: FusedLossBackend, C: CheckpointStrategy> FusedLossBackend for Autodiff<B, C> {
    fn fused_binary_cross_entropy(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked::<B, C>(Loss::Binary, logits, labels)
    }

    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked::<B, C>(Loss::Softmax, logits, labels)
    }
}
