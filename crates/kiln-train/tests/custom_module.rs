//! kiln-train trains a module it has never heard of, on data held in memory: checkpoints and
//! bit-exact resume (also mid-epoch, with gradient accumulation), accumulation equal to a larger
//! batch, early stopping, half precision, the extension points, and a clear error when the
//! module's output does not fit the task.

use std::path::Path;

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use kiln_data::Samples;
use kiln_data::synthetic::rings;
use kiln_train::checkpoint::{self, CheckpointPolicy, Checkpointer};
use kiln_train::hooks::{GradientHook, LossTerm, ParamTransform};
use kiln_train::{
    Classification, FitConfig, FitReport, KilnError, Objective, Precision, StepOutput, Trainer,
    weights_sha256,
};

/// A two-layer network defined here, outside any Kiln crate.
#[derive(Module, Debug)]
struct Net {
    hidden: Linear,
    output: Linear,
    dropout: Dropout,
    activation: Relu,
}

impl Net {
    fn new(dropout: f64, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, 16).init(device),
            output: LinearConfig::new(16, 2).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            activation: Relu::new(),
        }
    }

    fn forward(&self, points: Tensor<2>) -> Tensor<2> {
        let x = self.activation.forward(self.hidden.forward(points));
        self.output.forward(self.dropout.forward(x))
    }

    /// Every parameter, flattened, in f32.
    fn parameters(&self) -> Vec<f32> {
        let mut all = Vec::new();
        for layer in [&self.hidden, &self.output] {
            let weight = layer.weight.val().cast(FloatDType::F32).into_data();
            all.extend(weight.try_to_vec::<f32>().unwrap());
            let bias = layer.bias.as_ref().unwrap().val().cast(FloatDType::F32);
            all.extend(bias.into_data().try_to_vec::<f32>().unwrap());
        }
        all
    }
}

/// How one training run is set up.
#[derive(Clone, Copy)]
struct Setup {
    epochs: usize,
    batch_size: usize,
    accumulate: usize,
    dropout: f64,
    precision: Precision,
    patience: usize,
}

impl Setup {
    fn new(epochs: usize) -> Self {
        Self {
            epochs,
            batch_size: 30,
            accumulate: 1,
            dropout: 0.1,
            precision: Precision::F32,
            patience: 0,
        }
    }
}

fn policy(every_steps: usize) -> CheckpointPolicy {
    CheckpointPolicy {
        every_steps,
        every_epochs: usize::from(every_steps == 0),
        keep_last: 100,
    }
}

/// Trains a fresh `Net` (seed 7) on `train`, validating on `valid`.
fn fit(
    setup: Setup,
    data: (&Samples, &Samples),
    run: Option<(&Path, CheckpointPolicy, bool)>,
) -> kiln_train::Result<FitReport<Net>> {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(7);
    let model = Net::new(setup.dropout, &device);
    let checkpointer = run.map(|(dir, policy, _)| Checkpointer::new(dir, policy, "net".into()));
    let resume = match run {
        Some((dir, _, true)) => checkpoint::newest_valid(dir)?,
        _ => None,
    };
    let mut task = Classification::new(data.0, Net::forward)
        .with_objective(Objective::Multiclass { classes: 2 })
        .with_valid(data.1)
        .with_batch_size(setup.batch_size);
    let config = FitConfig::new(setup.epochs)
        .with_lr(1e-2)
        .with_precision(setup.precision)
        .with_patience(setup.patience)
        .with_accumulation(setup.accumulate);
    Trainer::new(config)
        .with_checkpointer(checkpointer.as_ref())
        .resume_from(resume.as_ref())
        .fit(model, &mut task, &device)
}

/// The parameters `fit` starts from.
fn initial_parameters() -> Vec<f32> {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(7);
    Net::new(0.0, &device).parameters()
}

fn relative_difference(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
    diff / norm
}

#[test]
fn a_custom_module_learns_and_resumes_bit_for_bit() {
    let (train, valid) = (rings(300, 1), rings(200, 2));
    let whole = fit(Setup::new(8), (&train, &valid), None).unwrap();
    let accuracy = whole.history.last().unwrap().valid_accuracy.unwrap();
    assert!(
        accuracy > 0.85,
        "learns the rings: valid accuracy {accuracy}"
    );

    let dir = tempfile::tempdir().unwrap();
    let run = |resume| Some((dir.path(), policy(0), resume));
    fit(Setup::new(3), (&train, &valid), run(false)).unwrap();
    let resumed = fit(Setup::new(8), (&train, &valid), run(true)).unwrap();
    assert_eq!(
        resumed.history.len(),
        8,
        "history carried across the resume"
    );
    assert_eq!(
        weights_sha256(&whole.model),
        weights_sha256(&resumed.model),
        "dropout draws and data order continue where they stopped"
    );
}

