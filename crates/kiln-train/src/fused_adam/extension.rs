//! The fused Adam update as a Burn backend extension: on flex it updates the parameter and its two
//! moments in their own buffers (no copies, no allocations, when no other tensor shares them);
//! elsewhere through host vectors.

// burn-ndarray is deprecated upstream, but Kiln keeps it as an option (users ask for it).
#![allow(deprecated)]

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata, backend_extension};
use kiln_kernels::host::{borrow, read, write};

use super::coefficients::{Coefficients, SCALARS};
use super::update::update;

/// One Adam update of a parameter from its gradient and moments.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"))]
pub trait AdamStepBackend: Backend {
    /// The updated `(value, moment_1, moment_2)`; `coefficients` as
    /// [`Coefficients::to_array`] gives them, `[first, decoupled]`: `first` for the first step
    /// (the moments' values are then ignored), `decoupled` for AdamW's rule.
    fn adam_step(
        value: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        coefficients: [f32; SCALARS],
        flags: [bool; 2],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Through host vectors (any CPU backend).
fn on_host<B: Backend>(
    value: FloatTensor<B>,
    grad: FloatTensor<B>,
    moment_1: FloatTensor<B>,
    moment_2: FloatTensor<B>,
    c: Coefficients,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (device, shape, dtype) = (value.device(), value.shape().to_vec(), value.dtype());
    let (mut v, _) = read::<B>(value);
    let (mut m1, _) = read::<B>(moment_1);
    let (mut m2, _) = read::<B>(moment_2);
    update(&mut v, &mut m1, &mut m2, &borrow::<B>(&grad), c);
    let tensor = |values| write::<B>(values, shape.clone(), dtype, &device);
    (tensor(v), tensor(m1), tensor(m2))
}

#[cfg(feature = "ndarray")]
impl AdamStepBackend for burn::backend::NdArray {
    fn adam_step(
        value: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        coefficients: [f32; SCALARS],
        [first, decoupled]: [bool; 2],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let c = Coefficients::from_array(coefficients, decoupled, first);
        on_host::<Self>(value, grad, moment_1, moment_2, c)
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::Flex;
    use burn::backend::tensor::FloatTensor;

    use super::{AdamStepBackend, Coefficients, SCALARS, on_host, update};

    /// Whether `t` is f32 values filling its whole buffer in order (so the buffer can be
    /// updated in place).
    fn whole_buffer(t: &FloatTensor<Flex>) -> bool {
        t.as_slice::<f32>()
            .is_some_and(|s| s.len() * 4 == t.bytes().len())
    }

    impl AdamStepBackend for Flex {
        fn adam_step(
            mut value: FloatTensor<Self>,
            grad: FloatTensor<Self>,
            mut moment_1: FloatTensor<Self>,
            mut moment_2: FloatTensor<Self>,
            coefficients: [f32; SCALARS],
            [first, decoupled]: [bool; 2],
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let c = Coefficients::from_array(coefficients, decoupled, first);
            let in_place = [&value, &moment_1, &moment_2].into_iter().all(whole_buffer);
            let Some(g) = grad.as_slice::<f32>().filter(|_| in_place) else {
                return on_host::<Self>(value, grad, moment_1, moment_2, c);
            };
            // `storage_mut` copies a buffer first only where another tensor shares it.
            update(
                value.storage_mut::<f32>(),
                moment_1.storage_mut::<f32>(),
                moment_2.storage_mut::<f32>(),
                g,
                c,
            );
            (value, moment_1, moment_2)
        }
    }
}
