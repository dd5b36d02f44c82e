//! The one training loop of Kiln: every model, every optimizer, every schedule.

use std::time::Instant;

use burn::prelude::*;
use kiln_data::{Augment, SeededRng};
use serde::Serialize;

use crate::checkpoint::{Checkpointer, RunningSums, Snapshot, TrainState, VerifiedCheckpoint};
use crate::config::{ExperimentConfig, OptimName};
use crate::data::Splits;
use crate::early_stopping::{EarlyStopping, Verdict};
use crate::optim::{build_optimizer, build_scheduler};
use crate::precision::{LossScaleState, MixedPrecision, Precision, RestoreBuffers};
use crate::{Objective, Progress, Result, TaskModel, clip, metrics, regularize};
use burn::tensor::FloatDType;

/// One epoch's metrics, as written to `metrics.csv`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (without the L1 term).
    pub train_loss: f64,
    /// Training accuracy over the epoch's steps.
    pub train_accuracy: f64,
    /// Validation loss after the epoch, when there is a validation split.
    pub valid_loss: Option<f64>,
    /// Validation accuracy after the epoch.
    pub valid_accuracy: Option<f64>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

impl EpochRecord {
    /// A one-line description for logs.
    pub fn describe(&self, epochs: usize) -> String {
        let mut line = format!(
            "epoch {}/{epochs}  loss {:.4}  acc {:.4}",
            self.epoch, self.train_loss, self.train_accuracy
        );
        if let (Some(loss), Some(acc)) = (self.valid_loss, self.valid_accuracy) {
            line += &format!("  val_loss {loss:.4}  val_acc {acc:.4}");
        }
        line + &format!("  lr {:.2e}  {:.1}s", self.lr, self.seconds)
    }
}

/// What [`fit`] returns: the trained model and how training went.
#[derive(Debug)]
pub struct FitReport<M> {
    /// The trained model (the best epoch's when early stopping restores it).
    pub model: M,
    /// Metrics of every epoch.
    pub history: Vec<EpochRecord>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Training samples processed.
    pub samples_seen: usize,
    /// Wall-clock seconds of the loop (validation included).
    pub train_seconds: f64,
    /// Epoch with the best validation metric, when there is a validation split.
    pub best_epoch: Option<usize>,
    /// True when early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// The loss scaler's final state (f16 training).
    pub loss_scale: Option<LossScaleState>,
}

impl<M> FitReport<M> {
    /// The same report with the model transformed (e.g. wrapped into [`crate::AnyModel`]).
    pub fn map_model<N>(self, f: impl FnOnce(M) -> N) -> FitReport<N> {
        FitReport {
            model: f(self.model),
            history: self.history,
            steps: self.steps,
            samples_seen: self.samples_seen,
            train_seconds: self.train_seconds,
            best_epoch: self.best_epoch,
            stopped_early: self.stopped_early,
            loss_scale: self.loss_scale,
        }
    }
}

/// Checkpointing and resuming for [`fit_with`].
#[derive(Default, Clone, Copy)]
pub struct FitControl<'a> {
    /// Writes checkpoints as its policy says, and on SIGINT/SIGTERM.
    pub checkpointer: Option<&'a Checkpointer>,
    /// Continues from this checkpoint (model, optimizer, scheduler, position, metrics, stopper).
    pub resume: Option<&'a VerifiedCheckpoint>,
}

