//! Structured pruning gives a smaller dense model whose outputs equal those of the original
//! with the removed units zeroed (the masked dense model), before any fine-tuning.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use kiln_zoo::kinds::cnn::{CnnPreset, CnnSpec};
use kiln_zoo::kinds::mlp::MlpSpec;
use kiln_zoo::{DataShape, ModelKind};

mod common;
use common::{digits, preset};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// 1 for the channels in `keep`, 0 for the others, as a `[n]` tensor.
fn mask(n: usize, keep: &[usize], device: &Device) -> Tensor<1> {
    let m: Vec<f32> = (0..n)
        .map(|i| f32::from(u8::from(keep.contains(&i))))
        .collect();
    Tensor::from_data(TensorData::new(m, [n]), device)
}

fn kept_channels(weight_after: usize, norms: &[f32]) -> Vec<usize> {
    kiln_compress::structured::keep_largest(norms, 1.0 - weight_after as f64 / norms.len() as f64)
}

fn assert_close(a: Vec<f32>, b: Vec<f32>) {
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "outputs differ by up to {worst}");
}

#[test]
fn a_cnn_without_half_its_filters_equals_the_masked_dense_one() {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    device.seed(11);
    let shape = digits();
    let spec = preset(CnnPreset::Lenet);
    let model = spec.build(&shape, &device).unwrap();
    let (small_spec, small) = spec.remove_units(&model, 0.5, &shape, &device).unwrap();
    assert_eq!(small_spec.preset, CnnPreset::Custom);
    let channels: Vec<usize> = small_spec.blocks.iter().map(|b| b.out_channels).collect();
    assert_eq!(channels, vec![16, 32]);

    let mut masked = model.clone();
    for (block, small_block) in masked.blocks.iter_mut().zip(&small.blocks) {
        let norms = kiln_compress::structured::filter_norms(&block.conv);
        let keep = kept_channels(small_block.conv.weight.val().dims()[0], &norms);
        let m = mask(norms.len(), &keep, &device);
        let w = block.conv.weight.val() * m.clone().reshape([norms.len(), 1, 1, 1]);
        block.conv.weight = Param::from_tensor(w);
        let bias = block.conv.bias.as_ref().unwrap().val() * m;
        block.conv.bias = Some(Param::from_tensor(bias));
    }
    let images = Tensor::<2>::random([8, 784], Distribution::Normal(0.0, 1.0), &device);
    let expected = CnnSpec::logits(&masked, images.clone());
    assert_close(values(CnnSpec::logits(&small, images)), values(expected));
}

#[test]
fn an_mlp_with_batch_norm_without_most_hidden_units_equals_the_masked_dense_one() {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    device.seed(5);
    let shape = DataShape {
        sample_shape: vec![6],
        classes: 3,
        vocab: 0,
    };
    let spec: MlpSpec = serde_json::from_str(r#"{"hidden": [20, 10], "batch_norm": true}"#)
        .expect("an mlp section");
    let trained_norms = |model: kiln_fnn::Mlp| {
        // Statistics and affine parameters away from their defaults, as after training.
        let mut model = model;
        for norm in &mut model.norms {
            let n = norm.gamma.val().dims()[0];
            let r = |lo, hi| Tensor::<1>::random([n], Distribution::Uniform(lo, hi), &device);
            norm.gamma = Param::from_tensor(r(0.5, 1.5));
            norm.beta = Param::from_tensor(r(-0.5, 0.5));
            norm.running_mean = burn::module::RunningState::new(r(-0.2, 0.2));
            norm.running_var = burn::module::RunningState::new(r(0.5, 2.0));
        }
        model
    };
    let model = trained_norms(spec.build(&shape, &device).unwrap());
    let (small_spec, small) = spec.remove_units(&model, 0.7, &shape, &device).unwrap();
    assert_eq!(small_spec.hidden, vec![6, 3]);

    let mut masked = model.clone();
    for i in 0..2 {
        let norms = kiln_compress::structured::unit_norms(&masked.hidden[i]);
        let keep = kept_channels(small_spec.hidden[i], &norms);
        let m = mask(norms.len(), &keep, &device);
        let layer = &mut masked.hidden[i];
        layer.weight = Param::from_tensor(layer.weight.val() * m.clone().unsqueeze::<2>());
        let bias = layer.bias.as_ref().unwrap().val() * m.clone();
        layer.bias = Some(Param::from_tensor(bias));
        let norm = &mut masked.norms[i];
        norm.gamma = Param::from_tensor(norm.gamma.val() * m.clone());
        norm.beta = Param::from_tensor(norm.beta.val() * m);
    }
    let x = Tensor::<2>::random([16, 6], Distribution::Normal(0.0, 1.0), &device);
    let (masked, small) = (masked.valid(), small.valid());
    assert_close(
        values(MlpSpec::logits(&small, x.clone())),
        values(MlpSpec::logits(&masked, x)),
    );
}

#[test]
fn kinds_without_structured_pruning_say_so() {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    let shape = digits();
    let spec = preset(CnnPreset::Resnet);
    let model = spec.build(&shape, &device).unwrap();
    let err = spec.remove_units(&model, 0.5, &shape, &device).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("residual"), "{err}");
}

