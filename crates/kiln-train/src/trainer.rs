//! The one training loop of Kiln: every model, every task, every optimizer and schedule.

use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

use crate::checkpoint::{Checkpointer, RunningSums, Snapshot, TrainState, VerifiedCheckpoint};
use crate::collective::{self, Collective};
use crate::early_stopping::{EarlyStopping, Verdict};
use crate::hooks::{ClipGradNorm, F32Buffers, GradientHook, L1Penalty, LossTerm, ParamTransform};
use crate::metrics::RunningMetrics;
use crate::optim::{build_optimizer, build_scheduler};
use crate::precision::MixedPrecision;
use crate::seeding::mix;
use crate::task::{StepContext, TrainTask};
use crate::{EpochRecord, FitConfig, FitReport, KilnError, Progress, Result, Silent};

/// Trains any Burn module on any [`TrainTask`] as a [`FitConfig`] says, with checkpoints,
/// exact resume, mixed precision, gradient accumulation, early stopping and the extension
/// points of [`crate::hooks`].
///
/// Deterministic: the device is reseeded before every batch from the seed and the batch's
/// number, and each epoch's order comes from the seed and the epoch, so the same seed gives the
/// same weights bit for bit on the CPU backends, and a run resumed from any checkpoint ends
/// with the weights of a run that never stopped. Hold [`crate::rng_guard`] from seeding the
/// device and building the model until `fit` returns when other threads may train.
///
/// The gradient path of each optimizer step: back-propagation (scaled, then unscaled, under
/// f16), the sum over the accumulated micro-batches, the loss scaler's verdict (a step whose
/// gradients overflowed is skipped), global-norm clipping, then the added gradient hooks in
/// order. The loss: the task's, plus L1, plus the added loss terms. After each step: f32
/// buffers under mixed precision, then the added parameter transforms.
pub struct Trainer<'a, M> {
    config: FitConfig,
    progress: Option<&'a mut dyn Progress>,
    checkpointer: Option<&'a Checkpointer>,
    resume: Option<&'a VerifiedCheckpoint>,
    loss_terms: Vec<Box<dyn LossTerm<M> + 'a>>,
    gradient_hooks: Vec<Box<dyn GradientHook<M> + 'a>>,
    collective: Option<&'a dyn Collective>,
    check_every: usize,
    transforms: Vec<Box<dyn ParamTransform<M> + 'a>>,
}

