//! Recurrent networks for Kiln, as plain Burn modules.
//!
//! This crate depends on Burn only (and on `kiln-kernels`, with `gemm` and `rayon`, which Burn
//! already uses). It
//! provides:
//! - [`Elman`], Kiln's own Elman network `h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)` (tanh or
//!   relu), stacked and optionally bidirectional;
//! - [`GatedLayer`], Kiln's own LSTM and GRU layers (PyTorch's equations and gate order);
//! - [`Recurrent`], one encoder for Elman, LSTM and GRU cells with a [`RecurrentState`] that
//!   carries over between chunks of a sequence;
//! - [`fused`]: the time loop of every cell as one operation with a hand-written backward pass,
//!   vectorised on the CPU backends (features `flex`, the default, and `ndarray`).
//! - two heads: [`SequenceClassifier`] and [`CharLanguageModel`] (whose encoder reads its token
//!   ids with the embedding, [`Recurrent::forward_tokens`]).
//!
//! All inputs are batch-first: `[batch, time, features]`.
//!
//! ```
//! use burn::prelude::*;
//! use kiln_rnn::{CellKind, RecurrentConfig, SequenceClassifierConfig};
//!
//! let device = Device::flex();
//! let encoder = RecurrentConfig::new(CellKind::Lstm, 28, 64).with_num_layers(2);
//! let model = SequenceClassifierConfig::new(encoder, 10).init(&device);
//! // Row-sequential MNIST: 784 pixels read as 28 steps of 28.
//! let logits = model.forward_flat(Tensor::<2>::zeros([8, 784], &device), 28);
//! assert_eq!(logits.dims(), [8, 10]);
//! ```
#![warn(missing_docs)]

mod classifier;
mod elman;
pub mod fused;
mod gated;
mod language_model;
mod recurrent;
mod state;

pub use classifier::{SequenceClassifier, SequenceClassifierConfig};
pub use elman::{Elman, ElmanActivation, ElmanConfig, ElmanLayer};
pub use gated::{GateKind, GatedLayer, GatedOutput};
pub use language_model::{CharLanguageModel, CharLanguageModelConfig};
pub use recurrent::{CellKind, Recurrent, RecurrentConfig, RecurrentLayer};
pub use state::RecurrentState;
