//! DP-SGD on the loop: per-example gradients equal the batch gradient when nothing is clipped,
//! one outlier moves the summed gradient by at most C, the noise has standard deviation σC, the
//! realised sampling rate is q, a noisy run still learns, and a resumed run is bit-exact.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::GradientsParams;
use burn::prelude::*;
use kiln_data::Samples;
use kiln_data::synthetic::rings;
use kiln_privacy::dp_sgd::{DpClassification, GaussianNoise, poisson_sample};
use kiln_train::checkpoint::{self, CheckpointPolicy, Checkpointer};
use kiln_train::hooks::GradientHook;
use kiln_train::{FitConfig, FitReport, Objective, Precision, StepContext, TrainTask, Trainer};

#[derive(Module, Debug)]
struct Net {
    hidden: Linear,
    output: Linear,
    activation: Relu,
}

impl Net {
    fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, 16).init(device),
            output: LinearConfig::new(16, 2).init(device),
            activation: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(self.activation.forward(self.hidden.forward(x)))
    }

    fn grads(&self, g: &GradientsParams) -> Vec<f32> {
        let host = |d: TensorData| d.convert::<f32>().try_into_vec::<f32>().unwrap();
        let mut all = Vec::new();
        for layer in [&self.hidden, &self.output] {
            all.extend(host(g.get::<2>(layer.weight.id).unwrap().into_data()));
            let bias = layer.bias.as_ref().unwrap().id;
            all.extend(host(g.get::<1>(bias).unwrap().into_data()));
        }
        all
    }
}

/// Two classes as a two-logit softmax (the net has two outputs).
const TWO: Objective = Objective::Multiclass { classes: 2 };

fn net(device: &Device) -> Net {
    device.seed(3);
    Net::new(device)
}

fn context(device: &Device) -> StepContext<'_> {
    StepContext {
        epoch: 1,
        batch: 0,
        global_batch: 0,
        seed: 1,
        device,
        half: None,
    }
}

