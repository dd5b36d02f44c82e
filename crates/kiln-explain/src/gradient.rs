//! Gradients of one output of a model with respect to its input, with the model kept in
//! inference mode (the recipe is in the crate documentation).

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::ExplainError;

/// Which function of the model's logits is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// The probability of the target class: the softmax of the logits, or for a model with a
    /// single logit `z` (binary, sigmoid) `sigmoid(z)` for target 1 and `1 - sigmoid(z)` for
    /// target 0.
    #[default]
    Probability,
    /// The target's logit; for a single-logit model `z` for target 1 and `-z` for target 0
    /// (the log-odds of the target class).
    Logit,
}

impl Output {
    /// The explained value for each row of `logits` `[rows, classes]`: `[rows]`.
    pub(crate) fn select(self, logits: Tensor<2>, target: usize) -> Tensor<1> {
        let [rows, classes] = logits.dims();
        let column = if classes == 1 {
            let z = if target == 1 { logits } else { logits.neg() };
            match self {
                Output::Probability => sigmoid(z),
                Output::Logit => z,
            }
        } else {
            let values = match self {
                Output::Probability => softmax(logits, 1),
                Output::Logit => logits,
            };
            values.narrow(1, target, 1)
        };
        column.reshape([rows])
    }
}

/// The number of classes a target may name for a model with `logits` outputs: 2 for a single
/// logit (binary), `logits` otherwise.
pub(crate) fn class_count(logits: usize) -> usize {
    if logits == 1 { 2 } else { logits }
}

/// Explained values and input gradients of a batch of rows.
pub(crate) struct BatchGradients {
    /// `f(row)` for each row.
    pub values: Vec<f64>,
    /// `df/d row`, row-major `[rows, size]`.
    pub gradients: Vec<f32>,
}

/// Runs `forward` on `rows` (row-major, `size` values each) with autodiff on the input and one
/// backward pass, returning each row's explained value and gradient. `with_gradients: false`
/// skips the backward pass (and returns no gradients).
pub(crate) fn evaluate(
    forward: &impl Fn(Tensor<2>) -> Tensor<2>,
    rows: Vec<f32>,
    size: usize,
    target: usize,
    output: Output,
    device: &Device,
    with_gradients: bool,
) -> Result<BatchGradients, ExplainError> {
    let count = rows.len() / size;
    let mut input = Tensor::<2>::from_data(TensorData::new(rows, [count, size]), device).autodiff();
    if with_gradients {
        input = input.require_grad();
    }
    let logits = forward(input.clone());
    let dims = logits.dims();
    if dims[0] != count {
        return Err(ExplainError::BadOutput {
            rows: count,
            actual: dims.to_vec(),
        });
    }
    let classes = class_count(dims[1]);
    if target >= classes {
        return Err(ExplainError::TargetOutOfRange { target, classes });
    }
    let explained = output.select(logits, target);
    let values = read(&explained)?.into_iter().map(f64::from).collect();
    if !with_gradients {
        return Ok(BatchGradients {
            values,
            gradients: Vec::new(),
        });
    }
    if !explained.is_tracked() {
        return Err(ExplainError::NoGradient);
    }
    let grads = explained.sum().backward();
    let gradient = input.grad(&grads).ok_or(ExplainError::NoGradient)?;
    Ok(BatchGradients {
        values,
        gradients: read(&gradient)?,
    })
}

/// A tensor's values as `f32` on the host.
fn read<const D: usize>(tensor: &Tensor<D>) -> Result<Vec<f32>, ExplainError> {
    tensor
        .try_to_vec_as::<f32>()
        .map_err(|error| ExplainError::Read(format!("{error:?}")))
}

/// The gradient of the explained `output` (for class `target`) with respect to one `input`
/// sample (flat, as `forward` takes it): one value per input value.
///
/// `forward` maps flat samples `[n, size]` to logits `[n, classes]` and must run the model in
/// inference mode (pass `model.valid()`); `device` is the model's device.
pub fn input_gradient(
    forward: impl Fn(Tensor<2>) -> Tensor<2>,
    input: &[f32],
    target: usize,
    output: Output,
    device: &Device,
) -> Result<Vec<f32>, ExplainError> {
    if input.is_empty() {
        return Err(ExplainError::Empty("input"));
    }
    let batch = evaluate(
        &forward,
        input.to_vec(),
        input.len(),
        target,
        output,
        device,
        true,
    )?;
    Ok(batch.gradients)
}

/// The explained `output` (for class `target`) of each flat sample in `rows` (`size` values
/// each), without gradients: the value integrated gradients attribute.
pub fn explained_values(
    forward: impl Fn(Tensor<2>) -> Tensor<2>,
    rows: &[f32],
    size: usize,
    target: usize,
    output: Output,
    device: &Device,
) -> Result<Vec<f64>, ExplainError> {
    if size == 0 {
        return Err(ExplainError::Zero("size"));
    }
    if rows.is_empty() {
        return Err(ExplainError::Empty("rows"));
    }
    if !rows.len().is_multiple_of(size) {
        return Err(ExplainError::LengthMismatch {
            what: "rows (a multiple of size)",
            expected: rows.len().div_ceil(size) * size,
            actual: rows.len(),
        });
    }
    let batch = evaluate(&forward, rows.to_vec(), size, target, output, device, false)?;
    Ok(batch.values)
}
