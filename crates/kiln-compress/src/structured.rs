//! Structured pruning helpers: which units (conv filters, hidden units) to keep by the L1 norm
//! of their weights, and the slices of layers that keep them. The model kinds (kiln-zoo) use
//! them to rebuild a smaller dense model of the same kind.

use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::prelude::*;

/// The indices (ascending) of the `1 − fraction` units with the largest scores, at least one.
pub fn keep_largest(scores: &[f32], fraction: f64) -> Vec<usize> {
    let n = scores.len();
    let removed = ((n as f64 * fraction).round() as usize).min(n.saturating_sub(1));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut keep = order[..n - removed].to_vec();
    keep.sort_unstable();
    keep
}

/// L1 norm of each output filter of a conv weight `[out, in, kh, kw]`.
pub fn filter_norms(conv: &Conv2d) -> Vec<f32> {
    let [out, _, _, _] = conv.weight.val().dims();
    host(conv.weight.val().abs().reshape([out as i32, -1]).sum_dim(1))
}

/// L1 norm of the incoming weights of each output unit of a Linear layer (weight `[in, out]`).
pub fn unit_norms(linear: &Linear) -> Vec<f32> {
    host(linear.weight.val().abs().sum_dim(0))
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float values")
}

fn indices(keep: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = keep.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [keep.len()]), device)
}

/// `param` restricted to the entries `keep` along `dim`.
pub fn select_param<const D: usize>(
    param: &Param<Tensor<D>>,
    dim: usize,
    keep: &[usize],
) -> Param<Tensor<D>> {
    let value = param.val();
    let device = value.device();
    Param::from_tensor(value.select(dim, indices(keep, &device)))
}

/// The conv layer `to` (already of the smaller shape) given the weights of `from` for the
/// output filters `outputs` and the input channels `inputs`.
pub fn slice_conv(to: &mut Conv2d, from: &Conv2d, outputs: &[usize], inputs: &[usize]) {
    to.weight = select_param(&select_param(&from.weight, 0, outputs), 1, inputs);
    to.bias = from.bias.as_ref().map(|b| select_param(b, 0, outputs));
}

/// The Linear layer `to` given the weights of `from` for the inputs `inputs` and outputs
/// `outputs` (weight `[in, out]`).
pub fn slice_linear(to: &mut Linear, from: &Linear, inputs: &[usize], outputs: &[usize]) {
    to.weight = select_param(&select_param(&from.weight, 0, inputs), 1, outputs);
    to.bias = from.bias.as_ref().map(|b| select_param(b, 0, outputs));
}

/// The batch norm `to` given the parameters and statistics of `from` for the channels `keep`.
pub fn slice_norm(to: &mut BatchNorm, from: &BatchNorm, keep: &[usize]) {
    to.gamma = select_param(&from.gamma, 0, keep);
    to.beta = select_param(&from.beta, 0, keep);
    let stat = |s: &RunningState<Tensor<1>>| {
        let value = s.value();
        let device = value.device();
        RunningState::new(value.select(0, indices(keep, &device)))
    };
    to.running_mean = stat(&from.running_mean);
    to.running_var = stat(&from.running_var);
}

/// Every index of the features of channels `keep` in a flattened `[channels, per_channel]` map.
pub fn flattened(keep: &[usize], per_channel: usize) -> Vec<usize> {
    keep.iter()
        .flat_map(|&c| c * per_channel..(c + 1) * per_channel)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_in_order_and_at_least_one() {
        assert_eq!(keep_largest(&[0.1, 3.0, 2.0, 0.5], 0.5), vec![1, 2]);
        assert_eq!(keep_largest(&[0.1, 3.0], 0.99), vec![1]);
        assert_eq!(keep_largest(&[1.0, 1.0, 1.0], 0.0), vec![0, 1, 2]);
        assert_eq!(flattened(&[0, 2], 3), vec![0, 1, 2, 6, 7, 8]);
    }
}