/// The summed clipped gradient of one DP step that samples every example (q = 1).
fn clipped_sum(model: &Net, data: &Samples, max_norm: f64, device: &Device) -> Vec<f32> {
    let mut task = DpClassification::new(data, Net::forward, 1.0, max_norm).with_objective(TWO);
    let output = task.step(model, &context(device)).unwrap();
    model.grads(&GradientsParams::from_grads(output.loss.backward(), model))
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn unclipped_per_example_gradients_sum_to_the_batch_gradient() {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    let model = net(&device);
    let data = rings(12, 4);
    let dp = clipped_sum(&model, &data, 1e9, &device);
    // The same by one batched backward of the summed loss.
    let batch = data.batch(&(0..12).collect::<Vec<_>>(), &device);
    let loss = TWO
        .loss(model.forward(batch.inputs), batch.labels)
        .mul_scalar(12.0);
    let expected = model.grads(&GradientsParams::from_grads(loss.backward(), &model));
    for (a, b) in dp.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn one_outlier_moves_the_clipped_sum_by_at_most_c() {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    let model = net(&device);
    let without = rings(20, 5);
    let mut with = without.clone();
    with.features.extend([500.0, -800.0]); // a wild example
    with.labels.push(0);
    let c = 0.5;
    let (a, b) = (
        clipped_sum(&model, &with, c, &device),
        clipped_sum(&model, &without, c, &device),
    );
    let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let moved = norm(&diff);
    assert!(
        moved <= c + 1e-4,
        "the outlier moved the sum by {moved} > C = {c}"
    );
    assert!(moved > 0.9 * c, "and it was clipped to about C: {moved}");
}

#[test]
fn the_noise_has_standard_deviation_sigma_c_over_the_expected_batch() {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(9);
    let wide = LinearConfig::new(100, 200).init(&device);
    let (sigma, c, expected_batch) = (1.3, 0.7, 4.0);
    let mut hook = GaussianNoise::new(sigma, c, expected_batch);
    let noisy = hook.apply(&wide, GradientsParams::new());
    let values: Vec<f32> = noisy
        .get::<2>(wide.weight.id)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let n = values.len() as f64;
    let mean = values.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let std = (values
        .iter()
        .map(|v| (f64::from(*v) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let target = sigma * c / expected_batch;
    assert!(
        (std - target).abs() < 0.03 * target,
        "std {std} vs {target}"
    );
    assert!(mean.abs() < 0.03 * target, "mean {mean}");
    assert!(
        noisy.get::<1>(wide.bias.as_ref().unwrap().id).is_some(),
        "biases get noise too"
    );
}

#[test]
fn the_realised_sampling_rate_is_q() {
    let (n, q, steps) = (5000, 0.02, 200);
    let total: usize = (0..steps).map(|s| poisson_sample(n, q, 7, s).len()).sum();
    let rate = total as f64 / (n * steps) as f64;
    // Binomial: standard deviation sqrt(q(1-q)/(n·steps)) ≈ 0.0003.
    assert!((rate - q).abs() < 0.0015, "realised rate {rate}");
    assert_ne!(poisson_sample(n, q, 7, 0), poisson_sample(n, q, 7, 1));
    assert_eq!(poisson_sample(n, q, 7, 3), poisson_sample(n, q, 7, 3));
}

fn fit(epochs: usize, run: Option<(&std::path::Path, bool)>) -> FitReport<Net> {
    fit_in(epochs, run, Precision::F32, false)
}

/// [`fit`] in `precision` (f32 master weights), through the batched Linear route or not.
fn fit_in(
    epochs: usize,
    run: Option<(&std::path::Path, bool)>,
    precision: Precision,
    batched: bool,
) -> FitReport<Net> {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    let model = net(&device);
    let (train, valid) = (rings(400, 1), rings(200, 2));
    let (q, c, sigma) = (0.1, 1.0, 0.8);
    let checkpointer = run.map(|(dir, _)| {
        let policy = CheckpointPolicy {
            every_steps: 0,
            every_epochs: 1,
            keep_last: 10,
        };
        Checkpointer::new(dir, policy, "dp".into())
    });
    let resume = match run {
        Some((dir, true)) => checkpoint::newest_valid(dir).unwrap(),
        _ => None,
    };
    let mut task = DpClassification::new(&train, Net::forward, q, c)
        .with_objective(TWO)
        .with_optional_valid(Some(&valid));
    if batched {
        task = task.with_batched_route(linear_route(c));
    }
    let mut config = FitConfig::new(epochs)
        .with_lr(0.05)
        .with_precision(precision);
    // The per-example gradients are taken unscaled (as `kiln train` runs DP-SGD in f16).
    config.loss_scale = kiln_train::precision::LossScaleConfig::fixed(1.0);
    Trainer::new(config)
        .with_gradient_hook(GaussianNoise::new(sigma, c, q * train.len() as f64))
        .with_checkpointer(checkpointer.as_ref())
        .resume_from(resume.as_ref())
        .fit(model, &mut task, &device)
        .unwrap()
}

fn parameters(net: &Net) -> Vec<f32> {
    let mut all = Vec::new();
    for layer in [&net.hidden, &net.output] {
        all.extend(
            layer
                .weight
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap(),
        );
        let bias = layer.bias.as_ref().unwrap().val();
        all.extend(
            bias.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap(),
        );
    }
    all
}

#[test]
fn a_noisy_run_learns_and_resumes_bit_for_bit_with_its_privacy() {
    let whole = fit(12, None);
    let accuracy = whole.history.last().unwrap().valid_accuracy.unwrap();
    assert!(accuracy > 0.75, "DP-SGD still learns the rings: {accuracy}");
    assert_eq!(whole.steps, 12 * 10, "an epoch is 1/q steps");

    let dir = tempfile::tempdir().unwrap();
    fit(5, Some((dir.path(), false)));
    let resumed = fit(12, Some((dir.path(), true)));
    assert_eq!(parameters(&whole.model), parameters(&resumed.model));
    // The privacy spent depends on the steps alone (the CLI's resume test checks summary.json).
    assert_eq!(whole.steps, resumed.steps);
}

impl kiln_privacy::dp_sgd::ProbedLinears for Net {
    fn forward_probed(
        &self,
        x: Tensor<2>,
        probe: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>,
        inputs: &mut Vec<Tensor<2>>,
    ) -> Tensor<2> {
        inputs.push(x.clone());
        let h = self.activation.forward(probe(0, self.hidden.forward(x)));
        inputs.push(h.clone());
        probe(1, self.output.forward(h))
    }

    fn linears(&self) -> Vec<&Linear> {
        vec![&self.hidden, &self.output]
    }
}

/// The batched per-example route of [`Net`]'s two Linear layers, clipping to `c`.
fn linear_route<'a>(c: f64) -> kiln_privacy::dp_sgd::BatchedRoute<'a, Net> {
    use kiln_privacy::dp_sgd::{clipped_linear_gradients, per_example_losses};
    Box::new(move |m, x, labels| {
        let losses = |logits| per_example_losses(TWO, logits, labels.clone());
        let device = x.device();
        Some(clipped_linear_gradients(m, x, losses, c, &device))
    })
}

#[test]
fn the_batched_linear_route_equals_micro_batches_of_one() {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    let model = net(&device);
    let mut data = rings(24, 6);
    data.features.extend([40.0, -30.0]); // one example far beyond the clip norm
    data.labels.push(1);
    for c in [0.05, 0.5, 1e9] {
        let slow = clipped_sum(&model, &data, c, &device);
        let route = linear_route(c);
        let mut task = DpClassification::new(&data, Net::forward, 1.0, c)
            .with_objective(TWO)
            .with_batched_route(route);
        let output = task.step(&model, &context(&device)).unwrap();
        let fast = model.grads(&GradientsParams::from_grads(output.loss.backward(), &model));
        for (a, b) in fast.iter().zip(&slow) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "C = {c}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn mixed_precision_trains_privately_by_both_routes_near_the_f32_weights() {
    // f16 and bf16 forward passes over f32 master weights, the same noise (drawn in f32 from
    // the seed and the step): the runs learn and end near the f32 run.
    for batched in [false, true] {
        let reference = parameters(&fit_in(12, None, Precision::F32, batched).model);
        let scale = reference.iter().map(|v| v.abs()).sum::<f32>() / reference.len() as f32;
        for precision in [Precision::Bf16, Precision::F16] {
            let report = fit_in(12, None, precision, batched);
            let accuracy = report.history.last().unwrap().valid_accuracy.unwrap();
            assert!(
                accuracy > 0.75,
                "{precision:?}, batched {batched}: accuracy {accuracy}"
            );
            let got = parameters(&report.model);
            let gap = got
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / got.len() as f32;
            assert!(
                gap < 0.1 * scale,
                "{precision:?}, batched {batched}: mean gap {gap} against mean size {scale}"
            );
        }
    }
}
