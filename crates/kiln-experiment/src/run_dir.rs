//! The run folder: `config.toml`, `metrics.csv`, `model.bpk`, `preprocess.json`,
//! `summary.json` and `curves.png`. `summary.json` is a contract: keys are added, never
//! renamed or dropped.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use kiln_train::write_atomic;
use kiln_train::{EpochRecord, KilnError, Result};

/// File name of the trained model inside a run folder (Burn's `.bpk` record).
pub const MODEL_FILE: &str = "model.bpk";
/// File name of the summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// File name of the resolved config.
pub const CONFIG_FILE: &str = "config.toml";
/// File name of the input preprocessing.
pub const PREPROCESS_FILE: &str = "preprocess.json";

/// Loss and accuracy of a split.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SplitMetrics {
    /// Mean loss.
    pub loss: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Language models: mean cross-entropy in bits per character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_char: Option<f64>,
}

/// Number of samples in each split.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SplitSizes {
    /// Training samples.
    pub train: usize,
    /// Validation samples.
    pub valid: usize,
    /// Test samples.
    pub test: usize,
}

/// `summary.json`: what was trained, how fast, how well, and a hash of the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Experiment name.
    pub name: String,
    /// Architecture family (`mlp`, ...).
    pub model: String,
    /// Backend it trained on.
    pub backend: String,
    /// Compute precision.
    pub precision: String,
    /// Epochs actually run.
    pub epochs: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Number of parameters (batch-norm statistics included).
    pub params: usize,
    /// The seed.
    pub seed: u64,
    /// Wall-clock seconds of the training loop.
    pub train_seconds: f64,
    /// Training samples per second over the whole loop.
    pub train_samples_per_sec: f64,
    /// Last epoch's training metrics.
    pub train: SplitMetrics,
    /// Validation metrics of the returned model, when there is a validation split.
    pub valid: Option<SplitMetrics>,
    /// Test metrics of the returned model.
    pub test: SplitMetrics,
    /// sha256 over all parameters as f32 little-endian in module order.
    pub weights_sha256: String,
    /// Epoch with the best validation metric.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Split sizes.
    pub samples: SplitSizes,
    /// Kiln version that wrote the run.
    pub kiln_version: String,
    /// f16 training: the dynamic loss scaler's final and minimum scale and skipped steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScaleSummary>,
    /// Differentially private runs: the privacy spent and how (`[privacy]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::private::PrivacySummary>,
    /// `kiln import`: the state dict the weights were read from (no training ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
}

/// `summary.json`'s `loss_scale`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LossScaleSummary {
    /// Scale at the end of training.
    #[serde(rename = "final")]
    pub final_scale: f64,
    /// Smallest scale reached.
    pub min: f64,
    /// Optimizer steps skipped because a gradient overflowed.
    pub skipped_steps: usize,
}

