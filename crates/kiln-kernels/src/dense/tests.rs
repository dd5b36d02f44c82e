//! The fused dense layer against the same maths from Burn's tensor operations: outputs and the
//! gradients of input, weight and bias, with and without ReLU and bias, split across threads,
//! in half precision, and off autodiff.

use burn::prelude::*;
use burn::tensor::DType;

use super::{composed, dense, kernels};
use crate::testing::{assert_close, values};

struct Case {
    rows: usize,
    inputs: usize,
    outputs: usize,
}

/// A tensor of fixed pseudo-random values in [-1, 1] (no global generator: tests run at once).
fn fixed(shape: [usize; 2], seed: usize, device: &Device) -> Tensor<2> {
    let n = shape[0] * shape[1];
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 + seed * 104_729) as f32 * 0.618_034).sin())
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The output and the gradients (x, weight, bias) of `f`, weighted by a fixed random tensor.
fn run(
    f: impl Fn(Tensor<2>, Tensor<2>, Option<Tensor<1>>) -> Tensor<2>,
    case: &Case,
    with_bias: bool,
    dtype: DType,
) -> Vec<Tensor<2>> {
    let device = Device::flex().autodiff();
    let x = fixed([case.rows, case.inputs], 1, &device);
    let w = fixed([case.inputs, case.outputs], 2, &device);
    let b: Tensor<1> = fixed([1, case.outputs], 3, &device).squeeze_dim(0);
    let weights = fixed([case.rows, case.outputs], 4, &device);
    let (x, w, b) = (
        x.cast(dtype).require_grad(),
        w.cast(dtype).require_grad(),
        b.cast(dtype).require_grad(),
    );
    let out = f(x.clone(), w.clone(), with_bias.then(|| b.clone()));
    assert_eq!(out.dtype(), dtype, "the output takes the input's dtype");
    let grads = (out.clone().cast(DType::F32) * weights).sum().backward();
    let f32 = |t: Tensor<2>| t.cast(DType::F32);
    let mut all = vec![
        f32(out.detach()),
        f32(x.grad(&grads).expect("x's gradient")),
        f32(w.grad(&grads).expect("the weight's gradient")),
    ];
    if with_bias {
        let db = b.grad(&grads).expect("the bias gradient").cast(DType::F32);
        all.push(db.unsqueeze());
    }
    all
}

fn check(case: Case, relu: bool, with_bias: bool, dtype: DType, tol: f32) {
    let fused = run(|x, w, b| dense(x, w, b, relu), &case, with_bias, dtype);
    let reference = run(|x, w, b| composed(x, w, b, relu), &case, with_bias, dtype);
    let names = ["output", "x gradient", "weight gradient", "bias gradient"];
    for ((a, e), name) in fused.into_iter().zip(reference).zip(names) {
        let what = format!(
            "{name}, {}x{}x{}, relu {relu}, bias {with_bias}, {dtype:?}",
            case.rows, case.inputs, case.outputs
        );
        assert_close(a, e, tol, &what);
    }
}

#[test]
fn matches_burns_layers_with_and_without_relu_and_bias() {
    assert!(crate::has_fused_kernel(&Device::flex().autodiff()));
    for relu in [true, false] {
        for with_bias in [true, false] {
            let case = Case {
                rows: 7,
                inputs: 13,
                outputs: 5,
            };
            check(case, relu, with_bias, DType::F32, 1e-5);
        }
    }
}

#[test]
fn matches_burns_layers_split_across_threads() {
    // 256 x 128 x 64: two parts of rows for the output and the input gradient, two parts of
    // input features for the weight gradient (where the pool has two threads or more).
    let case = Case {
        rows: 256,
        inputs: 128,
        outputs: 64,
    };
    check(case, true, true, DType::F32, 1e-5);
}

#[test]
fn matches_burns_layers_in_half_precision() {
    for dtype in [DType::F16, DType::BF16] {
        let case = Case {
            rows: 9,
            inputs: 20,
            outputs: 6,
        };
        check(case, true, true, dtype, 2e-2);
    }
}

#[test]
fn an_input_without_a_gradient_gets_none() {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::ones([3, 4], &device);
    let w = Tensor::<2>::ones([4, 2], &device).require_grad();
    let grads = dense(x.clone(), w.clone(), None, true).sum().backward();
    assert!(x.grad(&grads).is_none());
    // Every output is 4 > 0, so each weight's gradient is the column sum of x: 3.
    assert_eq!(
        values(w.grad(&grads).expect("weight gradient")),
        vec![3.0; 8]
    );
}

#[test]
fn off_autodiff_it_equals_the_composed_layer() {
    let device = Device::flex();
    let x = fixed([300, 96], 5, &device);
    let w = fixed([96, 70], 6, &device);
    let b: Tensor<1> = fixed([1, 70], 7, &device).squeeze_dim(0);
    for relu in [true, false] {
        let fused = dense(x.clone(), w.clone(), Some(b.clone()), relu);
        let reference = composed(x.clone(), w.clone(), Some(b.clone()), relu);
        assert_close(fused, reference, 1e-5, &format!("inference, relu {relu}"));
    }
}

#[test]
#[should_panic(expected = "do not fit")]
fn shapes_that_do_not_fit_are_refused() {
    let device = Device::flex();
    dense(
        Tensor::<2>::ones([2, 3], &device),
        Tensor::<2>::ones([4, 5], &device),
        None,
        false,
    );
}

#[test]
#[should_panic(expected = "do not fit")]
fn a_bias_of_another_width_is_refused() {
    let device = Device::flex();
    dense(
        Tensor::<2>::ones([2, 3], &device),
        Tensor::<2>::ones([3, 5], &device),
        Some(Tensor::<1>::ones([4], &device)),
        false,
    );
}

#[test]
fn the_relu_gradient_passes_where_the_output_was_positive() {
    let mut dy = vec![1.0, 2.0, 3.0, 4.0];
    kernels::relu_backward(&mut dy, &[0.5, 0.0, -1.0, 2.0]);
    assert_eq!(dy, vec![1.0, 0.0, 0.0, 4.0]);
    let dz = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(kernels::bias_grad(&dz, 3), vec![5.0, 7.0, 9.0]);
}