/// Trains `model` (built on the autodiff `device`) on `splits` as `config` says.
///
/// Deterministic: the device is reseeded before every step from the config's seed and the step
/// number, and each epoch's order comes from the seed and the epoch number, so the same seed
/// gives the same weights bit for bit on the CPU backends. Hold [`crate::rng_guard`] from
/// seeding the device and building the model until this returns when other threads may train.
pub fn fit<M: TaskModel>(
    model: M,
    splits: &Splits,
    config: &ExperimentConfig,
    objective: Objective,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<FitReport<M>> {
    fit_with(
        model,
        splits,
        config,
        objective,
        device,
        progress,
        FitControl::default(),
    )
}

/// [`fit`] with checkpoints and resume: a run resumed from any checkpoint ends with the same
/// weights, bit for bit, as a run that never stopped.
pub fn fit_with<M: TaskModel>(
    mut model: M,
    splits: &Splits,
    config: &ExperimentConfig,
    objective: Objective,
    device: &Device,
    progress: &mut dyn Progress,
    control: FitControl<'_>,
) -> Result<FitReport<M>> {
    let batch_size = if config.optim.name == OptimName::Gd {
        0
    } else {
        config.train.batch_size
    };
    let steps_per_epoch = splits.train.batch_order(batch_size, None).len();
    let epochs = config.train.epochs;
    let mut optimizer = build_optimizer(&config.optim, &config.regularization);
    let mut scheduler = build_scheduler(
        &config.schedule,
        config.optim.lr,
        steps_per_epoch,
        epochs * steps_per_epoch,
    )?;
    let eval_device = device.clone().inner();
    let l1 = config.regularization.l1;
    let keep_best = config.early_stopping.patience > 0 && config.early_stopping.restore_best;
    let augment = Augment {
        max_shift: config.data.augment_shift,
        max_rotation: config.data.augment_rotation,
    };

    let precision = Precision::parse(&config.train.precision)?;
    let mut mixed = MixedPrecision::new(precision, config.loss_scale);
    let half = mixed.half();
    let mut stopper = EarlyStopping::new(&config.early_stopping);
    let mut best_model = None;
    let (mut first_epoch, mut skip, mut steps, mut samples_seen) = (1, 0, 0, 0);
    let (mut history, mut carried, mut seconds_before) = (Vec::new(), RunningSums::default(), 0.0);
    if let Some(checkpoint) = control.resume {
        let state = &checkpoint.state;
        best_model = checkpoint.load_best(model.clone())?;
        model = checkpoint.load_model(model)?;
        optimizer = checkpoint.load_optimizer(optimizer)?;
        scheduler = checkpoint.load_scheduler(scheduler)?;
        stopper = EarlyStopping::restore(&config.early_stopping, state.early_stopping);
        mixed.restore(config.loss_scale, state.loss_scale);
        (first_epoch, skip, steps, samples_seen) =
            (state.epoch, state.position, state.step, state.samples_seen);
        (history, carried, seconds_before) =
            (state.history.clone(), state.running, state.train_seconds);
    }
    let mut stopped_early = false;

    // Full-batch training without augmentation: every step sees the same batch, so it is built
    // once (in the data's order: shuffling one batch would only reorder its sums).
    let whole_set = (steps_per_epoch == 1 && augment.is_identity()).then(|| {
        let order = splits.train.batch_order(batch_size, None);
        let batch = splits.train.batch(&order[0], device);
        (order, batch)
    });
    progress.start(epochs, steps_per_epoch);
    let start = Instant::now();
    let elapsed = || seconds_before + start.elapsed().as_secs_f64();
    for epoch in first_epoch..=epochs {
        let mut running = metrics::RunningMetrics::resumed(if epoch == first_epoch {
            carried
        } else {
            Default::default()
        });
        let mut lr = config.optim.lr;
        let shuffled;
        let order = match &whole_set {
            Some((order, _)) => order,
            None => {
                shuffled = splits
                    .train
                    .batch_order(batch_size, Some(mix(config.seed, epoch as u64)));
                &shuffled
            }
        };
        let skip_now = if epoch == first_epoch { skip } else { 0 };
        for (index, indices) in order.iter().enumerate().skip(skip_now) {
            device.seed(mix(config.seed ^ 0xD20F, steps as u64));
            let mut augment_rng = SeededRng::new(mix(config.seed ^ 0xA06, steps as u64));
            let batch = match &whole_set {
                Some((_, batch)) => batch.clone(),
                None => splits.train.augmented_batch(
                    indices,
                    device,
                    Some((&augment, &mut augment_rng)),
                ),
            };
            let logits = match (mixed.cast(&model), half) {
                (Some(cast), Some(dtype)) => {
                    cast.logits(batch.inputs.cast(dtype)).cast(FloatDType::F32)
                }
                _ => model.logits(batch.inputs),
            };
            let loss = objective.loss(logits.clone(), batch.labels.clone());
            running.add(
                objective,
                loss.clone().detach(),
                logits.detach(),
                batch.labels,
            );
            let objective_value = match (l1 > 0.0).then(|| regularize::l1_norm(&model)).flatten() {
                Some(penalty) => loss + penalty.mul_scalar(l1),
                None => loss,
            };
            let (mut grads, may_step) = mixed.backward(&model, objective_value);
            if let Some(max_norm) = config.optim.clip_grad_norm {
                grads = clip::clip_grad_norm(&model, grads, max_norm).0;
            }
            let rate = scheduler.step();
            lr = rate.base();
            if may_step {
                model = optimizer.step(rate, model, grads);
            }
            if half.is_some() {
                let _ = model.valid(); // applies the pending batch-norm statistics update
                model = model.map(&mut RestoreBuffers);
            }
            steps += 1;
            samples_seen += indices.len();
            progress.step();

            let Some(checkpointer) = control.checkpointer else {
                continue;
            };
            if checkpointer.due_after_step(steps, index + 1 == order.len()) {
                let state = TrainState::at(
                    epoch,
                    index + 1,
                    steps,
                    config.seed,
                    samples_seen,
                    elapsed(),
                    running.sums(),
                    history.clone(),
                    stopper.state(),
                )
                .with_loss_scale(mixed.loss_scale());
                let snapshot = Snapshot::of(&model, best_model.as_ref(), &optimizer, &scheduler);
                checkpointer.save_or_stop(snapshot, state, false)?;
            }
        }
        let (train_loss, train_accuracy) = running.finish();
        let valid = splits
            .valid
            .as_ref()
            .map(|v| metrics::evaluate(&model.valid(), objective, v, &eval_device));
        let record = EpochRecord {
            epoch,
            train_loss,
            train_accuracy,
            valid_loss: valid.as_ref().map(|v| v.loss),
            valid_accuracy: valid.as_ref().map(|v| v.accuracy),
            lr,
            seconds: elapsed(),
        };
        progress.epoch(&record);
        history.push(record);
        let verdict = valid.map(|v| stopper.observe(epoch, v.loss, v.accuracy));
        if verdict == Some(Verdict::Improved) && keep_best {
            best_model = Some(model.clone());
        }
        let stop = verdict == Some(Verdict::Stop) && config.early_stopping.patience > 0;
        if let Some(checkpointer) = control.checkpointer
            && checkpointer.due_after_epoch(epoch, stop || epoch == epochs)
        {
            let state = TrainState::at(
                epoch + 1,
                0,
                steps,
                config.seed,
                samples_seen,
                elapsed(),
                RunningSums::default(),
                history.clone(),
                stopper.state(),
            )
            .with_loss_scale(mixed.loss_scale());
            let snapshot = Snapshot::of(&model, best_model.as_ref(), &optimizer, &scheduler);
            checkpointer.save_or_stop(snapshot, state, verdict == Some(Verdict::Improved))?;
        }
        if stop {
            stopped_early = epoch < epochs;
            break;
        }
    }
    if let Some(checkpointer) = control.checkpointer {
        checkpointer.flush()?;
    }
    progress.finish();
    Ok(FitReport {
        model: best_model.unwrap_or(model),
        history,
        steps,
        samples_seen,
        train_seconds: elapsed(),
        best_epoch: stopper.best_epoch(),
        stopped_early,
        loss_scale: mixed.loss_scale(),
    })
}

/// Mixes a seed with a counter (SplitMix64 finaliser) so that nearby counters give unrelated seeds.
pub(crate) fn mix(seed: u64, counter: u64) -> u64 {
    let mut z = seed ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
