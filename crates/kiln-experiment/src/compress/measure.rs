//! What `compress.json` compares: size, sparsity, accuracy and speed of a model.

use std::time::Instant;

use burn::prelude::*;
use kiln_data::Samples;
use kiln_train::metrics::{Evaluation, evaluate};
use kiln_train::{Objective, Result};
use kiln_zoo::AnyModel;
use serde::{Deserialize, Serialize};

/// One model, as `compress.json`'s `original` and `compressed` describe it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelMeasure {
    /// Float parameters (batch-norm statistics included).
    pub params: usize,
    /// Parameters that are not zero.
    pub nonzero_params: usize,
    /// Fraction of the weights (rank >= 2) that are zero.
    pub weight_sparsity: f64,
    /// Bytes of `model.bpk`.
    pub file_bytes: u64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Inference throughput, batches of 256 on the test split, samples per second (median).
    pub infer_samples_per_sec: f64,
    /// Accuracy of each class on the test split (recall); empty for a language model.
    pub per_class_accuracy: Vec<f64>,
    /// Language models: the validation text's cross-entropy in bits per character (their
    /// `test_accuracy` is next-character accuracy, `infer_samples_per_sec` characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_char: Option<f64>,
}

/// Measures `model` (an inference copy) on `test`; `file_bytes` is its saved file's size.
pub fn measure(
    model: &AnyModel,
    objective: Objective,
    test: &Samples,
    file_bytes: u64,
    device: &Device,
) -> Result<ModelMeasure> {
    let evaluation: Evaluation = evaluate(model, AnyModel::logits, objective, test, device)?;
    Ok(ModelMeasure {
        per_class_accuracy: evaluation.recall(),
        ..ModelMeasure::counted(
            model,
            file_bytes,
            (evaluation.accuracy, evaluation.loss),
            inference_rate(model, test, device),
        )
    })
}

impl ModelMeasure {
    /// The counts of `model` with these figures (no per-class accuracy, no bits per character).
    pub(crate) fn counted(
        model: &AnyModel,
        file_bytes: u64,
        (test_accuracy, test_loss): (f64, f64),
        infer_samples_per_sec: f64,
    ) -> Self {
        let stats = kiln_compress::sparsity(model);
        Self {
            params: stats.params,
            nonzero_params: stats.nonzero_params,
            weight_sparsity: stats.weight_sparsity(),
            file_bytes,
            test_accuracy,
            test_loss,
            infer_samples_per_sec,
            per_class_accuracy: Vec::new(),
            bits_per_char: None,
        }
    }
}

/// Median throughput of 15 forward passes over a batch of 256 test samples (after 3 warm-up
/// passes), samples per second.
pub fn inference_rate(model: &AnyModel, test: &Samples, device: &Device) -> f64 {
    let indices: Vec<usize> = (0..256).map(|i| i % test.len().max(1)).collect();
    let batch = test.batch(&indices, device);
    let mut rates = Vec::new();
    for pass in 0..18 {
        let start = Instant::now();
        let _ = model.logits(batch.inputs.clone()).into_data();
        if pass >= 3 {
            rates.push(indices.len() as f64 / start.elapsed().as_secs_f64().max(1e-12));
        }
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}
