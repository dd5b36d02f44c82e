//! The CNN end to end through the binary: a small CNN trains on the embedded digits, predicts
//! PNG digits written by the test, and a config whose input does not fit the data exits 2.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SMALL_CNN: &str = r#"
seed = 11
[model]
kind = "cnn"
preset = "custom"
input = [1, 28, 28]
hidden = [32]
blocks = [{ channels = 8, kernel = 3, pool = 2 }, { channels = 16, kernel = 3, pool = 2 }]
[data]
dataset = "mnist-10k"
[train]
epochs = 2
batch_size = 64
[optim]
lr = 0.003
"#;

fn kiln(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_small_cnn_trains_and_predicts_png_digits() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cnn.toml");
    std::fs::write(&config, SMALL_CNN).unwrap();
    let run = dir.path().join("run");
    let (code, _, stderr) = kiln(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "two epochs of a small CNN: {accuracy}");

    let (files, labels) = common::write_test_digits(dir.path(), 10);
    let mut args = vec!["predict", run.to_str().unwrap(), "--json"];
    args.extend(files.iter().map(String::as_str));
    let (code, stdout, stderr) = kiln(&args);
    assert_eq!(code, 0, "{stderr}");
    let predictions: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(predictions.len(), 10);
    let correct = predictions
        .iter()
        .enumerate()
        .filter(|(i, p)| p["top"][0]["class"] == labels[*i])
        .count();
    assert!(correct >= 8, "{correct}/10 PNG digits right: {stdout}");
    let top = predictions[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 3, "top-3 classes");
    assert!(top[0]["probability"].as_f64().unwrap() >= top[1]["probability"].as_f64().unwrap());

    let (code, stdout, _) = kiln(&["eval", run.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("precision") && run.join("confusion.png").is_file());

    let (code, _, stderr) = kiln(&[
        "predict",
        run.to_str().unwrap(),
        config.to_str().unwrap(),
        &files[0],
    ]);
    assert_eq!(code, 2, "a non-image among images: {stderr}");

    // The card measures accuracy under shifted inputs.
    let card: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model-card.json")).unwrap())
            .unwrap();
    let shifted = card["generalization"]["shifted"].as_array().unwrap();
    assert_eq!(shifted.len(), 9, "three strengths of three distortions");
    let at = |kind: &str, strength: f64| {
        shifted
            .iter()
            .find(|s| s["distortion"] == kind && s["strength"].as_f64() == Some(strength))
            .unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    assert!(at("rotation", 30.0) < at("rotation", 10.0), "{shifted:?}");
    assert!(at("noise", 0.4) < accuracy, "{shifted:?}");
    assert!(run.join("robustness.png").is_file());

    // Integrated gradients of a digit: complete to within 1%, with a heat map.
    let heat_maps = dir.path().join("maps");
    let (code, stdout, stderr) = kiln(&[
        "explain",
        run.to_str().unwrap(),
        &files[0],
        "--json",
        "--out",
        heat_maps.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let explained: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let gap = explained[0]["attribution"]["relative_gap"]
        .as_f64()
        .unwrap();
    assert!(gap < 0.01, "completeness gap of the CNN: {gap}");
    assert_eq!(
        explained[0]["attribution"]["values"]
            .as_array()
            .unwrap()
            .len(),
        784
    );
    let map = explained[0]["heat_map"].as_str().unwrap();
    assert!(Path::new(map).is_file() && map.starts_with(heat_maps.to_str().unwrap()));
}

#[test]
fn a_cnn_whose_input_does_not_fit_the_data_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cnn.toml");
    std::fs::write(&config, SMALL_CNN).unwrap();
    let out = dir.path().join("never");
    let (code, _, stderr) = kiln(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "model.input=[1, 32, 32]",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("model.input is [1, 32, 32]") && stderr.contains("[1, 28, 28]"),
        "{stderr}"
    );
    let (code, _, stderr) = kiln(&[
        "train",
        "cnn-mnist",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "data.dataset=iris",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("[4]"), "{stderr}");
    let tiny = SMALL_CNN.replace("kernel = 3, pool = 2 }]", "kernel = 15, pool = 2 }]");
    std::fs::write(&config, tiny).unwrap();
    let (code, _, stderr) = kiln(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("kernel 15x15 is larger"), "{stderr}");
    assert!(!stderr.contains("panicked"));
    assert!(!out.exists());
}
