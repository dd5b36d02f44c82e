//! Character language models in the shared loop's terms: truncated back-propagation through
//! time over parallel text streams with the hidden state carried between chunks, evaluation in
//! bits per character, and seeded sampling.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::softmax;
use kiln_data::{SeededRng, StreamChunks};
use kiln_rnn::{CharLanguageModel, RecurrentState};

use crate::checkpoint::{RunningSums, Snapshot, TrainState};
use crate::config::ExperimentConfig;
use crate::early_stopping::{EarlyStopping, Verdict};
use crate::metrics::RunningMetrics;
use crate::optim::{build_optimizer, build_scheduler};
use crate::precision::{MixedPrecision, Precision};
use crate::trainer::mix;
use crate::{EpochRecord, FitControl, FitReport, Objective, Progress, Result, clip};

/// Loss (nats per character), next-character accuracy and bits per character of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextEvaluation {
    /// Mean cross-entropy in nats per character.
    pub loss: f64,
    /// Fraction of next characters predicted exactly.
    pub accuracy: f64,
    /// Mean cross-entropy in bits per character (`loss / ln 2`).
    pub bits_per_char: f64,
}

/// Mean loss of one chunk and its flattened logits and targets, and the state after it.
///
/// With `half`, the model (a cast copy) runs in that type from the state cast to it; logits and
/// the returned state come back in f32, so the loss and the carried state stay f32.
fn chunk_loss(
    model: &CharLanguageModel,
    inputs: Tensor<2, Int>,
    targets: Tensor<2, Int>,
    state: Option<RecurrentState>,
    half: Option<FloatDType>,
) -> (Tensor<1>, Tensor<2>, Tensor<1, Int>, RecurrentState) {
    let [batch, steps] = targets.dims();
    let cast_state = |s: RecurrentState, dtype: FloatDType| {
        RecurrentState::new(s.hidden.cast(dtype), s.cell.map(|c| c.cast(dtype)))
    };
    let (logits, state) = match half {
        Some(dtype) => {
            let (logits, state) = model.forward(inputs, state.map(|s| cast_state(s, dtype)));
            (
                logits.cast(FloatDType::F32),
                cast_state(state, FloatDType::F32),
            )
        }
        None => model.forward(inputs, state),
    };
    let vocab = logits.dims()[2];
    let logits = logits.reshape([batch * steps, vocab]);
    let targets = targets.reshape([batch * steps]);
    let loss = Objective::Multiclass { classes: vocab }.loss(logits.clone(), targets.clone());
    (loss, logits, targets, state)
}

/// Evaluates `model` (an inference copy) on `chunks`, carrying the state through each stream.
pub fn evaluate_text(
    model: &CharLanguageModel,
    chunks: &StreamChunks,
    device: &Device,
) -> TextEvaluation {
    let mut running = RunningMetrics::default();
    let mut state = None;
    let objective = Objective::Multiclass {
        classes: model.vocab_size(),
    };
    for index in 0..chunks.len() {
        let (inputs, targets) = chunks.chunk(index, device);
        let (loss, logits, targets, next) = chunk_loss(model, inputs, targets, state, None);
        running.add(objective, loss, logits, targets);
        state = Some(next);
    }
    let (loss, accuracy) = running.finish();
    TextEvaluation {
        loss,
        accuracy,
        bits_per_char: loss / std::f64::consts::LN_2,
    }
}

