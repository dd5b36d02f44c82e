//! The fused training batch norm against Burn's `batch_norm_train` with the skip and the ReLU
//! composed: the same output, statistics and gradients for `z`, `gamma`, `beta` and `skip`.

use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use kiln_kernels::testing::assert_close;

use super::{BatchNormOutput, batch_norm_train, composed};

/// The output, statistics and the gradients of `sum(output * probe)`.
struct Outcome {
    out: BatchNormOutput,
    dz: Tensor<4>,
    dgamma: Tensor<1>,
    dbeta: Tensor<1>,
    dskip: Option<Tensor<4>>,
}

fn run(
    norm: impl Fn(Tensor<4>, Tensor<1>, Tensor<1>, Option<Tensor<4>>, bool, f64) -> BatchNormOutput,
    (z, gamma, beta, skip): (&Tensor<4>, &Tensor<1>, &Tensor<1>, Option<&Tensor<4>>),
    relu: bool,
    probe: &Tensor<4>,
) -> Outcome {
    let z = z.clone().require_grad();
    let gamma = gamma.clone().require_grad();
    let beta = beta.clone().require_grad();
    let skip = skip.map(|s| s.clone().require_grad());
    let out = norm(
        z.clone(),
        gamma.clone(),
        beta.clone(),
        skip.clone(),
        relu,
        1e-5,
    );
    let grads = (out.output.clone() * probe.clone()).sum().backward();
    Outcome {
        dz: z.grad(&grads).expect("z gradient"),
        dgamma: gamma.grad(&grads).expect("gamma gradient"),
        dbeta: beta.grad(&grads).expect("beta gradient"),
        dskip: skip.map(|s| s.grad(&grads).expect("skip gradient")),
        out,
    }
}

#[test]
fn fused_batch_norm_matches_burns() {
    let device = Device::flex().autodiff();
    let _rng = crate::test_rng::rng_guard();
    device.seed(17);
    let normal = Distribution::Normal(0.0, 1.0);
    // The ResNet preset's maps (batch 64), an odd plane and a batch of one.
    let shapes = [[64, 32, 28, 28], [64, 16, 7, 7], [3, 5, 3, 5], [1, 4, 2, 2]];
    for shape in shapes {
        for (relu, with_skip) in [(false, false), (false, true), (true, false), (true, true)] {
            let z = Tensor::<4>::random(shape, normal, &device) * 2.0 + 0.5;
            let gamma = Tensor::<1>::random([shape[1]], normal, &device);
            let beta = Tensor::<1>::random([shape[1]], normal, &device);
            let skip = with_skip.then(|| Tensor::<4>::random(shape, normal, &device));
            let probe = z.random_like(normal);
            let inputs = (&z, &gamma, &beta, skip.as_ref());
            let fused = run(batch_norm_train, inputs, relu, &probe);
            // Where a value before the ReLU is within rounding of 0, the two may cut it
            // differently; so the reference's ReLU keeps what the fused output kept.
            let kept = fused.out.output.clone().inner().greater_elem(0.0).float();
            let kept = Tensor::from_inner(kept);
            let reference = |z, gamma, beta, skip, relu, epsilon| {
                let mut out = composed::batch_norm_train(z, gamma, beta, skip, false, epsilon);
                if relu {
                    out.output = out.output * kept.clone();
                }
                out
            };
            let burn = run(reference, inputs, relu, &probe);
            let what = format!("{shape:?} relu {relu} skip {with_skip}");
            let near = |a, b, what: &str| assert_close(a, b, 1e-4, what);
            near(
                fused.out.output.inner(),
                burn.out.output.inner(),
                &format!("{what}: output"),
            );
            assert_close(
                fused.out.mean,
                burn.out.mean,
                1e-4,
                &format!("{what}: mean"),
            );
            assert_close(
                fused.out.variance,
                burn.out.variance,
                1e-4,
                &format!("{what}: var"),
            );
            near(fused.dz.inner(), burn.dz.inner(), &format!("{what}: dz"));
            assert_close(fused.dgamma, burn.dgamma, 1e-3, &format!("{what}: dgamma"));
            assert_close(fused.dbeta, burn.dbeta, 1e-3, &format!("{what}: dbeta"));
            if let (Some(a), Some(b)) = (fused.dskip, burn.dskip) {
                near(a.inner(), b.inner(), &format!("{what}: dskip"));
            }
        }
    }
}

#[test]
fn half_precision_batch_norm_comes_back_in_its_type() {
    let device = Device::flex();
    let _rng = crate::test_rng::rng_guard();
    device.seed(19);
    let normal = Distribution::Normal(0.0, 1.0);
    let z = Tensor::<4>::random([8, 4, 5, 5], normal, &device);
    let gamma = Tensor::<1>::random([4], normal, &device);
    let beta = Tensor::<1>::random([4], normal, &device);
    let expected =
        composed::batch_norm_train(z.clone(), gamma.clone(), beta.clone(), None, true, 1e-5);
    for dtype in [DType::F16, DType::BF16] {
        let half = batch_norm_train(
            z.clone().cast(dtype),
            gamma.clone().cast(dtype),
            beta.clone().cast(dtype),
            None,
            true,
            1e-5,
        );
        assert_eq!(half.output.dtype(), dtype);
        assert_close(
            half.output,
            expected.output.clone(),
            3e-2,
            &format!("{dtype:?}"),
        );
    }
}
