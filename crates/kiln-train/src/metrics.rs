//! Metrics: loss and accuracy accumulated on the device during training (one read per epoch),
//! and a full evaluation with a confusion matrix.

use burn::prelude::*;
use kiln_data::Samples;
use serde::Serialize;

use crate::Objective;
use crate::checkpoint::RunningSums;
use crate::error::{KilnError, Result};

/// Sums of loss and correct predictions over an epoch: kept as device tensors on GPU backends
/// (one read per epoch), and on the host on the CPU backends, where reading a tensor costs less
/// than the tensor operations that would sum it on the device.
#[derive(Default)]
pub struct RunningMetrics {
    loss_sum: Option<Tensor<1>>,
    correct: Option<Tensor<1, Int>>,
    host: RunningSums,
    samples: usize,
    carried: RunningSums,
}

impl RunningMetrics {
    /// Adds one batch: its mean loss (detached), logits and labels.
    pub fn add(
        &mut self,
        objective: Objective,
        loss: Tensor<1>,
        logits: Tensor<2>,
        labels: Tensor<1, Int>,
    ) {
        let n = labels.dims()[0];
        self.samples += n;
        if kiln_kernels::has_fused_kernel(&loss.device()) {
            self.host.loss_sum += loss.into_scalar::<f64>() * n as f64;
            self.host.correct += count_correct(objective, logits, labels) as f64;
            return;
        }
        let weighted = loss.mul_scalar(n as f64);
        let correct = objective.predict(logits).equal(labels).int().sum();
        self.loss_sum = Some(match self.loss_sum.take() {
            Some(total) => total + weighted,
            None => weighted,
        });
        self.correct = Some(match self.correct.take() {
            Some(total) => total + correct,
            None => correct,
        });
    }

    /// Adds sums computed elsewhere (every rank's share of a batch, in data-parallel training).
    pub fn add_sums(&mut self, sums: RunningSums) {
        self.host.loss_sum += sums.loss_sum;
        self.host.correct += sums.correct;
        self.samples += sums.samples;
    }

    /// Starts from sums carried over from a checkpoint.
    pub fn resumed(carried: RunningSums) -> Self {
        Self {
            carried,
            ..Self::default()
        }
    }

    /// The sums so far, for a checkpoint (reads the device).
    pub fn sums(&self) -> RunningSums {
        RunningSums {
            loss_sum: self.carried.loss_sum
                + self.host.loss_sum
                + self
                    .loss_sum
                    .clone()
                    .map_or(0.0, |t| t.into_scalar::<f64>()),
            correct: self.carried.correct
                + self.host.correct
                + self
                    .correct
                    .clone()
                    .map_or(0.0, |t| t.into_scalar::<i64>() as f64),
            samples: self.carried.samples + self.samples,
        }
    }

    /// Mean loss and accuracy (reads the device once).
    pub fn finish(self) -> (f64, f64) {
        let sums = self.sums();
        if sums.samples == 0 {
            return (f64::NAN, 0.0);
        }
        let n = sums.samples as f64;
        (sums.loss_sum / n, sums.correct / n)
    }
}

/// How many rows of `logits` predict their label, counted on the host.
fn count_correct(objective: Objective, logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let classes = logits.dims()[1].max(1);
    let logits: Vec<f32> = logits.into_data().iter::<f32>().collect();
    let labels: Vec<i64> = labels.into_data().iter::<i64>().collect();
    let predicted = |row: &[f32]| match objective {
        Objective::Binary => i64::from(row[0] > 0.0),
        Objective::Multiclass { .. } => argmax(row) as i64,
    };
    logits
        .chunks_exact(classes)
        .zip(&labels)
        .filter(|&(row, &label)| predicted(row) == label)
        .count()
}

/// Index of the first largest value (like Burn's `argmax`).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// The result of evaluating a model on a split.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts (empty for language models).
    pub confusion: Vec<Vec<usize>>,
    /// Language models: mean cross-entropy in bits per character.
    pub bits_per_char: Option<f64>,
}