/// The units an rnn level direction keeps, by the same L1 rule as the pruner (its incoming
/// weights over all gates), zeroing the others' incoming weights and biases in place.
fn zero_removed_units(
    w_in: &mut Param<Tensor<2>>,
    w_hh: &mut Param<Tensor<2>>,
    biases: &mut [&mut Param<Tensor<1>>],
    gates: usize,
    kept: usize,
    device: &Device,
) {
    let hidden = w_hh.val().dims()[0];
    let per_column = w_in.val().abs().sum_dim(0) + w_hh.val().abs().sum_dim(0);
    let scores: Tensor<2> = per_column.reshape([gates, hidden]);
    let scores = values(scores.sum_dim(0));
    let keep = kept_channels(kept, &scores);
    // One 0/1 factor per column: gate blocks side by side.
    let m: Vec<f32> = (0..gates * hidden)
        .map(|c| f32::from(u8::from(keep.contains(&(c % hidden)))))
        .collect();
    let m = Tensor::<1>::from_data(TensorData::new(m, [gates * hidden]), device);
    *w_in = Param::from_tensor(w_in.val() * m.clone().unsqueeze::<2>());
    *w_hh = Param::from_tensor(w_hh.val() * m.clone().unsqueeze::<2>());
    for b in biases.iter_mut() {
        **b = Param::from_tensor(b.val() * m.clone());
    }
}

#[test]
fn rnns_without_most_hidden_units_equal_the_masked_dense_ones() {
    use kiln_rnn::{GateKind, RecurrentLayer};
    use kiln_zoo::kinds::rnn::RnnSpec;
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    device.seed(8);
    let shape = DataShape {
        sample_shape: vec![7, 5],
        classes: 4,
        vocab: 0,
    };
    for cell in ["lstm", "gru", "elman"] {
        let section =
            format!(r#"{{"cell": "{cell}", "hidden": 12, "layers": 2, "bidirectional": true}}"#);
        let spec: RnnSpec = serde_json::from_str(&section).unwrap();
        let model = spec.build(&shape, &device).unwrap();
        let (small_spec, small) = spec.remove_units(&model, 0.75, &shape, &device).unwrap();
        assert_eq!(small_spec.hidden, 3, "{cell}");
        let mut masked = model.clone();
        for level in &mut masked.encoder.layers {
            match level {
                RecurrentLayer::Gated(directions) => {
                    for d in directions {
                        let gates = if d.kind == GateKind::Lstm { 4 } else { 3 };
                        let (mut b_ih, mut b_hh) = (d.b_ih.clone(), d.b_hh.clone());
                        zero_removed_units(
                            &mut d.w_ih,
                            &mut d.w_hh,
                            &mut [&mut b_ih, &mut b_hh],
                            gates,
                            3,
                            &device,
                        );
                        (d.b_ih, d.b_hh) = (b_ih, b_hh);
                    }
                }
                RecurrentLayer::Elman(elman) => {
                    // Elman layers are `[hidden, input]`: a unit is a row.
                    for d in &mut elman.layers {
                        let t = |p: &Param<Tensor<2>>| Param::from_tensor(p.val().transpose());
                        let (mut w_xh, mut w_hh) = (t(&d.w_xh), t(&d.w_hh));
                        let mut b = d.b_h.clone();
                        zero_removed_units(&mut w_xh, &mut w_hh, &mut [&mut b], 1, 3, &device);
                        (d.w_xh, d.w_hh) = (t(&w_xh), t(&w_hh));
                        d.b_h = b;
                    }
                }
            }
        }
        let x = Tensor::<2>::random([6, 35], Distribution::Normal(0.0, 1.0), &device);
        assert_close(
            values(RnnSpec::logits(&small, x.clone())),
            values(RnnSpec::logits(&masked, x)),
        );
    }
}