impl<'a, M: Module + 'static> Trainer<'a, M> {
    /// A loop as `config` says, silent, without checkpoints.
    pub fn new(config: FitConfig) -> Self {
        Self {
            config,
            progress: None,
            checkpointer: None,
            resume: None,
            loss_terms: Vec::new(),
            gradient_hooks: Vec::new(),
            collective: None,
            check_every: 50,
            transforms: Vec::new(),
        }
    }

    /// Reports progress to `progress` (a bar, log lines, or your own).
    pub fn with_progress(mut self, progress: &'a mut dyn Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Writes checkpoints as the checkpointer's policy says, and on SIGINT/SIGTERM.
    pub fn with_checkpointer(mut self, checkpointer: Option<&'a Checkpointer>) -> Self {
        self.checkpointer = checkpointer;
        self
    }

    /// Continues from this checkpoint: model, optimizer, scheduler, position, metrics, early
    /// stopping, loss scaler and what the task carries.
    pub fn resume_from(mut self, checkpoint: Option<&'a VerifiedCheckpoint>) -> Self {
        self.resume = checkpoint;
        self
    }

    /// Adds a term to every batch's loss.
    pub fn with_loss_term(mut self, term: impl LossTerm<M> + 'a) -> Self {
        self.loss_terms.push(Box::new(term));
        self
    }

    /// Adds a change to the gradients before each optimizer step.
    pub fn with_gradient_hook(mut self, hook: impl GradientHook<M> + 'a) -> Self {
        self.gradient_hooks.push(Box::new(hook));
        self
    }

    /// Adds a change to the parameters after each optimizer step.
    pub fn with_transform(mut self, transform: impl ParamTransform<M> + 'a) -> Self {
        self.transforms.push(Box::new(transform));
        self
    }

    /// Trains `model` (built on the autodiff `device`) on `task`.
    /// Data-parallel training over `collective`'s ranks (a single rank trains as one process):
    /// each takes its share of every batch, gradients and running metrics are summed, batch-norm
    /// statistics averaged, and every `check_every` steps and at each epoch's end (0: never) the
    /// ranks compare a checksum of their parameters. Only give the checkpointer and progress to rank 0.
    pub fn with_collective(mut self, collective: &'a dyn Collective, check_every: usize) -> Self {
        self.collective = Some(collective).filter(|c| c.size() > 1);
        self.check_every = check_every;
        self
    }

    /// Trains `model` on `task`.
    pub fn fit<T: TrainTask<M>>(
        self,
        mut model: M,
        task: &mut T,
        device: &Device,
    ) -> Result<FitReport<M>> {
        let Trainer {
            config,
            progress,
            checkpointer,
            resume,
            loss_terms: added_terms,
            gradient_hooks: added_hooks,
            transforms: added_transforms,
            collective,
            check_every,
        } = self;
        config.validate()?;
        if let Some(c) = collective {
            if config.precision != crate::Precision::F32 {
                return Err(KilnError::Input(format!(
                    "data-parallel training runs in f32 (train.precision = \"f32\"), not {:?}: \
                     the ranks' loss scalers would disagree",
                    config.precision
                )));
            }
            task.shard(c.rank(), c.size())?;
        }
        let mut silent = Silent;
        let progress: &mut dyn Progress = match progress {
            Some(progress) => progress,
            None => &mut silent,
        };
        let batches = task.batches_per_epoch();
        if batches == 0 {
            return Err(KilnError::Input(
                "the training task has no batches: is the training data empty?".into(),
            ));
        }
        let group = config.accumulate_steps;
        let steps_per_epoch = batches.div_ceil(group);
        let epochs = config.epochs;
        let objective = task.objective();
        let mut optimizer = build_optimizer(&config.optim, &config.regularization);
        let mut scheduler = build_scheduler(
            &config.schedule,
            config.optim.lr,
            steps_per_epoch,
            epochs * steps_per_epoch,
        )?;
        let eval_device = device.clone().inner();
        let keep_best = config.early_stopping.patience > 0 && config.early_stopping.restore_best;
        let mut mixed = MixedPrecision::new(config.precision, config.loss_scale);
        let half = mixed.half();

        let mut loss_terms: Vec<Box<dyn LossTerm<M> + 'a>> = Vec::new();
        if config.regularization.l1 > 0.0 {
            loss_terms.push(Box::new(L1Penalty(config.regularization.l1)));
        }
        loss_terms.extend(added_terms);
        let mut gradient_hooks: Vec<Box<dyn GradientHook<M> + 'a>> = Vec::new();
        if let Some(max_norm) = config.optim.clip_grad_norm {
            gradient_hooks.push(Box::new(ClipGradNorm(max_norm)));
        }
        gradient_hooks.extend(added_hooks);
        let mut transforms: Vec<Box<dyn ParamTransform<M> + 'a>> = Vec::new();
        if half.is_some() {
            transforms.push(Box::new(F32Buffers));
        }
        transforms.extend(added_transforms);

        let mut stopper = EarlyStopping::new(&config.early_stopping);
        let mut best_model = None;
        let (mut first_epoch, mut skip, mut steps, mut batches_done, mut samples_seen) =
            (1, 0, 0, 0, 0);
        let (mut history, mut carried, mut seconds_before) =
            (Vec::new(), RunningSums::default(), 0.0);
        if let Some(checkpoint) = resume {
            let state = &checkpoint.state;
            best_model = checkpoint.load_best(model.clone())?;
            model = checkpoint.load_model(model)?;
            optimizer = checkpoint.load_optimizer(optimizer)?;
            scheduler = checkpoint.load_scheduler(scheduler)?;
            stopper = EarlyStopping::restore(&config.early_stopping, state.early_stopping);
            mixed.restore(config.loss_scale, state.loss_scale);
            (first_epoch, skip, steps, samples_seen) =
                (state.epoch, state.position, state.step, state.samples_seen);
            batches_done = state.batches.unwrap_or(state.step);
            (history, carried, seconds_before) =
                (state.history.clone(), state.running, state.train_seconds);
            if skip > batches {
                return Err(KilnError::Input(format!(
                    "{}: the checkpoint is at batch {skip} of an epoch, but the task has {batches} batches an epoch",
                    checkpoint.dir.display()
                )));
            }
            task.restore(checkpoint, device)?;
        }
        let mut stopped_early = false;

        progress.start(epochs, batches);
        let start = Instant::now();
        let elapsed = || seconds_before + start.elapsed().as_secs_f64();
        for epoch in first_epoch..=epochs {
            let continuing = epoch == first_epoch;
            let mut running = RunningMetrics::resumed(if continuing {
                carried
            } else {
                RunningSums::default()
            });
            let skip_now = if continuing { skip } else { 0 };
            task.start_epoch(epoch, config.seed, continuing && skip_now > 0);
            let mut lr = config.optim.lr;
            let mut accumulator = GradientsAccumulator::<M>::new();
            let mut overflowed = false;
            for batch in skip_now..batches {
                device.seed(mix(config.seed ^ 0xD20F, batches_done as u64));
                if let Some(c) = collective {
                    // Weights Burn initialises lazily take this seed, as in one process; then
                    // each rank draws its own dropout masks.
                    collective::materialize(&model);
                    device.seed(mix(
                        config.seed ^ 0xD20F ^ ((c.rank() as u64) << 48),
                        batches_done as u64,
                    ));
                }
                let context = StepContext {
                    epoch,
                    batch,
                    global_batch: batches_done,
                    seed: config.seed,
                    device,
                    half,
                };
                let cast = mixed.cast(&model);
                let output = task.step(cast.as_ref().unwrap_or(&model), &context)?;
                drop(cast);
                let mut loss = output.loss.clone();
                let mut step_samples = output.samples;
                match collective {
                    None => running.add(
                        objective,
                        output.loss.clone().detach(),
                        output.logits.clone().detach(),
                        output.targets.clone(),
                    ),
                    Some(c) => {
                        // This rank's share of the batch's mean: its samples over all ranks'.
                        let mut local = RunningMetrics::default();
                        local.add(
                            objective,
                            output.loss.clone().detach(),
                            output.logits.clone().detach(),
                            output.targets.clone(),
                        );
                        let global = collective::sum_running(c, local.sums());
                        loss =
                            loss.mul_scalar(output.samples as f64 / global.samples.max(1) as f64);
                        step_samples = global.samples;
                        running.add_sums(global);
                    }
                }
                for term in &mut loss_terms {
                    if let Some(extra) = term.term(&model, &output) {
                        loss = loss + extra;
                    }
                }
                let group_start = batch / group * group;
                let group_len = group.min(batches - group_start);
                if group_len > 1 {
                    loss = loss.div_scalar(group_len as f64);
                }
                let (grads, overflow) = mixed.backward(&model, loss);
                batches_done += 1;
                samples_seen += step_samples;
                progress.step();
                overflowed |= overflow;
                if batch + 1 < group_start + group_len {
                    accumulator.accumulate(&model, grads);
                    continue;
                }
                let mut grads: GradientsParams = if group_len > 1 {
                    accumulator.accumulate(&model, grads);
                    accumulator.grads()
                } else {
                    grads
                };
                if let Some(c) = collective {
                    grads = collective::sum_gradients(c, &model, grads);
                }
                let may_step = mixed.may_step(std::mem::take(&mut overflowed));
                for hook in &mut gradient_hooks {
                    grads = hook.apply(&model, grads);
                }
                let rate = scheduler.step();
                lr = rate.base();
                if may_step {
                    model = optimizer.step(rate, model, grads);
                }
                for transform in &mut transforms {
                    model = transform.apply(model);
                }
                steps += 1;
                if let Some(c) = collective {
                    model = collective::average_buffers(c, model);
                    // Also at each epoch's last step, before rank 0 alone reads the running
                    // statistics for a checkpoint (which settles their value on that rank).
                    if check_every > 0 && (steps % check_every == 0 || batch + 1 == batches) {
                        collective::check_in_step(c, &model, steps)?;
                    }
                }

                let Some(checkpointer) = checkpointer else {
                    continue;
                };
                if checkpointer.due_after_step(steps, batch + 1 == batches) {
                    let state = TrainState::at(
                        epoch,
                        batch + 1,
                        steps,
                        config.seed,
                        samples_seen,
                        elapsed(),
                        running.sums(),
                        history.clone(),
                        stopper.state(),
                    )
                    .with_loss_scale(mixed.loss_scale())
                    .with_batches(batches_done);
                    let snapshot =
                        Snapshot::of(&model, best_model.as_ref(), &optimizer, &scheduler)
                            .carrying(task.carried());
                    checkpointer.save_or_stop(snapshot, state, false)?;
                }
            }
            let (train_loss, train_accuracy) = running.finish();
            let valid = task.validate(&model.valid(), &eval_device)?;
            let record = EpochRecord {
                epoch,
                train_loss,
                train_accuracy,
                valid_loss: valid.map(|v| v.loss),
                valid_accuracy: valid.map(|v| v.accuracy),
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
            if let Some(checkpointer) = checkpointer
                && checkpointer.due_after_epoch(epoch, steps, stop || epoch == epochs)
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
                .with_loss_scale(mixed.loss_scale())
                .with_batches(batches_done);
                // Nothing carried: the next epoch starts afresh.
                let snapshot = Snapshot::of(&model, best_model.as_ref(), &optimizer, &scheduler);
                checkpointer.save_or_stop(snapshot, state, verdict == Some(Verdict::Improved))?;
            }
            if stop {
                stopped_early = epoch < epochs;
                break;
            }
        }
        if let Some(checkpointer) = checkpointer {
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
}