impl Evaluation {
    /// Precision of each class (NaN-free: 0 when the class is never predicted).
    pub fn precision(&self) -> Vec<f64> {
        (0..self.confusion.len())
            .map(|c| {
                let predicted: usize = self.confusion.iter().map(|row| row[c]).sum();
                ratio(self.confusion[c][c], predicted)
            })
            .collect()
    }

    /// Recall of each class (0 when the class never occurs).
    pub fn recall(&self) -> Vec<f64> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(c, row)| ratio(row[c], row.iter().sum()))
            .collect()
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Samples per forward pass when a split is evaluated (or predicted) in chunks: enough to keep
/// the matrix products efficient, few enough that a convolutional network's activations stay
/// within the memory budget (a chunk of 1024 took the ResNet preset to 580 MiB).
pub const EVAL_BATCH: usize = 128;

/// Refuses samples whose labels do not fit a model of `classes` classes (data changed since
/// training, say), and samples of no values.
pub fn check_labels(samples: &Samples, classes: usize) -> Result<()> {
    if let Some(&label) = samples.labels.iter().find(|&&l| l as usize >= classes) {
        return Err(KilnError::Input(format!(
            "the data holds label {label}, but the model predicts {classes} classes (labels 0..{})",
            classes.saturating_sub(1)
        )));
    }
    if samples.sample_size() == 0 {
        return Err(KilnError::Input(
            "the samples hold no feature values".into(),
        ));
    }
    Ok(())
}

/// Evaluates `model` (an inference copy: `model.valid()`) through `forward` (flattened
/// inputs to logits) on `samples` in batches of 1024; refuses labels the model cannot predict
/// and logits of the wrong shape.
pub fn evaluate<M>(
    model: &M,
    forward: impl Fn(&M, Tensor<2>) -> Tensor<2>,
    objective: Objective,
    samples: &Samples,
    device: &Device,
) -> Result<Evaluation> {
    let classes = objective.classes();
    check_labels(samples, classes)?;
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut loss_sum = 0.0;
    let order: Vec<usize> = (0..samples.len()).collect();
    for indices in order.chunks(EVAL_BATCH) {
        let batch = samples.batch(indices, device);
        let logits = forward(model, batch.inputs);
        crate::classification::check_logits(objective, &logits, indices.len())?;
        let loss: f64 = objective.loss(logits.clone(), batch.labels).into_scalar();
        loss_sum += loss * indices.len() as f64;
        let predicted: Vec<i64> = objective
            .predict(logits)
            .into_data()
            .iter::<i64>()
            .collect();
        for (&i, &p) in indices.iter().zip(&predicted) {
            confusion[samples.labels[i] as usize][p as usize] += 1;
        }
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let n = samples.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        confusion,
        bits_per_char: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_recall_from_confusion() {
        let e = Evaluation {
            loss: 0.0,
            accuracy: 0.75,
            confusion: vec![vec![2, 1], vec![0, 1]],
            bits_per_char: None,
        };
        assert_eq!(e.precision(), vec![1.0, 0.5]);
        assert_eq!(e.recall(), vec![2.0 / 3.0, 1.0]);
    }

    #[test]
    fn host_count_of_correct_predictions_matches_the_device_one() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        device.seed(3);
        for (objective, classes) in [(Objective::Binary, 1), (Objective::for_classes(7), 7)] {
            let logits =
                Tensor::<2>::random([50, classes], Distribution::Normal(0.0, 1.0), &device);
            let labels = Tensor::<1>::random([50], Distribution::Uniform(0.0, 2.0), &device).int();
            let on_device: i64 = objective
                .predict(logits.clone())
                .equal(labels.clone())
                .int()
                .sum()
                .into_scalar();
            let on_host = count_correct(objective, logits, labels);
            assert_eq!(on_host as i64, on_device);
            assert!(on_host > 0 && on_host < 50);
        }
    }
}
