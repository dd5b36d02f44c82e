//! The one layout Kiln and PyTorch disagree on beyond what burn-store's
//! `BurnToPyTorchAdapter` / `PyTorchToBurnAdapter` handle: Kiln's LSTM and GRU weights are
//! right-multiplied (`[input, gates * hidden]`), PyTorch's `[gates * hidden, input]`, gate
//! blocks in the same order (`i, f, g, o`; `r, z, n`). Transposing is its own inverse, so one
//! adapter serves both directions.

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleAdapter, ModuleContext, bridge};
use burn::tensor::DType;

/// The module type the derive macro records for Kiln's gated layers.
const GATED_LAYER: &str = "Struct:GatedLayer";

/// Transposes the 2-D weights of Kiln's `GatedLayer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GatedWeightsAdapter;

impl ModuleAdapter for GatedWeightsAdapter {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        if ctx.module_type() != Some(GATED_LAYER) || tensor.shape.len() != 2 {
            return tensor;
        }
        let name = tensor.name.clone();
        let shape = [tensor.shape[1], tensor.shape[0]].into();
        bridge::map_data(tensor, name, DType::F32, shape, |data| {
            let [rows, cols] = [data.shape()[0], data.shape()[1]];
            let values = data
                .convert_dtype(DType::F32)
                .try_to_vec::<f32>()
                .unwrap_or_default();
            let mut out = vec![0f32; values.len()];
            for r in 0..rows {
                for c in 0..cols {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
            burn::tensor::TensorData::new(out, [cols, rows])
        })
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(*self)
    }
}
