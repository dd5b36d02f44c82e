//! Kiln's one training loop, for any Burn module and any task: optimizers (full-batch GD, SGD
//! with momentum, Adam, AdamW), L1 and L2 regularisation, learning-rate schedules, gradient
//! accumulation, global-norm clipping, mixed precision (f16/bf16 with f32 master weights and
//! loss scaling), early stopping, metrics, progress, deterministic seeding, and checkpoints
//! that resume bit for bit.
//!
//! It knows no model of the zoo and reads no config file: a [`TrainTask`] says how a batch goes
//! through the model ([`Classification`] for flat samples), a [`FitConfig`] what to do, and
//! [`Trainer`] does it, with extension points in [`hooks`].
//!
//! ```no_run
//! use burn::prelude::*;
//! use kiln_train::{Classification, FitConfig, Trainer};
//! # fn demo(train: &kiln_data::Samples) -> kiln_train::Result<()> {
//! let device = Device::flex().autodiff();
//! let model = burn::nn::LinearConfig::new(4, 3).init(&device);
//! let mut task = Classification::new(train, |m: &burn::nn::Linear, x| m.forward(x));
//! let report = Trainer::new(FitConfig::new(20)).fit(model, &mut task, &device)?;
//! println!("{}", report.history.last().unwrap().describe(20));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod atomic;
mod backend;
pub mod checkpoint;
mod checkpoint_writer;
mod classification;
pub mod clip;
pub mod collective;
mod early_stopping;
mod error;
pub mod fused_adam;
pub mod fused_loss;
mod hash;
pub mod hooks;
pub mod interrupt;
pub mod metrics;
mod objective;
pub mod optim;
pub mod precision;
mod progress;
pub mod regularize;
mod report;
mod seeding;
pub mod settings;
mod task;
mod trainer;

#[cfg(test)]
mod testing;

pub use atomic::write_atomic;
pub use backend::BackendKind;
pub use checkpoint::{CheckpointPolicy, Checkpointer, VerifiedCheckpoint};
pub use classification::{Classification, check_logits};
pub use collective::Collective;
pub use early_stopping::{EarlyStopping, Verdict};
pub use error::{KilnError, Result};
pub use hash::weights_sha256;
pub use objective::Objective;
pub use precision::Precision;
pub use progress::{ConsoleProgress, Progress, Silent};
pub use report::{EpochRecord, FitReport};
pub use seeding::{mix, rng_guard};
pub use settings::FitConfig;
pub use task::{StepContext, StepOutput, TrainTask, Validation};
pub use trainer::Trainer;
