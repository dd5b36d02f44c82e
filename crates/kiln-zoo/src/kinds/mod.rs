//! One file per model kind; each registers in `lib.rs`'s `zoo!` list.

pub mod charlm;
pub mod cnn;
pub mod linear;
pub mod mlp;
pub mod rnn;
mod rnn_units;
pub mod scatter;
