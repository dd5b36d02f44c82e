//! Integrated gradients on Kiln's MLP and CNN: input gradients against finite differences,
//! completeness with the default options, exactness on a linear model, and each error.

mod common;

use burn::nn::LinearConfig;
use burn::nn::activation::ActivationConfig;
use burn::prelude::*;
use kiln_cnn::{CnnConfig, ConvBlockConfig};
use kiln_explain::{
    ExplainError, IgOptions, Output, Quadrature, explained_values, input_gradient,
    integrated_gradients,
};
use kiln_fnn::{Mlp, MlpConfig};

use common::{normal, rng_guard};

/// A small tanh MLP with batch norm and dropout, as an inference copy.
fn tiny_mlp(device: &Device, seed: u64) -> Mlp {
    let _rng = rng_guard();
    device.seed(seed);
    MlpConfig::new(5, 3)
        .with_hidden_sizes(vec![8])
        .with_activation(ActivationConfig::Tanh)
        .with_batch_norm(true)
        .with_dropout(0.5)
        .init(&device.clone().autodiff())
        .valid()
}

#[test]
fn input_gradient_matches_finite_differences() {
    let device = Device::flex();
    let model = tiny_mlp(&device, 11);
    let forward = |x: Tensor<2>| model.forward(x);
    let x = normal(5, 1);
    for output in [Output::Probability, Output::Logit] {
        for target in 0..3 {
            let gradient = input_gradient(forward, &x, target, output, &device).unwrap();
            let eps = 1e-2f32;
            for i in 0..x.len() {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[i] += eps;
                down[i] -= eps;
                let rows = [up, down].concat();
                let f = explained_values(forward, &rows, 5, target, output, &device).unwrap();
                let numeric = (f[0] - f[1]) / (2.0 * f64::from(eps));
                let analytic = f64::from(gradient[i]);
                assert!(
                    (analytic - numeric).abs() <= 1e-3 + 1e-2 * numeric.abs(),
                    "{output:?} class {target} input {i}: autodiff {analytic}, finite \
                     differences {numeric}"
                );
            }
        }
    }
}

#[test]
fn completeness_within_one_percent_on_an_mlp_with_default_options() {
    let device = Device::flex();
    let _rng = rng_guard();
    device.seed(5);
    let model = MlpConfig::new(20, 4)
        .with_hidden_sizes(vec![64, 32])
        .with_batch_norm(true)
        .with_dropout(0.2)
        .init(&device.clone().autodiff())
        .valid();
    drop(_rng);
    for sample in 0..4 {
        let x: Vec<f32> = normal(20, 100 + sample).iter().map(|v| 2.0 * v).collect();
        for target in 0..4 {
            let a = integrated_gradients(
                |x| model.forward(x),
                &x,
                None,
                target,
                &IgOptions::default(),
                &device,
            )
            .unwrap();
            let difference = a.f_input - a.f_baseline;
            println!(
                "MLP sample {sample} class {target}: f(x)-f(0) = {difference:+.5}, gap \
                 {:.2e}, relative {:.2e}, {} steps",
                a.completeness_gap, a.relative_gap, a.steps
            );
            assert!(a.relative_gap < 0.01 && a.converged, "{a:?}");
            let total: f64 = a.values.iter().map(|&v| f64::from(v)).sum();
            assert!((total - difference).abs() <= a.completeness_gap + 1e-5);
        }
    }
}

#[test]
fn completeness_within_one_percent_on_a_cnn_with_default_options() {
    let device = Device::flex();
    let model = {
        let _rng = rng_guard();
        device.seed(9);
        CnnConfig::lenet(10).init(&device).valid()
    };
    let mut worst = 0.0f64;
    for sample in 0..2 {
        let x = normal(784, 200 + sample);
        for target in [0, 3, 7] {
            let a = integrated_gradients(
                |x| model.forward_flat(x),
                &x,
                None,
                target,
                &IgOptions::default(),
                &device,
            )
            .unwrap();
            println!(
                "CNN sample {sample} class {target}: f(x)-f(0) = {:+.5}, gap {:.2e}, relative \
                 {:.2e}, {} steps",
                a.f_input - a.f_baseline,
                a.completeness_gap,
                a.relative_gap,
                a.steps
            );
            assert_eq!(a.values.len(), 784);
            assert!(a.converged, "{a:?}");
            worst = worst.max(a.relative_gap);
        }
    }
    assert!(worst < 0.01, "worst relative gap {worst}");
}

