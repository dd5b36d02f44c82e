//! Kiln experiments: one TOML config per experiment, data preparation, the run folder (its
//! `summary.json` is a contract: keys are only ever added), curves and confusion matrices as
//! pictures, `kiln bench`, and trained runs read back for evaluation, prediction and
//! generation. It wires kiln-zoo's models and tasks into kiln-train's loop.
#![warn(missing_docs)]

pub mod bench;
mod bench_text;
pub mod card;
pub mod compress;
pub mod config;
pub mod data;
pub mod distributed;
mod experiment;
pub mod explain;
pub mod fairness;
mod frozen;
pub mod interop;
pub mod manifest;
mod onnx;
pub mod plot;
pub mod pretrained;
pub mod private;
pub mod run_dir;
mod teacher;

pub use config::ExperimentConfig;
pub use experiment::{
    TrainOptions, TrainOutcome, TrainedRun, choose_backend, classification, load_run, train,
};
pub use pretrained::{pretrained, resolve_run};
