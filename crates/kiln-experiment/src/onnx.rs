//! ONNX export of a run (burn-onnx's forward capture, opset 18), with the `onnx` feature.

use kiln_interop::Architecture;
use kiln_train::Result;

use crate::TrainedRun;

/// The ONNX bytes of `run`'s model, taking standardised inputs `[batch, *input_shape]`.
#[cfg(feature = "onnx")]
pub(crate) fn export(
    run: &TrainedRun,
    arch: &Architecture,
    batch: Option<usize>,
) -> Result<Vec<u8>> {
    let shape = crate::interop::preprocessing(run, arch).input_shape;
    kiln_interop::onnx_bytes(&run.model, &shape, batch)
}

/// Without the `onnx` feature: an input error saying how to get it.
#[cfg(not(feature = "onnx"))]
pub(crate) fn export(
    run: &TrainedRun,
    arch: &Architecture,
    batch: Option<usize>,
) -> Result<Vec<u8>> {
    let _ = (run, arch, batch);
    Err(kiln_train::KilnError::Input(
        "ONNX export is not built in: rebuild kiln with its `onnx` feature (on by default)".into(),
    ))
}
