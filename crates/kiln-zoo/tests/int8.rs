//! int8 weights run through every model kind's forward pass, the fused CPU kernels included
//! (they dequantize, as Burn's own layers do), and give logits close to the f32 model's.

use burn::prelude::*;
use burn::tensor::Distribution;
use kiln_compress::{QuantGranularity, quantize_int8};
use kiln_zoo::{DataShape, ModelConfig};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn check(section: &str, sample_shape: Vec<usize>) {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    device.seed(2);
    let config: ModelConfig = serde_json::from_str(section).unwrap();
    let shape = DataShape {
        sample_shape: sample_shape.clone(),
        classes: 10,
        vocab: 0,
    };
    let model = config.build(&shape, &device).unwrap().valid();
    let size: usize = sample_shape.iter().product();
    let x = Tensor::<2>::random([4, size], Distribution::Uniform(0.0, 1.0), &device);
    let reference = values(model.logits(x.clone()));
    let q = quantize_int8(model, QuantGranularity::PerTensor);
    let int8 = values(q.logits(x));
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = reference
        .iter()
        .zip(&int8)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= 0.05 * scale,
        "{section}: off by {worst} of {scale}"
    );
    assert_ne!(reference, int8, "{section}: the int8 weights are used");
}

#[test]
fn the_fused_cnn_runs_on_int8_weights() {
    check(r#"{"kind": "cnn", "preset": "lenet"}"#, vec![1, 28, 28]);
}

#[test]
fn the_fused_recurrent_layers_run_on_int8_weights() {
    for cell in ["lstm", "gru", "elman"] {
        let section = format!(r#"{{"kind": "rnn", "cell": "{cell}", "hidden": 32}}"#);
        check(&section, vec![28, 28]);
    }
}

#[test]
fn the_mlp_runs_on_int8_weights() {
    check(r#"{"kind": "mlp", "hidden": [64]}"#, vec![1, 28, 28]);
}
