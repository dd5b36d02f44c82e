//! ONNX export (burn-onnx 0.22's forward capture, opset 18, experimental): the model's own
//! forward pass on Burn's capture device, lowered to an ONNX graph with the weights embedded
//! and a dynamic batch axis. On the capture device Kiln's fused CPU kernels are not used, so
//! the graph is Burn's composed operations.

use burn::prelude::*;
use burn_onnx::export::{AxisSpec, ExportError, InputSpec, OnnxExporter};
use kiln_train::{KilnError, Result};
use kiln_zoo::AnyModel;

/// The ONNX bytes of `model`, whose graph input is `[batch, *input_shape]` of standardised
/// values (`input_shape` as [`crate::Architecture::input_shape`] gives it) and output the
/// logits. The batch axis is dynamic, except with `fixed_batch` and for the recurrent models
/// (batch 1 unless `fixed_batch`). Operations ONNX export cannot lower are an input error
/// naming them.
pub fn onnx_bytes(
    model: &AnyModel,
    input_shape: &[usize],
    fixed_batch: Option<usize>,
) -> Result<Vec<u8>> {
    let device = Device::flex();
    let exporter = OnnxExporter::new();
    let specs = |rank: usize| {
        let mut axes = vec![AxisSpec::dynamic("batch")];
        axes.extend((1..rank).map(|_| AxisSpec::Static));
        [InputSpec::new(axes)]
    };
    let sample = |batch: usize| {
        let mut shape = vec![batch];
        shape.extend_from_slice(input_shape);
        shape
    };
    if let Some(batch) = fixed_batch.filter(|b| *b > 0) {
        return fixed(model, &sample(batch));
    }
    let result = match model {
        AnyModel::Rnn(_) => return fixed(model, &sample(1)),
        AnyModel::Mlp(m) => {
            let [a, b] = [2, 3].map(|n| Tensor::<2>::zeros(to_array::<2>(&sample(n)), &device));
            exporter.export_dynamic(m, a, b, &specs(2), |m, x| m.forward(x))
        }
        AnyModel::Linear(m) => {
            let [a, b] = [2, 3].map(|n| Tensor::<2>::zeros(to_array::<2>(&sample(n)), &device));
            exporter.export_dynamic(m, a, b, &specs(2), |m, x| m.forward(x))
        }
        AnyModel::Cnn(m) => {
            let [a, b] = [2, 3].map(|n| Tensor::<4>::zeros(to_array::<4>(&sample(n)), &device));
            exporter.export_dynamic(m, a, b, &specs(4), |m, x| m.forward(x))
        }
        AnyModel::Charlm(_) => return Err(charlm()),
        AnyModel::Scatter(_) => return Err(scatter()),
    };
    result.map(|onnx| onnx.into_bytes()).map_err(describe)
}

/// A graph for inputs of exactly `shape` (batch included). The recurrent models' time loop
/// slices its batch axis, which burn-onnx cannot keep symbolic, so they always export this way.
fn fixed(model: &AnyModel, shape: &[usize]) -> Result<Vec<u8>> {
    let device = Device::flex();
    let exporter = OnnxExporter::new();
    let result = match model {
        AnyModel::Mlp(m) => exporter.export(
            m,
            Tensor::<2>::zeros(to_array::<2>(shape), &device),
            |m, x| m.forward(x),
        ),
        AnyModel::Linear(m) => exporter.export(
            m,
            Tensor::<2>::zeros(to_array::<2>(shape), &device),
            |m, x| m.forward(x),
        ),
        AnyModel::Cnn(m) => exporter.export(
            m,
            Tensor::<4>::zeros(to_array::<4>(shape), &device),
            |m, x| m.forward(x),
        ),
        AnyModel::Rnn(m) => exporter.export(
            m,
            Tensor::<3>::zeros(to_array::<3>(shape), &device),
            |m, x| m.forward(x),
        ),
        AnyModel::Charlm(_) => return Err(charlm()),
        AnyModel::Scatter(_) => return Err(scatter()),
    };
    result.map(|onnx| onnx.into_bytes()).map_err(describe)
}

fn scatter() -> KilnError {
    KilnError::Input(
        "ONNX export of scattering networks is not supported: their fixed wavelet transform          (reflection padding, complex modulus) is built when the model runs, not stored as          weights"
            .into(),
    )
}

fn charlm() -> KilnError {
    KilnError::Input(
        "ONNX export of character language models is not supported (their forward pass carries \
         a recurrent state between calls); export the weights as safetensors"
            .into(),
    )
}

fn to_array<const D: usize>(shape: &[usize]) -> [usize; D] {
    let mut out = [0; D];
    out.copy_from_slice(shape);
    out
}

/// burn-onnx's refusal, as an input error naming what failed.
fn describe(error: ExportError) -> KilnError {
    match error {
        ExportError::UnsupportedOperation { operation, kind } => {
            // `BaseFloat(SwapDims(SwapDimsOpIr { .. }))`: the operation's name is enough.
            let name: String = kind
                .split(['{', '('])
                .filter(|part| !part.is_empty())
                .take(2)
                .collect::<Vec<_>>()
                .join("/");
            KilnError::Input(format!(
                "ONNX export failed: burn-onnx cannot lower operation {operation} ({name}) of \
                 this model's forward pass"
            ))
        }
        other => KilnError::Input(format!("ONNX export failed: {other}")),
    }
}