#[test]
fn completeness_within_one_percent_on_a_batch_norm_resnet_with_default_options() {
    let device = Device::flex();
    let model = {
        let _rng = rng_guard();
        device.seed(13);
        CnnConfig::new(1, 28, 28, 10)
            .with_blocks(vec![
                ConvBlockConfig::new(8)
                    .with_padding(1)
                    .with_batch_norm(true)
                    .with_pool(2),
                ConvBlockConfig::new(16).with_stride(2).with_residual(true),
            ])
            .with_global_avg_pool(true)
            .with_dropout(0.3)
            .init(&device.clone().autodiff())
            .valid()
    };
    let x = normal(784, 300);
    for target in [1, 4] {
        let a = integrated_gradients(
            |x| model.forward_flat(x),
            &x,
            None,
            target,
            &IgOptions::default(),
            &device,
        )
        .unwrap();
        println!(
            "ResNet class {target}: f(x)-f(0) = {:+.5}, gap {:.2e}, relative {:.2e}, {} steps",
            a.f_input - a.f_baseline,
            a.completeness_gap,
            a.relative_gap,
            a.steps
        );
        assert!(a.converged && a.relative_gap < 0.01, "{a:?}");
    }
}

#[test]
fn linear_model_attributions_are_exactly_the_input_difference_times_the_weight() {
    let device = Device::flex();
    let model = {
        let _rng = rng_guard();
        device.seed(2);
        LinearConfig::new(6, 3).init(&device).valid()
    };
    let weight: Vec<f32> = model.weight.val().into_data().try_into_vec().unwrap();
    let x = normal(6, 3);
    let baseline = normal(6, 4);
    for quadrature in [
        Quadrature::GaussLegendre,
        Quadrature::Trapezoid,
        Quadrature::Midpoint,
    ] {
        let options = IgOptions::default()
            .with_output(Output::Logit)
            .with_quadrature(quadrature)
            .with_fixed_steps(7)
            .with_batch_size(3);
        for target in 0..3 {
            let a = integrated_gradients(
                |x| model.forward(x),
                &x,
                Some(&baseline),
                target,
                &options,
                &device,
            )
            .unwrap();
            for i in 0..6 {
                let expected = (x[i] - baseline[i]) * weight[i * 3 + target];
                assert!(
                    (a.values[i] - expected).abs() < 1e-5,
                    "{quadrature:?} class {target} input {i}: {} vs {expected}",
                    a.values[i]
                );
            }
            assert!(a.relative_gap < 1e-5, "{a:?}");
        }
    }
}

#[test]
fn single_logit_binary_model_explains_either_class() {
    let device = Device::flex();
    let model = {
        let _rng = rng_guard();
        device.seed(4);
        LinearConfig::new(4, 1).init(&device).valid()
    };
    let x = normal(4, 8);
    let logit = IgOptions::default().with_output(Output::Logit);
    let run = |target, options: &IgOptions| {
        integrated_gradients(|x| model.forward(x), &x, None, target, options, &device).unwrap()
    };
    let (positive, negative) = (run(1, &logit), run(0, &logit));
    for (p, n) in positive.values.iter().zip(&negative.values) {
        assert!((p + n).abs() < 1e-6);
    }
    let probability = run(1, &IgOptions::default());
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    assert!((probability.f_input - sigmoid(positive.f_input)).abs() < 1e-6);
    assert!(probability.relative_gap < 0.01, "{probability:?}");
    let other = run(0, &IgOptions::default());
    assert!((other.f_input + probability.f_input - 1.0).abs() < 1e-6);
}

#[test]
fn more_steps_close_the_gap() {
    let device = Device::flex();
    let model = tiny_mlp(&device, 21);
    let x: Vec<f32> = normal(5, 30).iter().map(|v| 3.0 * v).collect();
    let gap = |quadrature, steps| {
        let options = IgOptions::default()
            .with_quadrature(quadrature)
            .with_fixed_steps(steps);
        integrated_gradients(|x| model.forward(x), &x, None, 1, &options, &device)
            .unwrap()
            .completeness_gap
    };
    for quadrature in [Quadrature::Trapezoid, Quadrature::Midpoint] {
        assert!(gap(quadrature, 64) < gap(quadrature, 4), "{quadrature:?}");
    }
    assert!(gap(Quadrature::GaussLegendre, 16) < 1e-5);
}

