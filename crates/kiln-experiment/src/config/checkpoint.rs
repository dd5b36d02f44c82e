//! `[checkpoint]`: when to write checkpoints and how many to keep.

use serde::{Deserialize, Serialize};

/// Checkpoints of the whole training state under `RUN_DIR/checkpoints/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Every this many optimizer steps (0 = not by steps).
    #[serde(default)]
    pub every_steps: usize,
    /// Every this many epochs (0 = not by epochs).
    #[serde(default = "one")]
    pub every_epochs: usize,
    /// How many of the newest checkpoints to keep (the best by validation is kept besides).
    #[serde(default = "two")]
    pub keep_last: usize,
}

fn two() -> usize {
    2
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every_steps: 0,
            every_epochs: 1,
            keep_last: 2,
        }
    }
}

fn one() -> usize {
    1
}

impl CheckpointConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.keep_last == 0 {
            return Err("checkpoint.keep_last must be at least 1".into());
        }
        Ok(())
    }
}
