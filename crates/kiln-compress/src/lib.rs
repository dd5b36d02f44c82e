//! Compression for any Burn module trained on Kiln's loop:
//!
//! - [`mask`]: unstructured magnitude pruning, per layer or global, as Burn reparameterizations
//!   (`weight = base · mask`), so masks survive optimizer steps and live in every checkpoint;
//! - [`schedule`]: Zhu & Gupta's (2017) gradual sparsity schedule, and [`GradualPruning`], the
//!   loop's parameter transform that follows it while fine-tuning;
//! - [`quantize`]: post-training int8 quantization of the weights (Burn's quantizer, MinMax
//!   calibration, per tensor or per block);
//! - [`structured`]: the pieces of structured pruning (units kept by L1 norm, sliced layers), with
//!   which the zoo's model kinds rebuild smaller dense models of their kind;
//! - quantization-aware fine-tuning: masks that also fake-quantize their weight
//!   ([`fake_quantize`], a straight-through estimator), so that training sees the int8 grid;
//! - [`distill`]: knowledge distillation (Hinton et al. 2015) as one of the loop's loss terms.
//!
//! Only weights (parameters of rank >= 2: Linear, Conv, recurrent and embedding matrices) are
//! pruned or quantized, never biases or batch-norm parameters and statistics.
#![warn(missing_docs)]

pub mod distill;
mod gradual;
pub mod mask;
pub mod quantize;
pub mod schedule;
mod stats;
pub mod structured;

pub use distill::{Distillation, distillation_loss};
pub use gradual::GradualPruning;
pub use mask::{PruneMask, PruneScope, attach_masks, fake_quantize, prune, prune_with};
pub use quantize::{QuantGranularity, quantize_int8};
pub use schedule::ZhuGupta;
pub use stats::{SparsityStats, sparsity};