#[test]
fn accumulating_three_batches_equals_one_batch_three_times_larger() {
    // 90 samples: three steps of 30, or nine micro-batches of 10 in three groups of three.
    let (train, valid) = (rings(90, 3), rings(50, 4));
    let plain = Setup {
        dropout: 0.0,
        ..Setup::new(4)
    };
    let large = fit(plain, (&train, &valid), None).unwrap();
    let accumulated = fit(
        Setup {
            batch_size: 10,
            accumulate: 3,
            ..plain
        },
        (&train, &valid),
        None,
    )
    .unwrap();
    assert_eq!(large.steps, 12);
    assert_eq!(
        accumulated.steps, 12,
        "one optimizer step per three micro-batches"
    );
    let (a, b) = (accumulated.model.parameters(), large.model.parameters());
    let moved = relative_difference(&initial_parameters(), &b);
    assert!(moved > 1e-2, "training moved the weights ({moved})");
    let difference = relative_difference(&a, &b);
    assert!(difference < 1e-6, "relative difference {difference}");
}

#[test]
fn a_checkpoint_inside_an_epoch_with_accumulation_resumes_exactly() {
    let (train, valid) = (rings(90, 5), rings(50, 6));
    let setup = Setup {
        epochs: 3,
        batch_size: 10,
        accumulate: 3,
        ..Setup::new(3)
    };
    let dir = tempfile::tempdir().unwrap();
    let whole = fit(
        setup,
        (&train, &valid),
        Some((dir.path(), policy(1), false)),
    )
    .unwrap();
    // Keep only the checkpoints up to step 4 (the first step of epoch 2): as if the run had
    // been killed there.
    let mut kept = 0;
    for entry in std::fs::read_dir(dir.path().join("checkpoints")).unwrap() {
        let path = entry.unwrap().path();
        if !checkpoint::is_checkpoint(&path) {
            continue; // the `best` pointer
        }
        let state = checkpoint::verify(&path).unwrap();
        if state.step > 4 {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            kept += 1;
        }
    }
    assert_eq!(kept, 4, "one checkpoint per optimizer step");
    let newest = checkpoint::newest_valid(dir.path()).unwrap().unwrap();
    assert_eq!(newest.state.step, 4);
    assert_eq!(newest.state.epoch, 2, "inside epoch 2");
    let resumed = fit(setup, (&train, &valid), Some((dir.path(), policy(1), true))).unwrap();
    assert_eq!(weights_sha256(&whole.model), weights_sha256(&resumed.model));
}

#[test]
fn early_stopping_stops_after_patience_and_keeps_the_best_epoch() {
    // Twelve noisy points and a high learning rate: validation loss turns up soon.
    let mut train = rings(12, 7);
    train.labels.iter_mut().step_by(3).for_each(|l| *l = 1 - *l);
    let valid = rings(200, 8);
    let setup = Setup {
        epochs: 400,
        batch_size: 4,
        patience: 3,
        dropout: 0.0,
        ..Setup::new(400)
    };
    let report = fit(setup, (&train, &valid), None).unwrap();
    assert!(
        report.stopped_early,
        "ran all {} epochs",
        report.history.len()
    );
    let best = report.best_epoch.unwrap();
    assert_eq!(report.history.len(), best + 3);
    let best_loss = report.history[best - 1].valid_loss.unwrap();
    assert!(
        report
            .history
            .iter()
            .all(|r| r.valid_loss.unwrap() >= best_loss)
    );
}

#[test]
fn half_precision_trains_with_f32_master_weights() {
    let (train, valid) = (rings(300, 9), rings(200, 10));
    for precision in [Precision::Bf16, Precision::F16] {
        let setup = Setup {
            precision,
            ..Setup::new(8)
        };
        let report = fit(setup, (&train, &valid), None).unwrap();
        let accuracy = report.history.last().unwrap().valid_accuracy.unwrap();
        assert!(
            accuracy > 0.85,
            "{}: valid accuracy {accuracy}",
            precision.name()
        );
        assert_eq!(
            report.model.hidden.weight.val().dtype(),
            DType::F32,
            "{}: master weights stay f32",
            precision.name()
        );
        assert_eq!(
            report.loss_scale.is_some(),
            precision == Precision::F16,
            "only f16 scales the loss"
        );
    }
}

/// Counts the optimizer steps it sees and zeroes every gradient.
struct FreezeEverything<'a>(&'a mut usize);

impl GradientHook<Net> for FreezeEverything<'_> {
    fn apply(&mut self, _model: &Net, _grads: GradientsParams) -> GradientsParams {
        *self.0 += 1;
        GradientsParams::new()
    }
}

/// Clamps the output layer's bias to zero after every step.
struct ZeroOutputBias;

