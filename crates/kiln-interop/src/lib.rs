//! Kiln's models outside Kiln.
//!
//! - [`torch_state_dict`]: a model's tensors under the names and in the layout of PyTorch's
//!   `state_dict()` for the same architecture (burn-store's collector with its
//!   `BurnToPyTorchAdapter`, plus Kiln's recurrent layers), written as safetensors by
//!   [`safetensors_bytes`];
//! - [`Architecture`] and [`torch_module_source`]: the architecture of a model, and the plain
//!   `torch.nn.Module` that reads that state dict with `load_state_dict(strict=True)`;
//! - [`read_state_dict`] and [`load_state_dict`]: a safetensors or `.pt` state dict trained
//!   elsewhere, checked against a model built from its config (missing, unexpected and
//!   mis-shaped tensors are listed), then loaded into it;
//! - `onnx_bytes` (feature `onnx`): the model as an ONNX graph through burn-onnx's export.
#![warn(missing_docs)]

mod architecture;
mod import;
mod keys;
mod layout;
#[cfg(feature = "onnx")]
mod onnx;
mod safetensors_file;
mod state_dict;
mod torch_module;

pub use architecture::{Architecture, ConvBlockSpec, RecurrentSpec};
pub use import::{Mismatch, compare, load_state_dict};
pub use keys::torch_name;
pub use layout::GatedWeightsAdapter;
#[cfg(feature = "onnx")]
pub use onnx::onnx_bytes;
pub use safetensors_file::{read_state_dict, safetensors_bytes};
pub use state_dict::{NamedTensor, torch_shapes, torch_state_dict};
pub use torch_module::torch_module_source;
