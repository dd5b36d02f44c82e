//! Sequence classification: a [`Recurrent`] encoder, its last time step, then a linear layer.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::recurrent::{Recurrent, RecurrentConfig};

/// Configuration of a [`SequenceClassifier`].
#[derive(Config, Debug)]
pub struct SequenceClassifierConfig {
    /// The recurrent encoder; its `input_size` is the number of features per time step.
    pub encoder: RecurrentConfig,
    /// Number of classes (logits).
    pub num_classes: usize,
}

/// Classifies whole sequences: `Recurrent -> output at the last time step -> Linear`.
///
/// For a bidirectional encoder the last step's features are the forward direction's summary of
/// the whole sequence and the backward direction's reading of that step only.
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// The recurrent encoder.
    pub encoder: Recurrent,
    /// The output layer (no activation: it returns logits).
    pub output: Linear,
}

impl SequenceClassifierConfig {
    /// Builds the classifier with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> SequenceClassifier {
        let encoder = self.encoder.init(device);
        let output = LinearConfig::new(encoder.output_size(), self.num_classes).init(device);
        SequenceClassifier { encoder, output }
    }
}

impl SequenceClassifier {
    /// Logits `[batch, classes]` for sequences `[batch, time, features]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let (outputs, _) = self.encoder.forward(x, None);
        let [_, time, _] = outputs.dims();
        let last = outputs.narrow(1, time - 1, 1).squeeze_dim::<2>(1);
        self.output.forward(last)
    }

    /// Logits for flattened sequences `[batch, steps * features]`, read as `steps` time steps
    /// of `features` values each (row-sequential MNIST: 28 steps of 28 pixels).
    ///
    /// # Panics
    /// If the row length is not `steps` times the encoder's input size.
    pub fn forward_flat(&self, inputs: Tensor<2>, steps: usize) -> Tensor<2> {
        let [batch, size] = inputs.dims();
        let features = self.input_size();
        assert_eq!(
            size,
            steps * features,
            "inputs of {size} values are not {steps} steps of {features} features"
        );
        self.forward(inputs.reshape([batch, steps, features]))
    }

    /// Number of features per time step the encoder expects.
    pub fn input_size(&self) -> usize {
        self.encoder.input_size()
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.output.weight.dims()[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrent::CellKind;

    #[test]
    fn logits_shape_for_every_cell_kind() {
        let device = Device::flex();
        for cell in [CellKind::Elman, CellKind::Lstm, CellKind::Gru] {
            for bidirectional in [false, true] {
                let encoder = RecurrentConfig::new(cell, 28, 16)
                    .with_num_layers(2)
                    .with_bidirectional(bidirectional);
                let model = SequenceClassifierConfig::new(encoder, 10).init(&device);
                assert_eq!(
                    model.forward(Tensor::zeros([4, 7, 28], &device)).dims(),
                    [4, 10]
                );
                let flat = Tensor::<2>::zeros([5, 28 * 28], &device);
                assert_eq!(model.forward_flat(flat, 28).dims(), [5, 10]);
                assert_eq!(model.num_classes(), 10);
            }
        }
    }

    #[test]
    fn forward_flat_reads_rows_as_time_steps() {
        let device = Device::flex();
        let model = SequenceClassifierConfig::new(RecurrentConfig::new(CellKind::Gru, 3, 4), 2)
            .init(&device);
        let flat = Tensor::<2>::from_data([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], &device);
        let steps = Tensor::<3>::from_data([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]], &device);
        let a = model.forward_flat(flat, 2).into_data();
        let b = model.forward(steps).into_data();
        a.assert_eq(&b, true);
    }

    #[test]
    #[should_panic(expected = "not 3 steps of 4 features")]
    fn forward_flat_rejects_a_wrong_row_length() {
        let device = Device::flex();
        let model = SequenceClassifierConfig::new(RecurrentConfig::new(CellKind::Elman, 4, 4), 2)
            .init(&device);
        model.forward_flat(Tensor::zeros([1, 10], &device), 3);
    }
}
