//! Kiln's model zoo: every model kind (mlp, cnn, rnn, charlm, linear, scatter) registered once with its
//! `[model]` config section (the model crates' own Burn types with serde), its builder, its
//! task and what `kiln list` shows of it.
//!
//! Adding a kind: write `kinds/<name>.rs` with a spec type implementing [`ModelKind`], then add
//! one line to the `zoo!` list below (and `pub mod <name>;` to `kinds/mod.rs`).
#![warn(missing_docs)]

pub mod kinds;
mod language_model;
pub mod names;
mod pretrained;
mod registry;
mod shape;
pub mod size;

pub use language_model::{LanguageModelling, TextEvaluation, evaluate_text, sample_tokens};
pub use pretrained::{PretrainedModel, pretrained};
pub use registry::{KindInfo, ModelKind, TaskKind, Variant, find};
pub use shape::DataShape;

zoo! {
    Mlp(mlp::MlpSpec),
    Cnn(cnn::CnnSpec),
    Rnn(rnn::RnnSpec),
    Charlm(charlm::CharLmSpec),
    Linear(linear::LinearSpec),
    Scatter(scatter::ScatterSpec),
}
