//! The task of every classifier trained on flat samples (tables, images read as rows or
//! pixels, sequences): seeded shuffling each epoch, optional image augmentation, and
//! validation with loss and accuracy.

use burn::prelude::*;
use burn::tensor::FloatDType;
use kiln_data::{Augment, Batch, Samples, SeededRng};

use crate::seeding::mix;
use crate::task::{StepContext, StepOutput, TrainTask, Validation};
use crate::{KilnError, Objective, Result, metrics};

/// Refuses logits whose shape does not fit the objective, before the loss sees them.
pub fn check_logits(objective: Objective, logits: &Tensor<2>, rows: usize) -> Result<()> {
    let [batch, outputs] = logits.dims();
    if batch == rows && outputs == objective.outputs() {
        return Ok(());
    }
    let task = match objective {
        Objective::Binary => "a binary task (one logit, sigmoid)".to_string(),
        Objective::Multiclass { classes } => format!("a {classes}-class task"),
    };
    Err(KilnError::Input(format!(
        "the model gives logits of shape [{batch}, {outputs}] for a batch of {rows} samples, but {task} needs [{rows}, {}]; build the model with {} outputs or choose the objective with Classification::with_objective",
        objective.outputs(),
        objective.outputs()
    )))
}

/// Classification of [`Samples`] by a model whose forward pass is `forward`: inputs
/// `[batch, sample_size]` (flattened samples; reshape them as the model needs, it is free) to
/// logits `[batch, outputs]`.
///
/// ```no_run
/// # use burn::prelude::*;
/// # use kiln_data::Samples;
/// # use kiln_train::{Classification, FitConfig, Trainer};
/// # fn demo(model: burn::nn::Linear, train: &Samples, valid: &Samples, device: &Device) {
/// let mut task = Classification::new(train, |m: &burn::nn::Linear, x| m.forward(x))
///     .with_valid(valid)
///     .with_batch_size(32);
/// let report = Trainer::new(FitConfig::new(10)).fit(model, &mut task, device).unwrap();
/// # }
/// ```
pub struct Classification<'a, F> {
    train: &'a Samples,
    valid: Option<&'a Samples>,
    forward: F,
    objective: Objective,
    batch_size: usize,
    augment: Augment,
    order: Vec<Vec<usize>>,
    whole_set: Option<Batch>,
    labels_checked: bool,
    /// Data-parallel training: (rank, ranks); each batch's share is a contiguous slice.
    shard: Option<(usize, usize)>,
}

impl<'a, F> Classification<'a, F> {
    /// Trains on `train` (its `num_classes` picks binary or multi-class) in batches of 64.
    pub fn new(train: &'a Samples, forward: F) -> Self {
        Self {
            train,
            valid: None,
            forward,
            objective: Objective::for_classes(train.num_classes),
            batch_size: 64,
            augment: Augment::default(),
            order: Vec::new(),
            whole_set: None,
            labels_checked: false,
            shard: None,
        }
    }

    /// Validates on `valid` after every epoch (what early stopping watches).
    pub fn with_valid(mut self, valid: &'a Samples) -> Self {
        self.valid = Some(valid);
        self
    }

    /// Validates on `valid` when there is one.
    pub fn with_optional_valid(mut self, valid: Option<&'a Samples>) -> Self {
        self.valid = valid;
        self
    }

    /// Samples per batch; 0 trains on the whole set in one batch (full-batch descent).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Random shifts and rotations of training images (seeded by the step).
    pub fn with_augment(mut self, augment: Augment) -> Self {
        self.augment = augment;
        self
    }

    /// Another objective than the one `num_classes` implies (two classes as a two-logit
    /// softmax, say: `Objective::Multiclass { classes: 2 }`).
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }

    /// Full-batch training without augmentation sees the same batch every step: built once,
    /// in the data's order (shuffling one batch would only reorder its sums).
    fn full_batch(&self) -> bool {
        self.train.batch_order(self.batch_size, None).len() == 1 && self.augment.is_identity()
    }
}

impl<M, F> TrainTask<M> for Classification<'_, F>
where
    M: Module,
    F: Fn(&M, Tensor<2>) -> Tensor<2>,
{
    fn objective(&self) -> Objective {
        self.objective
    }

    fn batches_per_epoch(&self) -> usize {
        self.train.batch_order(self.batch_size, None).len()
    }

    fn start_epoch(&mut self, epoch: usize, seed: u64, _resumed: bool) {
        self.order = if self.full_batch() {
            self.train.batch_order(self.batch_size, None)
        } else {
            self.train
                .batch_order(self.batch_size, Some(mix(seed, epoch as u64)))
        };
    }

    fn step(&mut self, model: &M, context: &StepContext<'_>) -> Result<StepOutput> {
        if !self.labels_checked {
            metrics::check_labels(self.train, self.objective.classes())?;
            self.labels_checked = true;
        }
        let indices = match self.shard {
            Some((rank, size)) => {
                let all = &self.order[context.batch];
                &all[rank * all.len() / size..(rank + 1) * all.len() / size]
            }
            None => &self.order[context.batch][..],
        };
        let batch = if self.full_batch() {
            self.whole_set
                .get_or_insert_with(|| self.train.batch(indices, context.device))
                .clone()
        } else {
            let mut rng = SeededRng::new(mix(context.seed ^ 0xA06, context.global_batch as u64));
            self.train
                .augmented_batch(indices, context.device, Some((&self.augment, &mut rng)))
        };
        let logits = match context.half {
            Some(dtype) => {
                (self.forward)(model, batch.inputs.clone().cast(dtype)).cast(FloatDType::F32)
            }
            None => (self.forward)(model, batch.inputs.clone()),
        };
        check_logits(self.objective, &logits, batch.size)?;
        Ok(StepOutput {
            loss: self.objective.loss(logits.clone(), batch.labels.clone()),
            logits,
            targets: batch.labels,
            samples: batch.size,
            inputs: Some(batch.inputs),
        })
    }

    fn shard(&mut self, rank: usize, size: usize) -> Result<()> {
        let order = self.train.batch_order(self.batch_size, None);
        let smallest = order.iter().map(Vec::len).min().unwrap_or(0);
        if smallest < size {
            return Err(KilnError::Input(format!(
                "a batch of {smallest} samples cannot be shared by {size} ranks (train.batch_size \
                 or the training split is too small)"
            )));
        }
        self.shard = Some((rank, size));
        Ok(())
    }

    fn validate(&mut self, model: &M, device: &Device) -> Result<Option<Validation>> {
        let Some(valid) = self.valid else {
            return Ok(None);
        };
        let e = metrics::evaluate(model, &self.forward, self.objective, valid, device)?;
        Ok(Some(Validation {
            loss: e.loss,
            accuracy: e.accuracy,
        }))
    }
}
