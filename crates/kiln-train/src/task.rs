//! What the loop trains on: a [`TrainTask`] turns the model and a batch index into a loss.
//!
//! The loop owns everything every model shares (optimizer, schedule, precision, gradient
//! accumulation, loss terms, gradient hooks, parameter transforms, checkpoints, early stopping);
//! a task owns its data and how one batch goes through the model: flat samples
//! ([`crate::Classification`]), or a language model's text chunks with the recurrent state
//! carried from one step to the next (kiln-zoo's `LanguageModelling`).

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::Objective;
use crate::checkpoint::VerifiedCheckpoint;
use crate::error::Result;

/// Where the loop stands when it asks a task for one batch's loss.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// The epoch (1-based).
    pub epoch: usize,
    /// The batch's index in the epoch (0-based).
    pub batch: usize,
    /// Batches trained before this one since the run began (the counter random draws derive
    /// from, so that a resumed run draws what an uninterrupted one would).
    pub global_batch: usize,
    /// The run's base seed.
    pub seed: u64,
    /// The autodiff device the model lives on.
    pub device: &'a Device,
    /// The half type the model given to [`TrainTask::step`] computes in (mixed precision):
    /// cast float inputs to it and the logits back to f32. `None` in f32.
    pub half: Option<FloatDType>,
}

/// One batch through the model.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Mean loss of the batch (f32), to be back-propagated.
    pub loss: Tensor<1>,
    /// Logits `[rows, outputs]` (f32), for the running accuracy.
    pub logits: Tensor<2>,
    /// Targets `[rows]` of those logits.
    pub targets: Tensor<1, Int>,
    /// Samples the batch counts for in throughput figures.
    pub samples: usize,
    /// The batch's flat inputs `[rows, sample_size]` (f32, as the model saw them, augmentation
    /// included), for loss terms that need them (a distillation teacher); `None` where the
    /// task has none to give.
    pub inputs: Option<Tensor<2>>,
}

/// Loss and accuracy of a validation pass (what early stopping watches).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validation {
    /// Mean loss.
    pub loss: f64,
    /// Fraction predicted right.
    pub accuracy: f64,
}

/// A training task: the data and how one batch goes through the model.
///
/// burn-train's `TrainStep`/`ValidStep` take a batch the loader made; here the task also knows
/// its batches (so the loop can skip to a checkpoint's position and carry state between steps)
/// and what it carries in a checkpoint.
pub trait TrainTask<M: Module> {
    /// Binary or multi-class: how logits become predictions in the running accuracy.
    fn objective(&self) -> Objective;

    /// Batches in one epoch.
    fn batches_per_epoch(&self) -> usize;

    /// Called before the first batch of each epoch; `resumed` when the epoch continues from a
    /// checkpoint (state restored by [`TrainTask::restore`] is then kept).
    fn start_epoch(&mut self, epoch: usize, seed: u64, resumed: bool) {
        let _ = (epoch, seed, resumed);
    }

    /// The loss of batch `context.batch` of the epoch through `model` (a half-precision copy
    /// of the trained model under mixed precision); an error (logits that do not fit the
    /// targets, say) ends training with it.
    fn step(&mut self, model: &M, context: &StepContext<'_>) -> Result<StepOutput>;

    /// Loss and accuracy of `model` (an inference copy) on the validation data, if any; an
    /// error (labels the model cannot predict, say) ends training with it.
    fn validate(&mut self, model: &M, device: &Device) -> Result<Option<Validation>>;

    /// Data-parallel training: from now on take only rank `rank`'s share (of `size`) of every
    /// batch, the batch order staying that of the whole run. Tasks that cannot say so.
    fn shard(&mut self, rank: usize, size: usize) -> Result<()> {
        let _ = (rank, size);
        Err(crate::KilnError::Input(
            "this training task cannot be split across ranks (data-parallel training supports \
             classifiers on samples)"
                .into(),
        ))
    }

    /// Tensors the task carries from one step to the next (a recurrent state), saved in
    /// checkpoints; empty for tasks whose steps are independent.
    fn carried(&self) -> Vec<(&'static str, Tensor<3>)> {
        Vec::new()
    }

    /// Restores what [`TrainTask::carried`] saved, from the checkpoint being resumed.
    fn restore(&mut self, checkpoint: &VerifiedCheckpoint, device: &Device) -> Result<()> {
        let _ = (checkpoint, device);
        Ok(())
    }
}
