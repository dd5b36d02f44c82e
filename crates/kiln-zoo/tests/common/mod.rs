//! What the zoo's integration tests share: MNIST's shape and a cnn section of a preset.

use kiln_zoo::DataShape;
use kiln_zoo::kinds::cnn::{CnnPreset, CnnSpec};

/// MNIST's shape: 1 x 28 x 28 images, 10 classes.
pub fn digits() -> DataShape {
    DataShape {
        sample_shape: vec![1, 28, 28],
        classes: 10,
        vocab: 0,
    }
}

/// A cnn section of `preset`.
pub fn preset(preset: CnnPreset) -> CnnSpec {
    CnnSpec {
        preset,
        input: vec![1, 28, 28],
        blocks: Vec::new(),
        hidden: Vec::new(),
        global_avg_pool: false,
        dropout: 0.0,
    }
}
