//! The inputs of `kiln predict` and `kiln explain`: digit images, or the rows of one CSV file.

use std::path::{Path, PathBuf};

use kiln_experiment::TrainedRun;
use kiln_train::{KilnError, Result};

use super::predict::{read_raw_rows, read_rows};

/// True when the path names a PNG or JPEG file.
pub fn is_image(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

/// The raw pixels of grayscale digit images, resized to what `run`'s model takes.
pub fn read_images(run: &TrainedRun, paths: &[PathBuf]) -> Result<Vec<f32>> {
    let [channels, height, width] = run.preprocess.sample_shape[..] else {
        return Err(KilnError::Input(format!(
            "{}: this model takes samples of shape {:?}, not images; give it a CSV file",
            run.dir.display(),
            run.preprocess.sample_shape
        )));
    };
    if channels != 1 {
        return Err(KilnError::Input(format!(
            "{}: only grayscale image models are supported",
            run.dir.display()
        )));
    }
    let mut values = Vec::with_capacity(paths.len() * height * width);
    for path in paths {
        if !is_image(path) {
            return Err(KilnError::Input(format!(
                "{}: not a .png, .jpg or .jpeg file",
                path.display()
            )));
        }
        values.extend(kiln_data::load_digit_image(path, height, width)?);
    }
    Ok(values)
}

/// The raw rows of the one CSV file in `inputs`: text categories and all for a run with an
/// encoding, numbers (header optional) otherwise. `verb` names the command in errors.
pub fn read_table(run: &TrainedRun, inputs: &[PathBuf], verb: &str) -> Result<Vec<f32>> {
    let [input] = inputs else {
        return Err(KilnError::Input(format!(
            "{verb} takes one CSV file (or several images)"
        )));
    };
    match &run.preprocess.encoding {
        Some(encoding) => read_raw_rows(input, encoding),
        None => read_rows(
            input,
            &run.preprocess.feature_names,
            &run.config.data.target,
            run.sample_size(),
        ),
    }
}
