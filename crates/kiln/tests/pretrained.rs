//! Pretrained models by name: predict, eval and inspect with no training and no run folder,
//! `kiln list`'s table, an unknown name, and the weights' provenance.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `kiln ARGS...` in `dir` with its own pretrained cache: (exit code, stdout, stderr).
fn kiln_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .env("KILN_CACHE", dir.join("cache"))
        .output()
        .expect("kiln runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn shipped_summary(name: &str) -> Value {
    let model = kiln_pretrained::find(name).unwrap();
    let bytes = model.file("summary.json").unwrap();
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn cnn_mnist_predicts_evaluates_and_inspects_by_name_in_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (files, labels) = common::write_test_digits(dir.path(), 20);
    let mut args = vec!["predict", "cnn-mnist", "--json"];
    args.extend(files.iter().map(String::as_str));
    let (code, stdout, stderr) = kiln_in(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    let predictions: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let correct = predictions
        .iter()
        .enumerate()
        .filter(|(i, p)| p["top"][0]["class"] == labels[*i])
        .count();
    assert!(correct >= 19, "{correct}/20 test digits right: {stdout}");
    assert!(!dir.path().join("runs").exists(), "nothing trained");

    let (code, stdout, stderr) = kiln_in(dir.path(), &["eval", "cnn-mnist", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let eval: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        eval["accuracy"],
        shipped_summary("cnn-mnist")["test"]["accuracy"]
    );

    let (code, stdout, stderr) =
        kiln_in(dir.path(), &["explain", "cnn-mnist", &files[0], "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let explained: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert!(
        explained[0]["attribution"]["relative_gap"]
            .as_f64()
            .unwrap()
            < 0.01
    );
    assert!(
        dir.path().join("explanations").read_dir().unwrap().count() == 1,
        "heat map here"
    );

    let (code, stdout, stderr) = kiln_in(dir.path(), &["inspect", "cnn-mnist"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("225034 parameters"), "{stdout}");

    let (code, stdout, _) = kiln_in(dir.path(), &["list"]);
    assert_eq!(code, 0);
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("cnn-mnist ") && l.contains("KiB"));
    assert!(row.is_some_and(|r| r.contains("0.9855")), "{stdout}");

    let (code, stdout, _) = kiln_in(dir.path(), &["list", "--json"]);
    assert_eq!(code, 0);
    let table: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let cnn = table.iter().find(|r| r["name"] == "cnn-mnist").unwrap();
    assert_eq!(
        cnn["weights_sha256"],
        shipped_summary("cnn-mnist")["weights_sha256"]
    );
    assert_eq!(cnn["params"], 225034);

    // The library's way: the model ready for inference.
    let run = kiln_experiment::pretrained("fnn-iris", None).unwrap();
    let classes = run.classify(vec![5.1, 3.5, 1.4, 0.2]).unwrap();
    assert_eq!(classes[0].0, 0, "a typical setosa");

    let (code, _, stderr) = kiln_in(dir.path(), &["predict", "cnn-cifar", &files[0]]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("neither a run folder nor a pretrained model")
            && stderr.contains("cnn-mnist, lstm-seqmnist"),
        "{stderr}"
    );
}

/// The widest vector extension of this CPU, as the model card names it.
fn vector_extensions() -> String {
    kiln_experiment::card::Hardware::of_this_machine("", "").vector_extensions
}

#[test]
fn retraining_the_cheap_configs_gives_the_shipped_weights() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["fnn-breast-cancer", "fnn-iris", "fnn-adult", "dp-adult"] {
        let model = kiln_pretrained::find(name).unwrap();
        let card: Value = serde_json::from_slice(model.file("model-card.json").unwrap()).unwrap();
        let made_on = card["hardware"]["vector_extensions"]
            .as_str()
            .unwrap()
            .to_string();
        let out = dir.path().join(name);
        let o = common::kiln(&["train", name, "--out", out.to_str().unwrap(), "--no-card"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let retrained = common::json(&out.join("summary.json"))["weights_sha256"].clone();
        let shipped = shipped_summary(name)["weights_sha256"].clone();
        if made_on != vector_extensions() && retrained != shipped {
            eprintln!(
                "skipped {name}: the weights were made on a CPU with {made_on}, this one has {}; its matrix kernels sum in another order",
                vector_extensions()
            );
            continue;
        }
        assert_eq!(
            retrained, shipped,
            "{name}: kiln train {name} gives the shipped weights"
        );
    }
}

/// The two models that ship beside the cheap ones: the ResNet preset and the character language
/// model (in its own crate, kiln-pretrained-charlm), used by name in an empty folder.
#[test]
fn resnet_mnist_and_char_shakespeare_work_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = kiln_in(dir.path(), &["inspect", "resnet-mnist"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("290730") || out.contains("290,730"), "{out}");
    let (code, text, err) = kiln_in(
        dir.path(),
        &[
            "generate",
            "char-shakespeare",
            "--prompt",
            "ROMEO",
            "--len",
            "80",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        text.starts_with("ROMEO") && text.chars().count() >= 80,
        "{text}"
    );
    let bpc = shipped_summary("char-shakespeare")["test"]["bits_per_char"]
        .as_f64()
        .unwrap();
    assert!(bpc <= 2.0, "shipped bits per character {bpc}");
    let (code, table, err) = kiln_in(dir.path(), &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("char-shakespeare") && table.contains("bpc"),
        "{table}"
    );
}
