//! A state dict exported from each model kind has PyTorch's names and shapes, and loads back
//! into a freshly initialised model of the same architecture bit for bit.

use std::collections::BTreeMap;

use burn::prelude::*;
use kiln_interop::{
    NamedTensor, load_state_dict, read_state_dict, safetensors_bytes, torch_state_dict,
};
use kiln_rnn::{CellKind, CharLanguageModelConfig, RecurrentConfig, SequenceClassifierConfig};
use kiln_zoo::AnyModel;

fn device() -> Device {
    Device::flex()
}

fn models(seed: u64) -> Vec<(&'static str, AnyModel)> {
    let device = device();
    device.seed(seed);
    let encoder = |cell| {
        RecurrentConfig::new(cell, 3, 4)
            .with_num_layers(2)
            .with_bidirectional(true)
    };
    vec![
        (
            "mlp",
            AnyModel::Mlp(
                kiln_fnn::MlpConfig::new(5, 3)
                    .with_hidden_sizes(vec![6, 4])
                    .with_batch_norm(true)
                    .init(&device),
            ),
        ),
        (
            "cnn",
            AnyModel::Cnn(kiln_cnn::CnnConfig::resnet_small(10).init(&device)),
        ),
        (
            "lstm",
            AnyModel::Rnn(SequenceClassifierConfig::new(encoder(CellKind::Lstm), 2).init(&device)),
        ),
        (
            "gru",
            AnyModel::Rnn(SequenceClassifierConfig::new(encoder(CellKind::Gru), 2).init(&device)),
        ),
        (
            "elman",
            AnyModel::Rnn(SequenceClassifierConfig::new(encoder(CellKind::Elman), 2).init(&device)),
        ),
        (
            "charlm",
            AnyModel::Charlm(
                CharLanguageModelConfig::new(7, encoder(CellKind::Lstm)).init(&device),
            ),
        ),
    ]
}

fn by_name(tensors: Vec<NamedTensor>) -> BTreeMap<String, NamedTensor> {
    tensors.into_iter().map(|t| (t.name.clone(), t)).collect()
}

fn shape_of(dict: &BTreeMap<String, NamedTensor>, name: &str) -> Vec<usize> {
    dict.get(name)
        .unwrap_or_else(|| panic!("{name} missing from {:?}", dict.keys()))
        .shape
        .clone()
}

#[test]
fn names_and_shapes_are_pytorchs() {
    let all = models(1);
    let mlp = by_name(torch_state_dict(&all[0].1).unwrap());
    assert_eq!(shape_of(&mlp, "hidden.0.weight"), [6, 5]); // Linear: [out, in]
    assert_eq!(shape_of(&mlp, "norms.1.weight"), [4]); // batch norm gamma
    assert_eq!(shape_of(&mlp, "norms.1.running_var"), [4]);
    assert_eq!(shape_of(&mlp, "output.weight"), [3, 4]);
    assert_eq!(mlp.len(), 2 * 2 + 2 * 4 + 2);

    let cnn = by_name(torch_state_dict(&all[1].1).unwrap());
    assert_eq!(shape_of(&cnn, "blocks.1.conv2.weight"), [64, 64, 3, 3]);
    assert_eq!(
        shape_of(&cnn, "blocks.2.projection.weight"),
        [128, 64, 1, 1]
    );
    assert_eq!(shape_of(&cnn, "output.weight"), [10, 128]);

    // nn.LSTM(3, 4, num_layers=2, bidirectional=True): 4 gates of 4 units, level 1 reads 8.
    let lstm = by_name(torch_state_dict(&all[2].1).unwrap());
    let mut names: Vec<&str> = lstm.keys().map(String::as_str).collect();
    names.sort();
    let mut expected = vec!["output.weight", "output.bias"];
    let flat: Vec<String> = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        .iter()
        .flat_map(|r| {
            ["l0", "l0_reverse", "l1", "l1_reverse"]
                .iter()
                .map(move |l| format!("encoder.{r}_{l}"))
        })
        .collect();
    expected.extend(flat.iter().map(String::as_str));
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(shape_of(&lstm, "encoder.weight_ih_l0"), [16, 3]);
    assert_eq!(shape_of(&lstm, "encoder.weight_ih_l1_reverse"), [16, 8]);
    assert_eq!(shape_of(&lstm, "encoder.weight_hh_l1"), [16, 4]);
    let gru = by_name(torch_state_dict(&all[3].1).unwrap());
    assert_eq!(shape_of(&gru, "encoder.weight_hh_l0_reverse"), [12, 4]);
    // nn.RNN has two biases where Kiln's Elman layer has one: the second is exported as zeros.
    let elman = by_name(torch_state_dict(&all[4].1).unwrap());
    assert_eq!(shape_of(&elman, "encoder.weight_ih_l1"), [4, 8]);
    assert!(
        elman["encoder.bias_hh_l1_reverse"]
            .values
            .iter()
            .all(|v| *v == 0.0)
    );
    assert!(
        elman["encoder.bias_ih_l1_reverse"]
            .values
            .iter()
            .any(|v| *v != 0.0)
    );
    let charlm = by_name(torch_state_dict(&all[5].1).unwrap());
    assert_eq!(shape_of(&charlm, "embedding.weight"), [7, 3]);
}

