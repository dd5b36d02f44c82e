//! `[train]`: length, batching, backend, precision, accumulation and logging.

use serde::{Deserialize, Serialize};

/// Training length, batching, backend, precision and logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training split.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Samples per step; 0 means the whole training split (full batch).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Backend name (`flex`, `ndarray`, `wgpu`); default: the build's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Compute precision: `f32`, `f16` or `bf16` (f32 master weights).
    #[serde(default = "default_precision")]
    pub precision: String,
    /// Language models: characters per chunk of truncated back-propagation through time.
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Micro-batches whose gradients are summed into one optimizer step (1: step every batch).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub accumulate_steps: usize,
    /// Print a plain progress line every this many epochs when not on a terminal.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
}

fn default_epochs() -> usize {
    10
}
fn default_batch_size() -> usize {
    64
}
fn default_precision() -> String {
    "f32".into()
}
fn default_log_every() -> usize {
    1
}
fn default_seq_len() -> usize {
    100
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            backend: None,
            precision: default_precision(),
            seq_len: default_seq_len(),
            log_every: default_log_every(),
            accumulate_steps: 1,
        }
    }
}

fn one() -> usize {
    1
}
fn is_one(n: &usize) -> bool {
    *n == 1
}

impl TrainConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("train.epochs must be at least 1".into());
        }
        if self.log_every == 0 {
            return Err("train.log_every must be at least 1".into());
        }
        if self.accumulate_steps == 0 {
            return Err("train.accumulate_steps must be at least 1".into());
        }
        kiln_train::Precision::parse(&self.precision).map_err(|e| e.to_string())?;
        Ok(())
    }
}