/// A run folder being written.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates (and checks it can write) the run folder: `out` when given, else a fresh
    /// `runs/<name>[-N]`. A folder that already holds a run is refused unless `overwrite`.
    pub fn create(out: Option<&Path>, name: &str, overwrite: bool) -> Result<Self> {
        let path = match out {
            Some(out) => out.to_path_buf(),
            None => fresh_dir(Path::new("runs"), name),
        };
        if !overwrite && (path.join(SUMMARY_FILE).exists() || path.join(MODEL_FILE).exists()) {
            return Err(KilnError::Input(format!(
                "{} already holds a trained run; choose another --out or pass --overwrite",
                path.display()
            )));
        }
        let unwritable = |source| {
            KilnError::Input(format!(
                "{}: output folder is not writable: {source}",
                path.display()
            ))
        };
        fs::create_dir_all(&path).map_err(unwritable)?;
        let probe = path.join(".kiln-write-check");
        fs::write(&probe, b"ok").map_err(unwritable)?;
        let _ = fs::remove_file(probe);
        Ok(Self { path })
    }

    /// An existing run folder to continue (`--resume`).
    pub fn existing(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            return Err(KilnError::Input(format!(
                "{}: no such run folder to resume",
                path.display()
            )));
        }
        let probe = path.join(".kiln-write-check");
        fs::write(&probe, b"ok").map_err(|e| {
            KilnError::Input(format!(
                "{}: output folder is not writable: {e}",
                path.display()
            ))
        })?;
        let _ = fs::remove_file(probe);
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `name` inside the folder atomically (temporary file, fsync, rename).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.path.join(name), bytes)
    }

    /// Saves the model as `model.bpk` (batch-norm statistics synced first).
    pub fn save_model<M: Module>(&self, model: &M) -> Result<()> {
        let inference = model.valid();
        inference.save_file(self.path.join("model")).map_err(|e| {
            KilnError::Internal(format!("{}: cannot save model: {e:?}", self.path.display()))
        })
    }

    /// Writes `metrics.csv`, one row per epoch.
    pub fn write_metrics(&self, history: &[EpochRecord]) -> Result<()> {
        self.write_metrics_with(history, None)
    }

    /// Writes `metrics.csv` with one more column, `name`, one value per epoch (the privacy
    /// spent by the end of each epoch, say).
    pub fn write_metrics_with(
        &self,
        history: &[EpochRecord],
        extra: Option<(&str, &[f64])>,
    ) -> Result<()> {
        let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let mut csv =
            String::from("epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,lr,seconds");
        if let Some((name, _)) = extra {
            csv += &format!(",{name}");
        }
        csv += "\n";
        for (i, r) in history.iter().enumerate() {
            csv += &format!(
                "{},{},{},{},{},{},{:.3}",
                r.epoch,
                r.train_loss,
                r.train_accuracy,
                cell(r.valid_loss),
                cell(r.valid_accuracy),
                r.lr,
                r.seconds
            );
            if let Some((_, values)) = extra {
                csv += &format!(",{}", cell(values.get(i).copied()));
            }
            csv += "\n";
        }
        self.write("metrics.csv", csv.as_bytes())
    }

    /// Writes `summary.json`.
    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        let json = serde_json::to_string_pretty(summary).expect("summary serialises");
        self.write(SUMMARY_FILE, json.as_bytes())
    }
}

fn fresh_dir(root: &Path, name: &str) -> PathBuf {
    let mut candidate = root.join(name);
    let mut n = 2;
    while candidate.exists() {
        candidate = root.join(format!("{name}-{n}"));
        n += 1;
    }
    candidate
}

/// Reads a run folder's `summary.json`.
pub fn read_summary(dir: &Path) -> Result<Summary> {
    let path = dir.join(SUMMARY_FILE);
    let text = fs::read_to_string(&path)
        .map_err(|e| KilnError::Input(format!("{}: cannot read: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| KilnError::Input(format!("{}: malformed: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_overwrite_a_run_and_to_write_where_it_cannot() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(Some(&root.path().join("a")), "x", false).unwrap();
        run.write(SUMMARY_FILE, b"{}").unwrap();
        let err = RunDir::create(Some(run.path()), "x", false).unwrap_err();
        assert!(
            err.to_string().contains("already holds a trained run"),
            "{err}"
        );
        assert_eq!(fs::read(run.path().join(SUMMARY_FILE)).unwrap(), b"{}");
        assert!(RunDir::create(Some(run.path()), "x", true).is_ok());

        let file = root.path().join("plain-file");
        fs::write(&file, b"").unwrap();
        let err = RunDir::create(Some(&file.join("sub")), "x", false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("not writable"), "{err}");
    }

    #[test]
    fn atomic_write_leaves_no_temporary_files() {
        let root = tempfile::tempdir().unwrap();
        write_atomic(&root.path().join("f.txt"), b"one").unwrap();
        write_atomic(&root.path().join("f.txt"), b"two").unwrap();
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.txt")]);
        assert_eq!(fs::read(root.path().join("f.txt")).unwrap(), b"two");
    }
}