#[test]
fn the_lstm_transpose_keeps_pytorchs_gate_order() {
    let all = models(2);
    let AnyModel::Rnn(rnn) = &all[2].1 else {
        unreachable!()
    };
    let kiln = rnn.encoder.layers[0].clone();
    let kiln_rnn::RecurrentLayer::Gated(layers) = kiln else {
        unreachable!()
    };
    let w = layers[0]
        .w_ih
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap(); // [3, 16]
    let dict = by_name(torch_state_dict(&all[2].1).unwrap());
    let t = &dict["encoder.weight_ih_l0"].values; // [16, 3]
    for row in 0..16 {
        for col in 0..3 {
            assert_eq!(t[row * 3 + col], w[col * 16 + row]);
        }
    }
}

#[test]
fn every_kind_round_trips_through_a_safetensors_file_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for ((kind, trained), (_, fresh)) in models(3).into_iter().zip(models(4)) {
        let path = dir.path().join(format!("{kind}.safetensors"));
        let dict = torch_state_dict(&trained).unwrap();
        std::fs::write(
            &path,
            safetensors_bytes(&dict, &[("kiln_model", kind.into())]).unwrap(),
        )
        .unwrap();
        let read = read_state_dict(&path).unwrap();
        let loaded = load_state_dict(fresh, &read).unwrap();
        let again = torch_state_dict(&loaded).unwrap();
        assert_eq!(again, dict, "{kind}");
        let inputs = match kind {
            "mlp" => Tensor::<2>::ones([2, 5], &device()),
            "cnn" => Tensor::<2>::ones([2, 28 * 28], &device()),
            "charlm" => Tensor::<2>::ones([2, 5], &device()),
            _ => Tensor::<2>::ones([2, 12], &device()),
        };
        let a = trained.valid().logits(inputs.clone()).into_data();
        let b = loaded.valid().logits(inputs).into_data();
        assert_eq!(a, b, "{kind}: the loaded model computes the same logits");
    }
}

#[test]
fn a_state_dict_that_does_not_fit_is_refused_listing_every_problem() {
    let all = models(5);
    let mut dict = by_name(torch_state_dict(&all[0].1).unwrap());
    dict.remove("hidden.1.bias");
    dict.get_mut("output.weight").unwrap().shape = vec![4, 3];
    dict.insert(
        "head.weight".into(),
        NamedTensor {
            name: "head.weight".into(),
            shape: vec![1],
            values: vec![0.0],
        },
    );
    let err = load_state_dict(models(6).remove(0).1, &dict)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing tensors: hidden.1.bias"), "{err}");
    assert!(err.contains("unexpected tensors: head.weight"), "{err}");
    assert!(
        err.contains("output.weight is [4, 3], the model needs [3, 4]"),
        "{err}"
    );
}

#[test]
fn damaged_and_unknown_files_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let err = read_state_dict(&bad).unwrap_err().to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("not a readable safetensors"),
        "{err}"
    );
    let pt = dir.path().join("bad.pt");
    std::fs::write(&pt, b"\x80\x02garbage").unwrap();
    let err = read_state_dict(&pt).unwrap_err().to_string();
    assert!(err.contains("bad.pt") && err.contains("PyTorch"), "{err}");
    let other = dir.path().join("weights.npz");
    std::fs::write(&other, b"x").unwrap();
    let err = read_state_dict(&other).unwrap_err().to_string();
    assert!(err.contains("unknown weights format"), "{err}");
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_export_lowers_the_mlp_cnn_lstm_and_gru_and_names_what_the_elman_layer_lacks() {
    for (kind, model) in models(7) {
        let shape: Vec<usize> = match kind {
            "mlp" => vec![5],
            "cnn" => vec![1, 28, 28],
            "charlm" => vec![5],
            _ => vec![4, 3],
        };
        let result = kiln_interop::onnx_bytes(&model, &shape, None);
        match kind {
            "elman" => {
                let err = result.unwrap_err().to_string();
                assert!(
                    err.contains("cannot lower operation") && err.contains("SwapDims"),
                    "{err}"
                );
            }
            "charlm" => {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("character language models"), "{err}");
            }
            _ => {
                let bytes = result.unwrap_or_else(|e| panic!("{kind}: {e}"));
                // An ONNX ModelProto names its producer; the weights are embedded.
                assert!(
                    bytes.len() > 4 * model.num_params(),
                    "{kind}: {} bytes",
                    bytes.len()
                );
            }
        }
    }
}

#[cfg(not(feature = "onnx"))]
#[test]
fn onnx_export_is_not_built_in() {
    eprintln!("skipped: ONNX export tests need --features onnx");
}
