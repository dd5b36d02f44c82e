//! The fused kernel against the composed reference: same outputs and the same gradients for the
//! input, weight and bias, for several geometries (padding, stride, pooling sizes, odd sizes
//! whose last pooling window is dropped), a batch small enough for one part and one split across
//! threads, and half precision.

use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use kiln_kernels::testing::assert_close;

use super::{ConvPool, composed, conv_relu_pool, conv2d};

/// `(batch, channels, size, filters, kernel, spec)` cases.
fn cases() -> Vec<(usize, usize, usize, usize, usize, ConvPool)> {
    let spec = |stride, padding, pool| ConvPool {
        stride,
        padding,
        pool,
    };
    vec![
        // The reference CNN's two layers, batch large enough to split.
        (64, 1, 28, 8, 3, spec(1, 0, 2)),
        (64, 8, 13, 16, 3, spec(1, 0, 2)),
        // Patches of 144 values and filters in whole vectors: the direct convolution, then the
        // pooling pass (one that drops the last row and column too).
        (8, 16, 13, 32, 3, spec(1, 0, 2)),
        (3, 16, 10, 16, 3, spec(1, 1, 3)),
        // Padding, no pooling; stride 2; a pool of 3 that drops the last row and column.
        (3, 2, 7, 4, 3, spec(1, 1, 1)),
        (2, 3, 9, 5, 3, spec(2, 1, 2)),
        (2, 2, 10, 3, 5, spec(1, 2, 3)),
    ]
}

/// The output of a block and the gradients of `sum(output * probe)` for its input, weight and
/// bias.
struct Outcome {
    out: Tensor<4>,
    dx: Tensor<4>,
    dw: Tensor<4>,
    db: Tensor<1>,
}

/// Runs `f` on fresh tracked copies of `(x, w, b)`.
fn run(
    f: impl Fn(Tensor<4>, Tensor<4>, Tensor<1>) -> Tensor<4>,
    (x, w, b): (&Tensor<4>, &Tensor<4>, &Tensor<1>),
    probe: &Tensor<4>,
) -> Outcome {
    let x = x.clone().require_grad();
    let w = w.clone().require_grad();
    let b = b.clone().require_grad();
    let out = f(x.clone(), w.clone(), b.clone());
    let grads = (out.clone() * probe.clone()).sum().backward();
    Outcome {
        dx: x.grad(&grads).expect("input gradient"),
        dw: w.grad(&grads).expect("weight gradient"),
        db: b.grad(&grads).expect("bias gradient"),
        out: out.inner(),
    }
}

