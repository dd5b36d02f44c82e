//! `[distill]`: train the model as a student of a trained run (knowledge distillation).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A teacher run and how strongly the student follows it:
/// `loss = α·CE(student, labels) + (1 − α)·T²·KL(softmax(teacher/T) ‖ softmax(student/T))`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// The teacher's run folder (relative paths are from the working directory).
    pub teacher: PathBuf,
    /// Softmax temperature `T` of both networks' outputs.
    #[serde(default = "four")]
    pub temperature: f64,
    /// Weight `α` of the labels' cross-entropy; `1 − α` goes to matching the teacher.
    #[serde(default = "a_tenth")]
    pub alpha: f64,
}

fn four() -> f64 {
    4.0
}

fn a_tenth() -> f64 {
    0.1
}

impl DistillConfig {
    /// Checks the values (a message naming the key).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(format!(
                "distill.temperature must be > 0, got {}",
                self.temperature
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(format!(
                "distill.alpha must be in [0, 1], got {}",
                self.alpha
            ));
        }
        if self.teacher.as_os_str().is_empty() {
            return Err("distill.teacher must name a trained run folder".into());
        }
        Ok(())
    }
}
