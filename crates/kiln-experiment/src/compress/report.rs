//! `compress.json`: what was done to which run, and the model before and after.

use serde::{Deserialize, Serialize};

use super::measure::ModelMeasure;

/// File name of the compression report in a compressed run folder.
pub const COMPRESS_FILE: &str = "compress.json";

/// What was applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Applied {
    /// Unstructured sparsity pruned to, if any.
    pub prune: Option<f64>,
    /// `per_layer` or `global`.
    pub scope: String,
    /// Fraction of the conv filters / hidden units removed by structured pruning, if any.
    #[serde(default)]
    pub structured: Option<f64>,
    /// `int8` when the weights are stored as int8.
    pub quantize: Option<String>,
    /// Whether the fine-tuning was quantization-aware (fake int8 weights, straight-through).
    #[serde(default)]
    pub qat: bool,
    /// Values sharing one int8 scale (`None`: one per tensor).
    pub quant_block: Option<u8>,
    /// Epochs of fine-tuning.
    pub finetune_epochs: usize,
    /// Its learning rate.
    pub finetune_lr: f64,
}

/// `compress.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompressReport {
    /// The run folder compressed.
    pub source: String,
    /// What was applied.
    pub applied: Applied,
    /// The source model.
    pub original: ModelMeasure,
    /// The compressed model.
    pub compressed: ModelMeasure,
    /// Test accuracy change of each class (compressed − original).
    pub per_class_accuracy_change: Vec<f64>,
    /// Test accuracy change overall (compressed − original).
    pub accuracy_change: f64,
}

impl CompressReport {
    /// The report of `original` against `compressed`.
    pub fn new(
        source: String,
        applied: Applied,
        original: ModelMeasure,
        compressed: ModelMeasure,
    ) -> Self {
        let per_class_accuracy_change = compressed
            .per_class_accuracy
            .iter()
            .zip(&original.per_class_accuracy)
            .map(|(c, o)| c - o)
            .collect();
        Self {
            source,
            accuracy_change: compressed.test_accuracy - original.test_accuracy,
            applied,
            original,
            compressed,
            per_class_accuracy_change,
        }
    }

    /// One line on what was done: "from runs/cnn-mnist: pruned to 90% (global), int8 weights
    /// (per block of 32); test accuracy -0.0010".
    pub fn describe(&self) -> String {
        let a = &self.applied;
        let mut parts = Vec::new();
        if let Some(s) = a.prune {
            parts.push(format!(
                "pruned to {:.0}% sparsity ({})",
                s * 100.0,
                a.scope
            ));
        }
        if let Some(s) = a.structured {
            parts.push(format!("{:.0}% of the units removed", s * 100.0));
        }
        if let Some(q) = &a.quantize {
            let block = a
                .quant_block
                .map_or("per tensor".to_string(), |b| format!("per block of {b}"));
            parts.push(format!("{q} weights ({block})"));
        }
        if a.qat {
            parts.push("quantization-aware fine-tuning".into());
        }
        if parts.is_empty() {
            parts.push("nothing applied".into());
        }
        format!(
            "from {}: {}; test accuracy {:+.4} against the original",
            self.source,
            parts.join(", "),
            self.accuracy_change
        )
    }
}

/// One point of a sparsity sweep (`sweep.json`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SweepPoint {
    /// Fraction of the weights pruned.
    pub sparsity: f64,
    /// Test accuracy after pruning (and fine-tuning).
    pub test_accuracy: f64,
    /// Nonzero parameters left.
    pub nonzero_params: usize,
}
