//! Structured pruning of the rnn kind: hidden units removed from every level and direction
//! (the same number from each, so that one `hidden` width still describes the model), chosen
//! per direction by the L1 norm of the unit's incoming weights over all its gates.

use burn::prelude::*;
use kiln_compress::structured::{keep_largest, select_param, slice_linear};
use kiln_rnn::{ElmanLayer, GateKind, GatedLayer, RecurrentLayer, SequenceClassifier};
use kiln_train::Result;

use super::rnn::RnnSpec;
use crate::{DataShape, ModelKind};

/// The rnn kind's [`ModelKind::remove_units`].
pub(crate) fn remove_units(
    spec: &RnnSpec,
    model: &SequenceClassifier,
    fraction: f64,
    shape: &DataShape,
    device: &Device,
) -> Result<(RnnSpec, SequenceClassifier)> {
    let hidden = spec.hidden;
    let keep_count = keep_largest(&vec![0.0; hidden], fraction).len();
    let small_spec = RnnSpec {
        hidden: keep_count,
        ..spec.clone()
    };
    let mut small = small_spec.build(shape, device)?;
    // Inputs of the first level: every feature of a time step.
    let mut inputs: Vec<usize> = (0..model.input_size()).collect();
    for (to, from) in small.encoder.layers.iter_mut().zip(&model.encoder.layers) {
        let mut outputs = Vec::new();
        match (to, from) {
            (RecurrentLayer::Gated(to), RecurrentLayer::Gated(from)) => {
                for (direction, (to, from)) in to.iter_mut().zip(from).enumerate() {
                    let keep = strongest(gated_scores(from), keep_count);
                    slice_gated(to, from, &keep, &inputs);
                    outputs.extend(keep.iter().map(|&h| direction * hidden + h));
                }
            }
            (RecurrentLayer::Elman(to), RecurrentLayer::Elman(from)) => {
                for (direction, (to, from)) in to.layers.iter_mut().zip(&from.layers).enumerate() {
                    let keep = strongest(elman_scores(from), keep_count);
                    slice_elman(to, from, &keep, &inputs);
                    outputs.extend(keep.iter().map(|&h| direction * hidden + h));
                }
            }
            _ => {
                return Err(kiln_train::KilnError::Internal(
                    "the smaller rnn has other cells than the original".into(),
                ));
            }
        }
        inputs = outputs;
    }
    let classes: Vec<usize> = (0..shape.outputs()).collect();
    slice_linear(&mut small.output, &model.output, &inputs, &classes);
    Ok((small_spec, small))
}

/// The `count` units of the largest scores, ascending.
fn strongest(scores: Vec<f32>, count: usize) -> Vec<usize> {
    keep_largest(&scores, 1.0 - count as f64 / scores.len() as f64)
}

fn gates(layer: &GatedLayer) -> usize {
    match layer.kind {
        GateKind::Lstm => 4,
        GateKind::Gru => 3,
    }
}

/// The columns of unit `h`'s gates in a `[_, gates * hidden]` weight, for every kept unit.
fn gate_columns(keep: &[usize], gates: usize, hidden: usize) -> Vec<usize> {
    (0..gates)
        .flat_map(|g| keep.iter().map(move |&h| g * hidden + h))
        .collect()
}

fn host(tensor: Tensor<1>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float values")
}

/// Per unit: the L1 norm of its input and recurrent weights over every gate.
fn gated_scores(layer: &GatedLayer) -> Vec<f32> {
    let (gates, hidden) = (gates(layer), layer.w_hh.val().dims()[0]);
    let per_column = layer.w_ih.val().abs().sum_dim(0) + layer.w_hh.val().abs().sum_dim(0);
    let per_column: Tensor<2> = per_column.reshape([gates, hidden]);
    host(per_column.sum_dim(0).reshape([hidden]))
}

/// Per unit: the L1 norm of its row of the input and recurrent weights (Elman layers keep
/// PyTorch's `[hidden, input]` layout).
fn elman_scores(layer: &ElmanLayer) -> Vec<f32> {
    let hidden = layer.w_hh.val().dims()[0];
    let per_row = layer.w_xh.val().abs().sum_dim(1) + layer.w_hh.val().abs().sum_dim(1);
    host(per_row.reshape([hidden]))
}

fn slice_gated(to: &mut GatedLayer, from: &GatedLayer, keep: &[usize], inputs: &[usize]) {
    let columns = gate_columns(keep, gates(from), from.w_hh.val().dims()[0]);
    to.w_ih = select_param(&select_param(&from.w_ih, 0, inputs), 1, &columns);
    to.w_hh = select_param(&select_param(&from.w_hh, 0, keep), 1, &columns);
    to.b_ih = select_param(&from.b_ih, 0, &columns);
    to.b_hh = select_param(&from.b_hh, 0, &columns);
}

fn slice_elman(to: &mut ElmanLayer, from: &ElmanLayer, keep: &[usize], inputs: &[usize]) {
    to.w_xh = select_param(&select_param(&from.w_xh, 0, keep), 1, inputs);
    to.w_hh = select_param(&select_param(&from.w_hh, 0, keep), 1, keep);
    to.b_h = select_param(&from.b_h, 0, keep);
}
