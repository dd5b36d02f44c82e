//! Kiln's one training loop, shared by every model of the zoo: optimizers (full-batch GD, SGD
//! with momentum, Adam, AdamW), L1 and L2 regularisation, learning-rate schedules, global-norm
//! gradient clipping, early stopping, metrics, progress, deterministic seeding, and the run
//! folder with its `summary.json`.
//!
//! Any Burn module that implements [`TaskModel`] can be trained with [`fit`].
#![warn(missing_docs)]

mod backend;
pub mod bench;
pub mod checkpoint;
mod checkpoint_writer;
pub mod clip;
pub mod config;
pub mod data;
mod early_stopping;
mod error;
mod experiment;
pub mod fused_adam;
pub mod fused_loss;
mod hash;
pub mod interrupt;
pub mod language_model;
pub mod metrics;
mod model;
mod objective;
pub mod optim;
pub mod plot;
pub mod precision;
mod progress;
pub mod regularize;
pub mod run_dir;
mod seeding;
mod trainer;

pub use backend::BackendKind;
pub use config::ExperimentConfig;
pub use early_stopping::{EarlyStopping, Verdict};
pub use error::{KilnError, Result};
pub use experiment::{TrainOptions, TrainOutcome, TrainedRun, choose_backend, load_run, train};
pub use hash::weights_sha256;
pub use model::{AnyModel, TaskModel, activation, build_model};
pub use objective::Objective;
pub use progress::{ConsoleProgress, Progress, Silent};
pub use seeding::rng_guard;
pub use trainer::{EpochRecord, FitControl, FitReport, fit, fit_with};
