//! The fused dense layer against the composed reference: same outputs and the same gradients for
//! the input, weight and bias, with and without the ReLU, for a dense input (gemm), a mostly-zero
//! one (the sparse product), a batch split across threads and half precision.

use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use kiln_kernels::testing::assert_close;

use super::{composed_dense, dense};

/// The output of a layer and the gradients of `sum(output * probe)` for its input, weight and
/// bias.
struct Outcome {
    out: Tensor<2>,
    dx: Tensor<2>,
    dw: Tensor<2>,
    db: Tensor<1>,
}

fn run(
    f: impl Fn(Tensor<2>, Tensor<2>, Option<Tensor<1>>) -> Tensor<2>,
    (x, w, b): (&Tensor<2>, &Tensor<2>, &Tensor<1>),
    probe: &Tensor<2>,
) -> Outcome {
    let x = x.clone().require_grad();
    let w = w.clone().require_grad();
    let b = b.clone().require_grad();
    let out = f(x.clone(), w.clone(), Some(b.clone()));
    let grads = (out.clone() * probe.clone()).sum().backward();
    Outcome {
        dx: x.grad(&grads).expect("input gradient"),
        dw: w.grad(&grads).expect("weight gradient"),
        db: b.grad(&grads).expect("bias gradient"),
        out: out.inner(),
    }
}

/// `x` with all but `keep` of its values set to zero (every value kept when `keep` is 1).
fn thinned(x: Tensor<2>, keep: f64) -> Tensor<2> {
    let mask = x
        .random_like(Distribution::Uniform(0.0, 1.0))
        .lower_elem(keep);
    x.mask_fill(mask.bool_not(), 0.0)
}

#[test]
fn fused_matches_composed_outputs_and_gradients() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let normal = Distribution::Normal(0.0, 1.0);
    // (batch, inputs, outputs, share of nonzero inputs): the reference MLP's first layer, dense
    // (gemm) and sparse enough for the sparse product; widths across the kernel's tiles; one
    // row as sparse as an MNIST digit (sparse product).
    let cases = [
        (64, 784, 256, 1.0),
        (64, 784, 256, 0.05),
        (256, 300, 130, 0.04),
        (256, 300, 130, 0.3),
        (7, 50, 10, 1.0),
        (3, 40, 33, 0.0),
        (1, 784, 256, 0.19),
    ];
    for (batch, inputs, outputs, keep) in cases {
        let x = thinned(Tensor::<2>::random([batch, inputs], normal, &device), keep);
        let w = Tensor::<2>::random([inputs, outputs], normal, &device) * 0.05;
        let b = Tensor::<2>::random([1, outputs], normal, &device).reshape([outputs]) * 0.1;
        for relu in [true, false] {
            let reference = composed_dense(x.clone(), w.clone(), Some(b.clone()), relu);
            let probe = reference.random_like(normal);
            let what = format!("{batch}x{inputs} -> {outputs}, nonzero {keep}, relu {relu}");
            let fused = run(|x, w, b| dense(x, w, b, relu), (&x, &w, &b), &probe);
            let composed = run(
                |x, w, b| composed_dense(x, w, b, relu),
                (&x, &w, &b),
                &probe,
            );
            assert_close(fused.out, composed.out, 1e-5, &format!("{what}: output"));
            assert_close(
                fused.dx,
                composed.dx,
                1e-5,
                &format!("{what}: input gradient"),
            );
            assert_close(
                fused.dw,
                composed.dw,
                1e-5,
                &format!("{what}: weight gradient"),
            );
            assert_close(
                fused.db,
                composed.db,
                1e-5,
                &format!("{what}: bias gradient"),
            );
        }
    }
}

#[test]
fn inference_without_bias_and_in_half_precision() {
    let device = Device::flex();
    device.seed(9);
    let normal = Distribution::Normal(0.0, 1.0);
    let x = thinned(Tensor::<2>::random([33, 96], normal, &device), 0.2);
    let w = Tensor::<2>::random([96, 40], normal, &device) * 0.1;
    let expected = composed_dense(x.clone(), w.clone(), None, true);
    let fused = dense(x.clone(), w.clone(), None, true);
    assert_close(fused, expected.clone(), 1e-5, "no bias");
    let half = dense(x.cast(DType::F16), w.cast(DType::F16), None, true);
    assert_eq!(half.dtype(), DType::F16);
    assert_close(half.cast(DType::F32), expected, 1e-2, "f16");
}
