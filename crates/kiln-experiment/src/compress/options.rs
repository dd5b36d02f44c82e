//! What `kiln compress` is asked to do, checked before any work starts.

use std::path::PathBuf;

use kiln_compress::{PruneScope, QuantGranularity};
use kiln_train::{BackendKind, KilnError, Result};

/// The compressions to apply to a trained run, and where to write the result.
#[derive(Debug, Clone)]
pub struct CompressOptions {
    /// Unstructured magnitude pruning to this fraction of the weights, in [0, 1).
    pub prune: Option<f64>,
    /// Per layer or one global threshold.
    pub scope: PruneScope,
    /// Structured pruning: this fraction of the conv filters / hidden units removed, in [0, 1).
    pub structured: Option<f64>,
    /// Store the weights as int8 at this granularity.
    pub quantize: Option<QuantGranularity>,
    /// Fine-tune quantization-aware: the forward pass sees the weights on their int8 grid.
    pub qat: bool,
    /// Epochs of fine-tuning (pruning gradually over its first two thirds); 0 prunes at once.
    pub finetune_epochs: usize,
    /// Learning rate of the fine-tuning (default: the run's, on the run's schedule).
    pub finetune_lr: Option<f64>,
    /// Sparsities to prune to, one run each, drawn as accuracy against sparsity.
    pub sweep: Vec<f64>,
    /// Output run folder.
    pub out: PathBuf,
    /// Replace a run already in `out`.
    pub overwrite: bool,
    /// Continue an interrupted fine-tuning in `out` from its newest checkpoint (same options).
    pub resume: bool,
    /// Backend (default: the run's).
    pub backend: Option<BackendKind>,
}

impl CompressOptions {
    /// Nothing to do, or values out of range: an input error naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(KilnError::Input(m));
        for s in self.prune.iter().chain(&self.structured).chain(&self.sweep) {
            if !(0.0..1.0).contains(s) {
                return bad(format!(
                    "a sparsity must be in [0, 1) (the fraction of weights removed), got {s}"
                ));
            }
        }
        if self.prune.is_some() && !self.sweep.is_empty() {
            return bad(
                "--prune and --sweep exclude each other: --sweep prunes to each of its sparsities"
                    .into(),
            );
        }
        if self.prune.is_none()
            && self.structured.is_none()
            && self.quantize.is_none()
            && self.sweep.is_empty()
        {
            return bad(
                "nothing to do: give --prune S, --structured S, --quantize int8 or --sweep S1,S2,..."
                    .into(),
            );
        }
        if self.resume && (self.finetune_epochs == 0 || !self.sweep.is_empty()) {
            return bad(
                "--resume continues a fine-tuning: it needs --finetune-epochs N and no --sweep"
                    .into(),
            );
        }
        if self.qat && (self.quantize.is_none() || self.finetune_epochs == 0) {
            return bad(
                "--qat fine-tunes for int8: it needs --quantize int8 and --finetune-epochs N"
                    .into(),
            );
        }
        if let Some(QuantGranularity::PerBlock { block: 0 }) = self.quantize {
            return bad("--block must be at least 1".into());
        }
        if let Some(lr) = self.finetune_lr
            && !(lr > 0.0 && lr.is_finite())
        {
            return bad(format!("--finetune-lr must be > 0, got {lr}"));
        }
        Ok(())
    }
}