/// Trains a character language model with truncated back-propagation through time: each epoch
/// walks the training streams chunk by chunk, carrying the (detached) hidden state forward.
/// Checkpoints (with the carried state) and resume work as in [`crate::fit_with`].
pub fn fit_language_model(
    mut model: CharLanguageModel,
    train: &StreamChunks,
    valid: &StreamChunks,
    config: &ExperimentConfig,
    device: &Device,
    progress: &mut dyn Progress,
    control: FitControl<'_>,
) -> Result<FitReport<CharLanguageModel>> {
    let steps_per_epoch = train.len();
    let epochs = config.train.epochs;
    let mut optimizer = build_optimizer(&config.optim, &config.regularization);
    let mut scheduler = build_scheduler(
        &config.schedule,
        config.optim.lr,
        steps_per_epoch,
        epochs * steps_per_epoch,
    )?;
    let eval_device = device.clone().inner();
    let objective = Objective::Multiclass {
        classes: model.vocab_size(),
    };
    let keep_best = config.early_stopping.patience > 0 && config.early_stopping.restore_best;
    let precision = Precision::parse(&config.train.precision)?;
    let mut mixed = MixedPrecision::new(precision, config.loss_scale);
    let mut stopper = EarlyStopping::new(&config.early_stopping);
    let mut best_model = None;
    let (mut first_epoch, mut skip, mut steps, mut history) = (1, 0, 0, Vec::new());
    let (mut carried_sums, mut carried_state, mut seconds_before) =
        (RunningSums::default(), None, 0.0);
    if let Some(checkpoint) = control.resume {
        let state = &checkpoint.state;
        best_model = checkpoint.load_best(model.clone())?;
        model = checkpoint.load_model(model)?;
        optimizer = checkpoint.load_optimizer(optimizer)?;
        scheduler = checkpoint.load_scheduler(scheduler)?;
        stopper = EarlyStopping::restore(&config.early_stopping, state.early_stopping);
        mixed.restore(config.loss_scale, state.loss_scale);
        (first_epoch, skip, steps, history) = (
            state.epoch,
            state.position,
            state.step,
            state.history.clone(),
        );
        (carried_sums, seconds_before) = (state.running, state.train_seconds);
        if let Some(hidden) = checkpoint.load_carried("hidden", device)? {
            carried_state = Some(RecurrentState::new(
                hidden,
                checkpoint.load_carried("cell", device)?,
            ));
        }
    }
    let mut stopped_early = false;

    progress.start(epochs, steps_per_epoch);
    let start = Instant::now();
    let elapsed = || seconds_before + start.elapsed().as_secs_f64();
    for epoch in first_epoch..=epochs {
        let resumed = epoch == first_epoch;
        let mut running = RunningMetrics::resumed(if resumed {
            carried_sums
        } else {
            RunningSums::default()
        });
        let mut state: Option<RecurrentState> = if resumed { carried_state.take() } else { None };
        let mut lr = config.optim.lr;
        for index in (if resumed { skip } else { 0 })..steps_per_epoch {
            device.seed(mix(config.seed ^ 0xD20F, steps as u64));
            let (inputs, targets) = train.chunk(index, device);
            let cast = mixed.cast(&model);
            let forward_model = cast.as_ref().unwrap_or(&model);
            let (loss, logits, targets, next) =
                chunk_loss(forward_model, inputs, targets, state, mixed.half());
            running.add(objective, loss.clone().detach(), logits.detach(), targets);
            let (mut grads, may_step) = mixed.backward(&model, loss);
            if let Some(max_norm) = config.optim.clip_grad_norm {
                grads = clip::clip_grad_norm(&model, grads, max_norm).0;
            }
            let rate = scheduler.step();
            lr = rate.base();
            if may_step {
                model = optimizer.step(rate, model, grads);
            }
            let next = next.detach();
            steps += 1;
            progress.step();

            let Some(checkpointer) = control.checkpointer else {
                state = Some(next);
                continue;
            };
            if checkpointer.due_after_step(steps, index + 1 == steps_per_epoch) {
                let point = TrainState::at(
                    epoch,
                    index + 1,
                    steps,
                    config.seed,
                    steps * train.streams(),
                    elapsed(),
                    running.sums(),
                    history.clone(),
                    stopper.state(),
                )
                .with_loss_scale(mixed.loss_scale());
                let mut carried = vec![("hidden", next.hidden.clone())];
                carried.extend(next.cell.clone().map(|cell| ("cell", cell)));
                let snapshot = Snapshot::of(&model, best_model.as_ref(), &optimizer, &scheduler)
                    .carrying(carried);
                checkpointer.save_or_stop(snapshot, point, false)?;
            }
            state = Some(next);
        }
        let (train_loss, train_accuracy) = running.finish();
        let evaluation = evaluate_text(&model.valid(), valid, &eval_device);
        let record = EpochRecord {
            epoch,
            train_loss,
            train_accuracy,
            valid_loss: Some(evaluation.loss),
            valid_accuracy: Some(evaluation.accuracy),
            lr,
            seconds: elapsed(),
        };
        progress.epoch(&record);
        history.push(record);
        let verdict = stopper.observe(epoch, evaluation.loss, evaluation.accuracy);
        if verdict == Verdict::Improved && keep_best {
            best_model = Some(model.clone());
        }
        let stop = verdict == Verdict::Stop && config.early_stopping.patience > 0;
        if let Some(checkpointer) = control.checkpointer
            && checkpointer.due_after_epoch(epoch, stop || epoch == epochs)
        {
            let point = TrainState::at(
                epoch + 1,
                0,
                steps,
                config.seed,
                steps * train.streams(),
                elapsed(),
                RunningSums::default(),
                history.clone(),
                stopper.state(),
            )
            .with_loss_scale(mixed.loss_scale());
            let snapshot = Snapshot::of(&model, best_model.as_ref(), &optimizer, &scheduler);
            checkpointer.save_or_stop(snapshot, point, verdict == Verdict::Improved)?;
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
        samples_seen: steps * train.streams(),
        train_seconds: elapsed(),
        best_epoch: stopper.best_epoch(),
        stopped_early,
        loss_scale: mixed.loss_scale(),
    })
}

/// Samples `length` tokens after `prompt` (token ids): softmax of the logits divided by
/// `temperature`, drawn with a generator seeded by `seed`, so the same seed gives the same text.
pub fn sample_tokens(
    model: &CharLanguageModel,
    prompt: &[u32],
    length: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Vec<u32> {
    let mut rng = SeededRng::new(seed);
    let to_tensor = |tokens: &[u32]| {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), device)
    };
    let (mut logits, mut state) = model.forward(to_tensor(prompt), None);
    let mut generated = Vec::with_capacity(length);
    for _ in 0..length {
        let steps = logits.dims()[1];
        let last = logits
            .clone()
            .slice([0..1, steps - 1..steps])
            .flatten::<1>(0, 2);
        let probabilities: Vec<f32> = softmax(last.div_scalar(temperature.max(1e-6)), 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap_or_default();
        let token = draw(&probabilities, rng.unit_f32());
        generated.push(token);
        let (next_logits, next_state) = model.forward(to_tensor(&[token]), Some(state));
        logits = next_logits;
        state = next_state;
    }
    generated
}

/// The index where the running sum of `probabilities` passes `u` (inverse-CDF sampling).
fn draw(probabilities: &[f32], u: f32) -> u32 {
    let total: f32 = probabilities.iter().sum();
    let mut acc = 0.0;
    for (i, p) in probabilities.iter().enumerate() {
        acc += p / total;
        if u < acc {
            return i as u32;
        }
    }
    probabilities.len().saturating_sub(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_follows_the_cumulative_distribution() {
        let p = [0.1, 0.0, 0.6, 0.3];
        assert_eq!(draw(&p, 0.05), 0);
        assert_eq!(draw(&p, 0.2), 2);
        assert_eq!(draw(&p, 0.69), 2);
        assert_eq!(draw(&p, 0.71), 3);
        assert_eq!(draw(&p, 0.9999), 3);
    }
}
