//! Moving a CPU backend's tensor primitives to host vectors of f32 and back.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use burn::backend::Backend;
use burn::backend::TensorMetadata;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::tensor::{Device, FloatTensor, IntTensor};
use burn::tensor::{DType, TensorData};

/// Runs a future that a CPU backend completes at once (polling again if it does not).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}

/// A float primitive as f32 values in row-major order, with its dtype.
pub fn read<B: Backend>(tensor: FloatTensor<B>) -> (Vec<f32>, DType) {
    let dtype = tensor.dtype();
    let data = block_on(B::float_into_data(tensor)).expect("a CPU tensor can be read");
    let data = if dtype == DType::F32 {
        data
    } else {
        data.convert::<f32>()
    };
    let values = data.try_into_vec::<f32>().expect("f32 values");
    (values, dtype)
}

/// The f32 values of a float primitive in row-major order, borrowed where the backend keeps them
/// contiguous in f32 (flex), so that an inference call does not copy the weights it only reads
/// (the character model's recurrent weight is 5.3 MB, read for every generated character); a
/// copy elsewhere.
pub fn borrow<B: Backend>(tensor: &FloatTensor<B>) -> std::borrow::Cow<'_, [f32]> {
    #[cfg(feature = "flex")]
    {
        let any: &dyn std::any::Any = tensor;
        if let Some(flex) = any.downcast_ref::<FloatTensor<burn::backend::Flex>>()
            && flex.dtype() == DType::F32
            && let Some(values) = flex.as_slice::<f32>()
        {
            return std::borrow::Cow::Borrowed(values);
        }
    }
    std::borrow::Cow::Owned(read::<B>(tensor.clone()).0)
}

/// An int primitive as i64 values in row-major order.
pub fn read_ints<B: Backend>(tensor: IntTensor<B>) -> Vec<i64> {
    let data = block_on(B::int_into_data(tensor)).expect("a CPU tensor can be read");
    data.convert::<i64>()
        .try_into_vec::<i64>()
        .expect("i64 values")
}

/// f32 values as a float primitive of `shape` and `dtype` on `device`.
pub fn write<B: Backend>(
    values: Vec<f32>,
    shape: Vec<usize>,
    dtype: DType,
    device: &Device<B>,
) -> FloatTensor<B> {
    let data = TensorData::new(values, shape);
    let data = if dtype == DType::F32 {
        data
    } else {
        data.convert_dtype(dtype)
    };
    B::float_from_data(data, device)
}

/// Registers the gradients a hand-written backward pass computed: for each parent that takes
/// one (`Some` node) and has a value, the value as a primitive of its shape and dtype.
pub fn register_gradients<B: Backend, const N: usize>(
    grads: &mut Gradients,
    parents: [Option<NodeId>; N],
    values: [Option<Vec<f32>>; N],
    shapes: [Vec<usize>; N],
    dtypes: [DType; N],
    device: &Device<B>,
) {
    let each = parents.into_iter().zip(values).zip(shapes).zip(dtypes);
    for (((parent, value), shape), dtype) in each {
        if let (Some(node), Some(value)) = (parent, value) {
            grads.register::<B>(node, write::<B>(value, shape, dtype, device));
        }
    }
}
