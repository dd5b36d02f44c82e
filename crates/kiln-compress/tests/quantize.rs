//! int8 weights: close to the f32 ones (within half a scale step), biases untouched, a file
//! about a quarter of the size, and read back into a model quantized the same way.

mod common;

use burn::prelude::*;
use burn::tensor::DType;
use common::{Net, values};
use kiln_compress::{PruneScope, QuantGranularity, prune, quantize_int8};

fn net() -> Net {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    device.seed(3);
    Net::new(&device)
}

#[test]
fn int8_weights_are_within_half_a_step_and_biases_stay_f32() {
    let model = net();
    for granularity in [
        QuantGranularity::PerTensor,
        QuantGranularity::PerBlock { block: 16 },
    ] {
        let q = quantize_int8(model.clone(), granularity);
        assert!(matches!(q.hidden.weight.val().dtype(), DType::QFloat(_)));
        let bias = |n: &Net| n.hidden.bias.as_ref().unwrap().val();
        assert_eq!(bias(&q).dtype(), DType::F32);
        assert_eq!(values(bias(&q)), values(bias(&model)));
        let original = values(model.hidden.weight.val());
        let restored = values(q.hidden.weight.val().dequantize());
        let max = original.iter().fold(0f32, |m, w| m.max(w.abs()));
        let step = max / 127.0; // symmetric int8, one scale: the coarsest case
        for (a, b) in original.iter().zip(&restored) {
            assert!(
                (a - b).abs() <= step / 2.0 + 1e-6,
                "{a} vs {b} ({granularity:?})"
            );
        }
    }
}

#[test]
fn pruned_zeros_stay_zero_and_the_file_shrinks_and_loads_back() {
    let model = prune(net(), 0.5, PruneScope::PerLayer).materialize();
    let q = quantize_int8(model.clone(), QuantGranularity::PerTensor);
    let zeros = |w: Vec<f32>| w.iter().filter(|v| **v == 0.0).count();
    assert_eq!(
        zeros(values(q.hidden.weight.val().dequantize())),
        zeros(values(model.hidden.weight.val()))
    );
    let dir = tempfile::tempdir().unwrap();
    q.clone().save_file(dir.path().join("int8")).unwrap();

    // Burn's record keeps the dtype it saved: a fresh f32 model reads the int8 weights as int8.
    let loaded = net().try_load_file(dir.path().join("int8.bpk")).unwrap();
    assert!(matches!(
        loaded.hidden.weight.val().dtype(),
        DType::QFloat(_)
    ));
    let x = Tensor::<2>::from_data([[0.3f32, -1.2], [1.5, 0.1]], &Device::flex());
    assert_eq!(values(loaded.forward(x.clone())), values(q.forward(x)));
}

#[test]
fn an_int8_file_is_about_a_quarter_of_the_f32_one() {
    let device = Device::flex();
    let layer = burn::nn::LinearConfig::new(256, 128).init(&device);
    let dir = tempfile::tempdir().unwrap();
    layer.clone().save_file(dir.path().join("f32")).unwrap();
    for (name, granularity) in [
        ("tensor", QuantGranularity::PerTensor),
        ("block", QuantGranularity::PerBlock { block: 32 }),
    ] {
        quantize_int8(layer.clone(), granularity)
            .save_file(dir.path().join(name))
            .unwrap();
        let size = |n: &str| {
            std::fs::metadata(dir.path().join(format!("{n}.bpk")))
                .unwrap()
                .len()
        };
        let ratio = size(name) as f64 / size("f32") as f64;
        assert!((0.24..0.30).contains(&ratio), "{name}: {ratio}");
    }
}

#[test]
fn fake_quantization_rounds_forward_and_passes_gradients_straight_through() {
    let device = Device::flex().autodiff();
    let w = Tensor::<2>::from_data([[0.5f32, -1.27], [0.013, 0.9]], &device).require_grad();
    let q = kiln_compress::fake_quantize(w.clone());
    // Scale 1.27 / 127 = 0.01: every value on the grid of hundredths.
    for (v, e) in values(q.clone()).iter().zip([0.5, -1.27, 0.01, 0.9]) {
        assert!((v - e).abs() < 1e-6, "{v} vs {e}");
    }
    let grads = q.mul_scalar(3.0).sum().backward();
    assert_eq!(
        values(w.grad(&grads).unwrap()),
        vec![3.0; 4],
        "the identity, times 3"
    );
}

#[test]
fn quantization_aware_masks_make_int8_lossless() {
    let model = kiln_compress::attach_masks(net(), true);
    let merged = model.materialize();
    let int8 = quantize_int8(merged.clone(), QuantGranularity::PerTensor);
    for (a, b) in [
        (
            merged.hidden.weight.val(),
            int8.hidden.weight.val().dequantize(),
        ),
        (
            merged.output.weight.val(),
            int8.output.weight.val().dequantize(),
        ),
    ] {
        let (a, b) = (values(a), values(b));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(worst <= max * 1e-5, "off the int8 grid by {worst}");
    }
}
