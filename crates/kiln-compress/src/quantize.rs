//! Post-training int8 quantization of the weights with Burn's quantizer: symmetric int8
//! (`Q8S`), MinMax calibration, one scale per tensor or per block of values.
//!
//! Burn's flex backend dequantizes before every operation, so int8 weights make the model file
//! about four times smaller, not its inference faster.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::quantization::{
    Calibration, QuantScheme, QuantValue, ScaleDtype, compute_q_params, compute_range,
};
use serde::{Deserialize, Serialize};

use crate::mask::is_weight;

/// How many values share one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "granularity")]
pub enum QuantGranularity {
    /// One scale for the whole weight tensor.
    PerTensor,
    /// One scale for each block of `block` consecutive values along the last dimension.
    PerBlock {
        /// Values per block.
        block: u8,
    },
}

impl QuantGranularity {
    /// Burn's scheme for int8 weights at this granularity.
    pub fn scheme(&self) -> QuantScheme {
        let scheme = QuantScheme::default().with_value(QuantValue::Q8S);
        match *self {
            Self::PerTensor => scheme.per_tensor(ScaleDtype::F32),
            Self::PerBlock { block } => scheme.per_block([block], ScaleDtype::F32),
        }
    }
}

/// `model` with every weight (rank >= 2) stored as int8 with f32 scales; biases and batch-norm
/// parameters stay f32. Masked weights are merged first (their zeros quantize to zero).
pub fn quantize_int8<M: Module>(model: M, granularity: QuantGranularity) -> M {
    let mut quantizer = WeightQuantizer {
        scheme: granularity.scheme(),
        block: match granularity {
            QuantGranularity::PerTensor => None,
            QuantGranularity::PerBlock { block } => Some(block as usize),
        },
    };
    model.materialize().map(&mut quantizer)
}

struct WeightQuantizer {
    scheme: QuantScheme,
    block: Option<usize>,
}

impl ModuleMapper for WeightQuantizer {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !is_weight(D) {
            return param;
        }
        // A block must divide the last dimension; a weight it does not fit keeps one scale.
        let scheme = match self.block {
            Some(block) if !param.lazy_shape()[D - 1].is_multiple_of(block) => {
                QuantGranularity::PerTensor.scheme()
            }
            _ => self.scheme,
        };
        param.map(|tensor| {
            let range = compute_range(&scheme, &tensor, &Calibration::MinMax);
            let qparams = compute_q_params(&scheme, range);
            tensor.quantize(&scheme, qparams)
        })
    }
}