#[test]
fn fused_matches_composed_outputs_and_gradients() {
    let device = Device::flex().autodiff();
    let _rng = crate::test_rng::rng_guard();
    device.seed(11);
    let normal = Distribution::Normal(0.0, 1.0);
    for (batch, channels, size, filters, kernel, spec) in cases() {
        let x = Tensor::<4>::random([batch, channels, size, size], normal, &device);
        let w = Tensor::<4>::random([filters, channels, kernel, kernel], normal, &device) * 0.3;
        let b = Tensor::<1>::random([filters], normal, &device) * 0.1;
        let reference = composed::conv_relu_pool(x.clone(), w.clone(), b.clone(), spec);
        let probe = reference.random_like(normal);
        let what = format!("{batch}x{channels}x{size} -> {filters} k{kernel} {spec:?}");
        let fused = run(
            |x, w, b| conv_relu_pool(x, w, b, spec),
            (&x, &w, &b),
            &probe,
        );
        let composed = run(
            |x, w, b| composed::conv_relu_pool(x, w, b, spec),
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

#[test]
fn plain_convolution_matches_burns_outputs_and_gradients() {
    let device = Device::flex().autodiff();
    let _rng = crate::test_rng::rng_guard();
    device.seed(13);
    let normal = Distribution::Normal(0.0, 1.0);
    // The ResNet preset's shapes (3x3 padded, 3x3 stride 2, 1x1 stride-2 projection), batches
    // split across threads, and odd sizes; 3x3 stride-1 convolutions wide enough for the direct
    // kernel (forward, and the input gradient as a convolution of the output gradient).
    let cases = [
        (4, 32, 7, 32, 3, 1, 1),
        (3, 16, 6, 16, 3, 1, 1),
        (64, 1, 28, 8, 3, 1, 1),
        (32, 8, 14, 16, 3, 2, 1),
        (32, 8, 14, 16, 1, 2, 0),
        (3, 2, 7, 4, 3, 1, 1),
        (2, 3, 9, 5, 5, 2, 2),
    ];
    for (batch, channels, size, filters, kernel, stride, padding) in cases {
        let x = Tensor::<4>::random([batch, channels, size, size], normal, &device);
        let w = Tensor::<4>::random([filters, channels, kernel, kernel], normal, &device) * 0.3;
        let b = Tensor::<1>::random([filters], normal, &device) * 0.1;
        let reference = composed::conv2d(x.clone(), w.clone(), b.clone(), stride, padding);
        let probe = reference.random_like(normal);
        let what = format!("{batch}x{channels}x{size} -> {filters} k{kernel} s{stride} p{padding}");
        let fused = run(
            |x, w, b| conv2d(x, w, b, stride, padding),
            (&x, &w, &b),
            &probe,
        );
        let burn = run(
            |x, w, b| composed::conv2d(x, w, b, stride, padding),
            (&x, &w, &b),
            &probe,
        );
        assert_close(fused.out, burn.out, 1e-5, &format!("{what}: output"));
        assert_close(fused.dx, burn.dx, 1e-5, &format!("{what}: input gradient"));
        assert_close(fused.dw, burn.dw, 1e-5, &format!("{what}: weight gradient"));
        assert_close(fused.db, burn.db, 1e-5, &format!("{what}: bias gradient"));
    }
}

#[test]
fn untracked_input_gets_no_gradient_and_weights_still_do() {
    let device = Device::flex().autodiff();
    let _rng = crate::test_rng::rng_guard();
    device.seed(5);
    let normal = Distribution::Normal(0.0, 1.0);
    let spec = ConvPool {
        stride: 1,
        padding: 0,
        pool: 2,
    };
    let x = Tensor::<4>::random([4, 1, 8, 8], normal, &device);
    let w = Tensor::<4>::random([3, 1, 3, 3], normal, &device).require_grad();
    let b = Tensor::<1>::zeros([3], &device).require_grad();
    let fused = conv_relu_pool(x.clone(), w.clone(), b.clone(), spec);
    let grads = fused.sum().backward();
    let reference = composed::conv_relu_pool(x, w.clone(), b.clone(), spec);
    let expected = reference.sum().backward();
    assert_close(
        w.grad(&grads).unwrap(),
        w.grad(&expected).unwrap(),
        1e-5,
        "weight",
    );
    assert_close(
        b.grad(&grads).unwrap(),
        b.grad(&expected).unwrap(),
        1e-5,
        "bias",
    );
}

#[test]
fn half_precision_inputs_come_back_in_their_type() {
    let normal = Distribution::Normal(0.0, 1.0);
    let spec = ConvPool {
        stride: 1,
        padding: 1,
        pool: 2,
    };
    for dtype in [DType::F16, DType::BF16] {
        let device = Device::flex();
        let _rng = crate::test_rng::rng_guard();
        device.seed(3);
        let x = Tensor::<4>::random([2, 3, 6, 6], normal, &device);
        let w = Tensor::<4>::random([4, 3, 3, 3], normal, &device) * 0.3;
        let b = Tensor::<1>::random([4], normal, &device) * 0.1;
        let expected = composed::conv_relu_pool(x.clone(), w.clone(), b.clone(), spec);
        let half = conv_relu_pool(x.cast(dtype), w.cast(dtype), b.cast(dtype), spec);
        assert_eq!(half.dtype(), dtype);
        assert_close(half, expected, 2e-2, &format!("{dtype:?}"));
    }
}

#[test]
fn inference_without_autodiff_matches_composed() {
    let device = Device::flex();
    let _rng = crate::test_rng::rng_guard();
    device.seed(9);
    let normal = Distribution::Normal(0.0, 1.0);
    for (batch, channels, size, filters, kernel, spec) in cases() {
        let x = Tensor::<4>::random([batch, channels, size, size], normal, &device);
        let w = Tensor::<4>::random([filters, channels, kernel, kernel], normal, &device);
        let b = Tensor::<1>::random([filters], normal, &device);
        let expected = composed::conv_relu_pool(x.clone(), w.clone(), b.clone(), spec);
        let fused = conv_relu_pool(x, w, b, spec);
        assert_close(fused, expected, 1e-5, &format!("{spec:?}"));
    }
}

#[test]
fn inference_on_the_direct_kernel_matches_burn_at_batch_one_and_split() {
    let device = Device::flex();
    let _rng = crate::test_rng::rng_guard();
    device.seed(17);
    let normal = Distribution::Normal(0.0, 1.0);
    // The ResNet preset's 3x3 convolutions (the direct kernel's shapes; batch 1 splits its
    // filters across threads, batch 6 its samples) and a 1x1 projection (the im2col path).
    let cases = [
        (1, 64, 14, 128, 3, 2, 1),
        (1, 128, 7, 128, 3, 1, 1),
        (6, 32, 28, 64, 3, 2, 1),
        (6, 64, 14, 64, 3, 1, 1),
        (1, 64, 14, 128, 1, 2, 0),
    ];
    for (batch, channels, size, filters, kernel, stride, padding) in cases {
        let x = Tensor::<4>::random([batch, channels, size, size], normal, &device);
        let w = Tensor::<4>::random([filters, channels, kernel, kernel], normal, &device) * 0.1;
        let b = Tensor::<1>::random([filters], normal, &device) * 0.1;
        let what = format!("{batch}x{channels}x{size} -> {filters} k{kernel} s{stride}");
        let expected = composed::conv2d(x.clone(), w.clone(), b.clone(), stride, padding);
        let fused = conv2d(x.clone(), w.clone(), b.clone(), stride, padding);
        assert_close(fused, expected.clone(), 1e-5, &format!("{what}: conv"));
        let spec = ConvPool {
            stride,
            padding,
            pool: 1,
        };
        let rectified = conv_relu_pool(x, w, b, spec);
        assert_close(
            rectified,
            expected.clamp_min(0.0),
            1e-5,
            &format!("{what}: relu"),
        );
    }
}

#[test]
fn residual_end_adds_the_skip_before_the_relu() {
    let device = Device::flex();
    let _rng = crate::test_rng::rng_guard();
    device.seed(19);
    let normal = Distribution::Normal(0.0, 1.0);
    // (batch, channels, size, filters): the direct kernel at batch 3 and 1 (filters split), and
    // a shape it does not take (the skip added after the im2col path).
    for (batch, channels, size, filters) in [(3, 64, 7, 64), (1, 32, 6, 32), (2, 3, 5, 4)] {
        let x = Tensor::<4>::random([batch, channels, size, size], normal, &device);
        let w = Tensor::<4>::random([filters, channels, 3, 3], normal, &device) * 0.1;
        let b = Tensor::<1>::random([filters], normal, &device) * 0.1;
        let skip = Tensor::<4>::random([batch, filters, size, size], normal, &device);
        let expected =
            (composed::conv2d(x.clone(), w.clone(), b.clone(), 1, 1) + skip.clone()).clamp_min(0.0);
        let fused = super::conv2d_add_relu(x, w, b, skip, 1, 1);
        assert_close(
            fused,
            expected,
            1e-5,
            &format!("{batch}x{channels}x{size} -> {filters}"),
        );
    }
}
