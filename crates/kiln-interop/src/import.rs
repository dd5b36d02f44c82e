//! Loading a PyTorch-layout state dict into a model built from its config.

use std::collections::BTreeMap;
use std::fmt::Write;

use burn::store::{ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, bridge};
use burn::tensor::TensorData;
use kiln_train::{KilnError, Result};
use kiln_zoo::AnyModel;

use crate::NamedTensor;
use crate::keys::{is_elman_bias, torch_name};
use crate::layout::GatedWeightsAdapter;
use crate::state_dict::{elman_hidden_bias, to_torch_adapter, torch_shapes};

/// What does not fit between a state dict and the model it is loaded into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// Tensors the model needs that the file lacks.
    pub missing: Vec<String>,
    /// Tensors of the file the model has no place for.
    pub extra: Vec<String>,
    /// Tensors of both whose shapes differ: name, the model's shape, the file's.
    pub misshaped: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl Mismatch {
    /// Whether the state dict fits exactly.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.misshaped.is_empty()
    }

    /// A message listing every problem.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if !self.missing.is_empty() {
            let _ = write!(out, "missing tensors: {}", self.missing.join(", "));
        }
        if !self.extra.is_empty() {
            let sep = if out.is_empty() { "" } else { "; " };
            let _ = write!(out, "{sep}unexpected tensors: {}", self.extra.join(", "));
        }
        if !self.misshaped.is_empty() {
            let sep = if out.is_empty() { "" } else { "; " };
            let list: Vec<String> = self
                .misshaped
                .iter()
                .map(|(n, want, got)| format!("{n} is {got:?}, the model needs {want:?}"))
                .collect();
            let _ = write!(out, "{sep}wrong shapes: {}", list.join(", "));
        }
        out
    }
}

/// Compares a state dict's names and shapes with the ones `model` needs.
pub fn compare(model: &AnyModel, tensors: &BTreeMap<String, NamedTensor>) -> Result<Mismatch> {
    let wanted = torch_shapes(model)?;
    let mut mismatch = Mismatch::default();
    for (name, shape) in &wanted {
        match tensors.get(name) {
            None => mismatch.missing.push(name.clone()),
            Some(t) if &t.shape != shape => {
                mismatch
                    .misshaped
                    .push((name.clone(), shape.clone(), t.shape.clone()))
            }
            Some(_) => {}
        }
    }
    mismatch.extra = tensors
        .keys()
        .filter(|name| !wanted.contains_key(*name))
        .cloned()
        .collect();
    Ok(mismatch)
}

/// Loads `tensors` (PyTorch's names and layout) into `model`. Every tensor must fit: a
/// missing, unexpected or mis-shaped one is an input error listing them all, and `model` is
/// left as it was.
pub fn load_state_dict(
    model: AnyModel,
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<AnyModel> {
    let mismatch = compare(&model, tensors)?;
    if !mismatch.is_empty() {
        return Err(KilnError::Input(mismatch.describe()));
    }
    // Each of the model's tensors, under its own path, in PyTorch's layout: the appliers'
    // adapters transpose back.
    // The same walk twice: Kiln's paths, and the names the export adapters give them.
    let paths = model.collect(None, None, true).into_iter().map(|t| t.name);
    let renamed = model.collect(None, Some(to_torch_adapter()), true);
    let mut pack = Vec::with_capacity(renamed.len());
    for (path, adapted) in paths.zip(renamed) {
        let source = &tensors[&torch_name(&adapted.name)];
        let mut values = source.values.clone();
        if is_elman_bias(&path) {
            let hidden = &tensors[&elman_hidden_bias(&path)];
            values
                .iter_mut()
                .zip(&hidden.values)
                .for_each(|(v, h)| *v += h);
        }
        let data = TensorData::new(values, source.shape.clone());
        pack.push(bridge::from_data(data, path, None));
    }
    let mut model = model;
    let adapter = Box::new(PyTorchToBurnAdapter.chain(GatedWeightsAdapter));
    let result = model.apply(pack, None, Some(adapter), true);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(KilnError::Internal(format!(
            "the state dict did not apply cleanly: {} errors ({:?}), missing {:?}, unused {:?}",
            result.errors.len(),
            result.errors.first(),
            result.missing,
            result.unused
        )));
    }
    Ok(model)
}
