//! Feed-forward networks (multi-layer perceptrons) for Kiln, as plain Burn modules.
//!
//! This crate depends on Burn and on `kiln-kernels`: use [`MlpConfig`] to build an [`Mlp`] on any
//! [`Device`](burn::prelude::Device) and train it with whatever loop you like. On the CPU
//! backends (features `flex`, `ndarray`) its dense layers run as one fused operation each.
//!
//! ```
//! use burn::prelude::*;
//! use burn::nn::activation::ActivationConfig;
//! use kiln_fnn::MlpConfig;
//!
//! let device = Device::flex();
//! let model = MlpConfig::new(4, 3)
//!     .with_hidden_sizes(vec![16])
//!     .with_activation(ActivationConfig::Tanh)
//!     .init(&device);
//! let logits = model.forward(Tensor::<2>::zeros([8, 4], &device));
//! assert_eq!(logits.dims(), [8, 3]);
//! ```
#![warn(missing_docs)]

mod mlp;

pub use mlp::{Mlp, MlpConfig};
