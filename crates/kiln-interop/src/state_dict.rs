//! A model's tensors under PyTorch's names and layout: what `torch.nn.Module.state_dict()` of
//! the matching `model.py` holds.

use std::collections::BTreeMap;

use burn::store::{BurnToPyTorchAdapter, ModuleAdapter, ModuleSnapshot, bridge};
use burn::tensor::DType;
use kiln_train::{KilnError, Result};
use kiln_zoo::AnyModel;

use crate::keys::{is_elman_bias, torch_name};
use crate::layout::GatedWeightsAdapter;

/// One tensor of a state dict, in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Its PyTorch name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// The adapters from Kiln's layout to PyTorch's (and, the same transposes, back).
pub(crate) fn to_torch_adapter() -> Box<dyn ModuleAdapter> {
    Box::new(BurnToPyTorchAdapter.chain(GatedWeightsAdapter))
}

/// The names and shapes PyTorch's state dict of `model` has, without reading any value.
pub fn torch_shapes(model: &AnyModel) -> Result<BTreeMap<String, Vec<usize>>> {
    let mut shapes = BTreeMap::new();
    for tensor in model.collect(None, Some(to_torch_adapter()), true) {
        refuse_quantized(tensor.dtype, &tensor.name)?;
        let shape = tensor.shape.to_vec();
        if is_elman_bias(&tensor.name) {
            shapes.insert(elman_hidden_bias(&tensor.name), shape.clone());
        }
        shapes.insert(torch_name(&tensor.name), shape);
    }
    Ok(shapes)
}

/// Every tensor of `model` under PyTorch's names and layout, in f32, sorted by name. An Elman
/// layer's single bias becomes PyTorch's `bias_ih` with a zero `bias_hh` beside it (the two are
/// only ever summed).
pub fn torch_state_dict(model: &AnyModel) -> Result<Vec<NamedTensor>> {
    let mut out = BTreeMap::new();
    for tensor in model.collect(None, Some(to_torch_adapter()), true) {
        refuse_quantized(tensor.dtype, &tensor.name)?;
        let path = tensor.name.clone();
        let shape = tensor.shape.to_vec();
        let data = bridge::into_data(tensor)
            .map_err(|e| KilnError::Internal(format!("cannot read tensor {path}: {e}")))?;
        let values = data
            .convert_dtype(DType::F32)
            .try_to_vec::<f32>()
            .map_err(|e| KilnError::Internal(format!("tensor {path} is not float: {e:?}")))?;
        if is_elman_bias(&path) {
            let name = elman_hidden_bias(&path);
            let zeros = vec![0.0; values.len()];
            out.insert(
                name.clone(),
                NamedTensor {
                    name,
                    shape: shape.clone(),
                    values: zeros,
                },
            );
        }
        let name = torch_name(&path);
        out.insert(
            name.clone(),
            NamedTensor {
                name,
                shape,
                values,
            },
        );
    }
    Ok(out.into_values().collect())
}

/// PyTorch's name of the hidden-side bias beside an Elman layer's `b_h` at `path`.
pub(crate) fn elman_hidden_bias(path: &str) -> String {
    torch_name(path).replacen(".bias_ih_l", ".bias_hh_l", 1)
}

/// Quantized weights have no PyTorch layout here (safetensors holds float tensors).
fn refuse_quantized(dtype: DType, name: &str) -> Result<()> {
    if matches!(dtype, DType::QFloat(_)) {
        return Err(KilnError::Input(format!(
            "tensor {name} is quantized: export holds float weights; export the run before \
             quantization (kiln compress --quantize), or its float fine-tuned parent"
        )));
    }
    Ok(())
}