impl ParamTransform<Net> for ZeroOutputBias {
    fn apply(&mut self, mut model: Net) -> Net {
        let bias = model.output.bias.take().unwrap();
        let zeros = bias.val().zeros_like().detach().require_grad();
        model.output.bias = Some(burn::module::Param::from_tensor(zeros));
        model
    }
}

#[test]
fn gradient_hooks_and_parameter_transforms_run_at_every_step() {
    let (train, valid) = (rings(90, 11), rings(50, 12));
    let setup = Setup {
        dropout: 0.0,
        ..Setup::new(2)
    };
    let run = |hooked: bool| {
        let device = Device::flex().autodiff();
        let _rng = kiln_train::rng_guard();
        device.seed(7);
        let model = Net::new(0.0, &device);
        let before = model.parameters();
        let mut calls = 0;
        let mut task = Classification::new(&train, Net::forward)
            .with_objective(Objective::Multiclass { classes: 2 })
            .with_valid(&valid)
            .with_batch_size(setup.batch_size);
        let mut trainer = Trainer::new(FitConfig::new(setup.epochs).with_lr(1e-2));
        if hooked {
            trainer = trainer
                .with_gradient_hook(FreezeEverything(&mut calls))
                .with_transform(ZeroOutputBias);
        }
        let report = trainer.fit(model, &mut task, &device).unwrap();
        (before, report.model, calls)
    };
    let (before, frozen, calls) = run(true);
    assert_eq!(calls, 6, "the hook saw each of the 6 steps");
    let after = frozen.parameters();
    let bias_start = after.len() - 2;
    assert_eq!(
        after[..bias_start],
        before[..bias_start],
        "no gradient, no change"
    );
    assert_eq!(after[bias_start..], [0.0, 0.0], "transform applied");
    let (before, trained, _) = run(false);
    assert_ne!(trained.parameters(), before, "without the hooks it trains");
}

#[test]
fn a_module_whose_output_does_not_fit_the_task_is_refused_clearly() {
    let (train, valid) = (rings(30, 13), rings(10, 14));
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard(); // every draw from Burn's global RNG holds the guard
    let model = Net::new(0.0, &device);
    let mut task = Classification::new(&train, Net::forward)
        .with_objective(Objective::Multiclass { classes: 3 })
        .with_valid(&valid);
    let err = Trainer::new(FitConfig::new(1))
        .fit(model, &mut task, &device)
        .map(|report| report.steps)
        .expect_err("two logits for three classes");
    assert!(matches!(err, KilnError::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains('2') && message.contains('3'),
        "names both sizes: {message}"
    );
}

/// Adds an infinite term to the first batch's loss only: its gradients overflow.
struct InfiniteOnce(bool);

impl LossTerm<Net> for InfiniteOnce {
    fn term(&mut self, _model: &Net, output: &StepOutput) -> Option<Tensor<1>> {
        let first = !std::mem::replace(&mut self.0, true);
        first.then(|| output.loss.clone().mul_scalar(f64::from(f32::INFINITY)))
    }
}

#[test]
fn the_loop_skips_an_f16_step_whose_gradients_overflow_and_halves_the_scale() {
    let (train, valid) = (rings(60, 15), rings(20, 16));
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(7);
    let model = Net::new(0.0, &device);
    let before = model.parameters();
    let mut task = Classification::new(&train, Net::forward)
        .with_objective(Objective::Multiclass { classes: 2 })
        .with_valid(&valid)
        .with_batch_size(30);
    let report = Trainer::new(FitConfig::new(1).with_precision(Precision::F16))
        .with_loss_term(InfiniteOnce(false))
        .fit(model, &mut task, &device)
        .unwrap();
    let scale = report.loss_scale.unwrap();
    assert_eq!(report.steps, 2);
    assert_eq!(scale.skipped_steps, 1, "the overflowing step was skipped");
    assert_eq!(scale.min_scale, 32768.0, "and the scale halved");
    let after = report.model.parameters();
    assert_ne!(after, before, "the second step trained");

    // One step only, the overflowing one: the weights are untouched.
    let device = Device::flex().autodiff();
    let model = Net::new(0.0, &device);
    let before = model.parameters();
    let mut task = Classification::new(&train, Net::forward)
        .with_objective(Objective::Multiclass { classes: 2 })
        .with_batch_size(0);
    let report = Trainer::new(FitConfig::new(1).with_precision(Precision::F16))
        .with_loss_term(InfiniteOnce(false))
        .fit(model, &mut task, &device)
        .unwrap();
    assert_eq!(report.loss_scale.unwrap().skipped_steps, 1);
    assert_eq!(
        report.model.parameters(),
        before,
        "a skipped step changes nothing"
    );
}
