//! Convolutional networks for Kiln, as plain Burn modules.
//!
//! This crate depends on Burn only (and on `kiln-kernels`, with `gemm` and `rayon`, which Burn
//! already uses): describe a network with a [`CnnConfig`] (or take a preset such as
//! [`CnnConfig::lenet`] or [`CnnConfig::resnet_small`]), validate it with [`CnnConfig::check`],
//! then build a [`Cnn`] on any [`Device`](burn::prelude::Device). On the CPU backends (features
//! `flex`, the default, and `ndarray`) every plain block `conv -> ReLU -> max pool` runs as one
//! [`fused`] operation with a hand-written backward pass; elsewhere it is built from Burn's own
//! operations.
//!
//! ```
//! use burn::prelude::*;
//! use kiln_cnn::CnnConfig;
//!
//! let device = Device::flex();
//! let config = CnnConfig::lenet(10);
//! config.check().expect("the preset fits its input");
//! assert_eq!(config.feature_size(), Ok(1600));
//! let model = config.init(&device);
//! let logits = model.forward(Tensor::<4>::zeros([2, 1, 28, 28], &device));
//! assert_eq!(logits.dims(), [2, 10]);
//! ```
#![warn(missing_docs)]

mod block;
mod cnn;
mod config;
mod folded;
pub mod fused;
mod normed;
pub mod scatter;
#[cfg(test)]
mod test_rng;

pub use block::ConvBlock;
pub use cnn::Cnn;
pub use config::{CnnConfig, ConvBlockConfig};
pub use scatter::{ScatterNet, ScatterNetConfig, Scattering};