#[test]
fn trapezoid_refinement_reuses_points_and_equals_the_direct_rule() {
    let device = Device::flex();
    let model = tiny_mlp(&device, 8);
    let x: Vec<f32> = normal(5, 40).iter().map(|v| 3.0 * v).collect();
    let run = |options: IgOptions| {
        integrated_gradients(|x| model.forward(x), &x, None, 2, &options, &device).unwrap()
    };
    let refined = run(IgOptions::default()
        .with_steps(16)
        .with_max_steps(64)
        .with_tolerance(0.0));
    let direct = run(IgOptions::default().with_fixed_steps(64));
    assert_eq!((refined.steps, direct.steps), (64, 64));
    assert_eq!(
        refined.evaluations, 65,
        "every doubling reuses the earlier points"
    );
    assert_eq!(direct.evaluations, 65);
    for (r, d) in refined.values.iter().zip(&direct.values) {
        assert!((r - d).abs() < 1e-6, "{r} vs {d}");
    }
    assert!(!refined.converged || refined.relative_gap == 0.0);
    // Rules that do not nest are recomputed: 16 + 32 + 64 nodes.
    let gauss = run(IgOptions::default()
        .with_quadrature(Quadrature::GaussLegendre)
        .with_steps(16)
        .with_max_steps(64)
        .with_tolerance(0.0));
    assert_eq!((gauss.steps, gauss.evaluations), (64, 112));
}

#[test]
fn errors() {
    let device = Device::flex();
    let model = tiny_mlp(&device, 1);
    let forward = |x: Tensor<2>| model.forward(x);
    let options = IgOptions::default();
    let x = [0.5f32; 5];
    let ig = |input: &[f32], baseline: Option<&[f32]>, target, options: &IgOptions| {
        integrated_gradients(forward, input, baseline, target, options, &device).unwrap_err()
    };
    assert!(matches!(
        ig(&x, Some(&[0.0; 4]), 0, &options),
        ExplainError::LengthMismatch {
            what: "baseline",
            expected: 5,
            actual: 4
        }
    ));
    assert!(matches!(
        ig(&x, None, 3, &options),
        ExplainError::TargetOutOfRange {
            target: 3,
            classes: 3
        }
    ));
    assert!(matches!(
        ig(&x, None, 0, &options.with_steps(0)),
        ExplainError::Zero("steps")
    ));
    assert!(matches!(
        ig(&x, None, 0, &options.with_batch_size(0)),
        ExplainError::Zero("batch size")
    ));
    assert!(matches!(
        ig(&[], None, 0, &options),
        ExplainError::Empty("input")
    ));
    let message = ig(&x, None, 3, &options).to_string();
    assert!(message.contains("out of range"), "{message}");

    // A single logit counts as two classes.
    let binary = LinearConfig::new(5, 1).init(&device);
    let error =
        integrated_gradients(|x| binary.forward(x), &x, None, 2, &options, &device).unwrap_err();
    assert!(matches!(
        error,
        ExplainError::TargetOutOfRange {
            target: 2,
            classes: 2
        }
    ));

    // The input detached from the graph.
    let error = integrated_gradients(
        |x: Tensor<2>| model.forward(x.detach()),
        &x,
        None,
        0,
        &options,
        &device,
    )
    .unwrap_err();
    assert!(matches!(error, ExplainError::NoGradient), "{error:?}");

    // A forward pass that drops rows.
    let error = integrated_gradients(
        |x: Tensor<2>| model.forward(x).narrow(0, 0, 1),
        &x,
        None,
        0,
        &options,
        &device,
    )
    .unwrap_err();
    assert!(
        matches!(error, ExplainError::BadOutput { rows: 2, .. }),
        "{error:?}"
    );

    // Models still in training mode: batch statistics and dropout change the output.
    let x = normal(5, 77);
    let (batch_stats, dropout) = {
        let _rng = rng_guard();
        device.seed(3);
        let config = MlpConfig::new(5, 3).with_hidden_sizes(vec![64]);
        let train = device.clone().autodiff();
        (
            config.clone().with_batch_norm(true).init(&train),
            config.with_dropout(0.5).init(&train),
        )
    };
    for model in [&batch_stats, &dropout] {
        let error =
            integrated_gradients(|x| model.forward(x), &x, None, 0, &options, &device).unwrap_err();
        assert!(
            matches!(error, ExplainError::NotDeterministic { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("valid()"));
    }
}
