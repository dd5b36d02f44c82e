//! What a model is built for: the data's sample shape, classes and vocabulary.

/// The shape of the data a model is built for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataShape {
    /// Shape of one sample: `[features]`, `[steps, features]` or `[channels, height, width]`.
    pub sample_shape: Vec<usize>,
    /// Number of classes (2 for a binary task, whose model has one logit).
    pub classes: usize,
    /// Characters of a text's vocabulary (language models; 0 for other data).
    pub vocab: usize,
}

impl DataShape {
    /// Values per sample.
    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Refuses a model built for images of shape `input` (`[channels, height, width]`, the
    /// config's `model.input`) when the data's samples have another shape.
    pub fn check_image_input(&self, input: &[usize]) -> kiln_train::Result<()> {
        if input != self.sample_shape {
            return Err(kiln_train::KilnError::Input(format!(
                "model.input is {input:?} (channels, height, width) but the data's samples are {:?}",
                self.sample_shape
            )));
        }
        Ok(())
    }

    /// Logits a classifier needs: 1 for two classes, else one per class.
    pub fn outputs(&self) -> usize {
        if self.classes == 2 { 1 } else { self.classes }
    }
}
