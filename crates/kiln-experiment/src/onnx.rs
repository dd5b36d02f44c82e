//! ONNX export of a run (burn-onnx's forward capture, opset 18), behind the `onnx` feature.

use kiln_interop::Architecture;
use kiln_train::{KilnError, Result};

use crate::TrainedRun;

/// The ONNX bytes of `run`'s model, taking standardised inputs.
pub(crate) fn export(run: &TrainedRun, arch: &Architecture) -> Result<Vec<u8>> {
    let _ = (run, arch);
    Err(KilnError::Input(
        "ONNX export is not built in: rebuild kiln with --features onnx".into(),
    ))
}
