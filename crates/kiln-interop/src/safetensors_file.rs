//! Reading and writing state dicts: safetensors files (written with the `safetensors` crate
//! burn-store uses, read through burn-store's `SafetensorsStore`) and PyTorch `.pt` / `.pth`
//! pickles (read through burn-store's `PytorchStore`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore, bridge};
use burn::tensor::DType;
use kiln_train::{KilnError, Result};
use safetensors::tensor::{Dtype, TensorView};

use crate::NamedTensor;

/// A state dict as safetensors bytes (f32, little-endian), with `metadata` in its header
/// (`format: pt` is always set, as `torch`'s own writer does).
pub fn safetensors_bytes(tensors: &[NamedTensor], metadata: &[(&str, String)]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|view| (t.name.clone(), view))
                .map_err(|e| KilnError::Internal(format!("tensor {}: {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut info: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    info.insert("format".into(), "pt".into());
    safetensors::serialize(views, Some(info))
        .map_err(|e| KilnError::Internal(format!("cannot write safetensors: {e}")))
}

/// The tensors of a safetensors file or a PyTorch pickle (`.pt`, `.pth`, `.bin`), in f32, by
/// name (batch norm's `num_batches_tracked` counters left out). A file that is neither, or is damaged, is an input error naming it.
pub fn read_state_dict(path: &Path) -> Result<BTreeMap<String, NamedTensor>> {
    let shown = path.display();
    if !path.is_file() {
        return Err(KilnError::Input(format!("{shown}: no such file")));
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let tensors = match extension {
        "safetensors" => SafetensorsStore::from_file(path)
            .get_all_tensors()
            .cloned()
            .map_err(|e| {
                KilnError::Input(format!("{shown}: not a readable safetensors file: {e}"))
            })?,
        "pt" | "pth" | "bin" => PytorchStore::from_file(path)
            .get_all_tensors()
            .cloned()
            .map_err(|e| KilnError::Input(format!("{shown}: not a readable PyTorch file: {e}")))?,
        _ => {
            return Err(KilnError::Input(format!(
                "{shown}: unknown weights format (expected .safetensors, .pt or .pth)"
            )));
        }
    };
    tensors
        .into_iter()
        // PyTorch's batch-norm step counter: bookkeeping Kiln's batch norm does not keep.
        .filter(|(name, _)| !name.ends_with(".num_batches_tracked"))
        .map(|(name, tensor)| Ok((name.clone(), to_named(name, tensor, path)?)))
        .collect()
}

/// One stored tensor read as f32.
fn to_named(name: String, tensor: PackTensor, path: &Path) -> Result<NamedTensor> {
    if !tensor.dtype.is_float() {
        return Err(KilnError::Input(format!(
            "{}: tensor {name} is {:?}, not floating point",
            path.display(),
            tensor.dtype
        )));
    }
    let shape = tensor.shape.to_vec();
    let values = bridge::into_data(tensor)
        .map_err(|e| KilnError::Input(format!("{}: tensor {name}: {e}", path.display())))?
        .convert_dtype(DType::F32)
        .try_to_vec::<f32>()
        .map_err(|e| KilnError::Input(format!("{}: tensor {name}: {e:?}", path.display())))?;
    if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
        return Err(KilnError::Input(format!(
            "{}: tensor {name} holds a non-finite value at index {bad}",
            path.display()
        )));
    }
    Ok(NamedTensor {
        name,
        shape,
        values,
    })
}
