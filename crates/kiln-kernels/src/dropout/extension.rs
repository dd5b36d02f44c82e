//! The bit-mask dropout as a Burn backend extension: the mask and the values on the CPU
//! backends, and for autodiff a backward pass that reads the kept elements from the mask's bits.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{Device, FloatTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::DType;

use super::kernels;
use crate::host::{read, register_gradients, write};

/// Dropout with a mask drawn from a seed.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait BitDropoutBackend: Backend {
    /// `(x * kept) * scale`, each element kept with probability `threshold / 2^32`, the mask a
    /// function of `seed` and each element's index ([`kernels::mask`]).
    fn bit_dropout(
        x: FloatTensor<Self>,
        seed: u64,
        threshold: u64,
        scale: f32,
    ) -> FloatTensor<Self>;
}

/// The mask of `x` and the forward values on the host, with `x`'s shape and dtype. They
/// overwrite `x`'s own buffer where no other tensor shares it (no second buffer of the
/// input's size).
fn values<B: Backend>(
    x: FloatTensor<B>,
    seed: u64,
    threshold: u64,
    scale: f32,
) -> (Vec<u64>, Vec<f32>, Vec<usize>, DType) {
    let shape = x.shape().to_vec();
    let (mut values, dtype) = read::<B>(x);
    let bits = kernels::mask(seed, threshold, values.len());
    kernels::forward(&mut values, &bits, scale);
    (bits, values, shape, dtype)
}

fn run<B: Backend>(x: FloatTensor<B>, seed: u64, threshold: u64, scale: f32) -> FloatTensor<B> {
    let device = x.device();
    let (_, out, shape, dtype) = values::<B>(x, seed, threshold, scale);
    write::<B>(out, shape, dtype, &device)
}

/// The host implementation for a CPU backend.
macro_rules! host_backend {
    ($feature:literal, $backend:ty) => {
        #[cfg(feature = $feature)]
        impl BitDropoutBackend for $backend {
            fn bit_dropout(
                x: FloatTensor<Self>,
                seed: u64,
                threshold: u64,
                scale: f32,
            ) -> FloatTensor<Self> {
                run::<Self>(x, seed, threshold, scale)
            }
        }
    };
}

host_backend!("flex", burn::backend::Flex);
host_backend!("ndarray", burn::backend::NdArray);

/// What the backward pass keeps: the kept elements as bits, and the scale.
#[derive(Debug, Clone)]
struct Saved<D> {
    bits: Vec<u64>,
    scale: f32,
    dtype: DType,
    device: D,
}

/// Passes the gradient back through the kept elements.
#[derive(Debug)]
struct DropoutBackward;

impl<B: Backend> Backward<B, 1> for DropoutBackward {
    type State = Saved<Device<B>>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let incoming = grads.consume::<B>(&ops.node);
        let shape = incoming.shape().to_vec();
        let (mut grad, _) = read::<B>(incoming);
        kernels::backward(&mut grad, &saved.bits, saved.scale);
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        register_gradients::<B, 1>(
            grads,
            parents,
            [Some(grad)],
            [shape],
            [saved.dtype],
            &saved.device,
        );
    }
}

impl<B: BitDropoutBackend, C: CheckpointStrategy> BitDropoutBackend for Autodiff<B, C> {
    fn bit_dropout(
        x: FloatTensor<Self>,
        seed: u64,
        threshold: u64,
        scale: f32,
    ) -> FloatTensor<Self> {
        let prep = DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let device = x.primitive().device();
        let (bits, out, shape, dtype) = values::<B>(x.into_primitive(), seed, threshold, scale);
        let output = write::<B>(out, shape, dtype, &device);
        match prep {
            OpsKind::Tracked(prep) => {
                let saved = Saved {
                    bits,
                    scale,
                    dtype,
                    device,
                };
                prep.finish(saved, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }
}
