//! `kiln export` and `kiln import`: the exported safetensors (PyTorch's layout) give Kiln's
//! logits in a numpy forward pass outside Kiln, import gives back the same weights, and files
//! that do not fit are refused.
//!
//! The numpy checks need `python3` with numpy and safetensors (CI installs them with pip).
//! Without them they say "skipped" on stderr, unless `KILN_REQUIRE_PYTHON=1`, where they fail.

mod common;

use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use common::{assert_bad_input, json, kiln};

/// Whether `python3` can import `modules`; panics under `KILN_REQUIRE_PYTHON=1` when not.
fn python_has(modules: &[&str]) -> bool {
    let script = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = Command::new("python3")
        .args(["-c", &script])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("KILN_REQUIRE_PYTHON").is_none(),
            "KILN_REQUIRE_PYTHON is set but python3 cannot import {modules:?}"
        );
        eprintln!(
            "skipped: python3 cannot import {modules:?} (pip install {})",
            modules.join(" ")
        );
    }
    ok
}

/// Deterministic inputs in about [-1.5, 2.5): `rows` samples of `size` values.
fn inputs(rows: usize, size: usize) -> Vec<Vec<f32>> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..rows)
        .map(|_| {
            (0..size)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 1.5
                })
                .collect()
        })
        .collect()
}

/// Kiln's logits of a run for `rows` (flattened, standardised samples).
fn kiln_logits(run_dir: &Path, rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let run = kiln_experiment::load_run(run_dir, None).unwrap();
    let size = rows[0].len();
    let flat: Vec<f32> = rows.concat();
    let x = Tensor::<2>::from_data(TensorData::new(flat, [rows.len(), size]), &run.device);
    let logits = run.model.logits(x);
    let [_, classes] = logits.dims();
    let values = logits.into_data().try_to_vec::<f32>().unwrap();
    values.chunks(classes).map(<[f32]>::to_vec).collect()
}

/// Runs `script ARGS...` and parses its JSON output.
fn python(script: &str, args: &[&Path]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_close(name: &str, ours: &[Vec<f32>], theirs: &serde_json::Value, tolerance: f64) {
    let theirs = theirs["logits"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    let mut worst = 0f64;
    for (a, b) in ours.iter().zip(theirs) {
        for (x, y) in a.iter().zip(b.as_array().unwrap()) {
            let y = y.as_f64().unwrap();
            worst = worst.max((*x as f64 - y).abs() / y.abs().max(1.0));
        }
    }
    eprintln!("{name}: worst relative difference {worst:.2e}");
    assert!(worst <= tolerance, "{name}: {worst:e} > {tolerance:e}");
}

fn run_dir_of(name: &str) -> std::path::PathBuf {
    kiln_experiment::pretrained::pretrained_dir(name).unwrap()
}

#[test]
fn exported_mlp_and_cnn_give_kilns_logits_in_numpy_and_import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for (name, size) in [
        ("cnn-mnist", 28 * 28),
        ("fnn-breast-cancer", 30),
        ("fnn-adult", 84),
    ] {
        let out = dir.path().join(name);
        let o = kiln(&[
            "export",
            name,
            "--format",
            "pytorch-module",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        for file in [
            "model.safetensors",
            "model.py",
            "preprocessing.json",
            "architecture.json",
        ] {
            assert!(out.join(file).is_file(), "{name}: {file}");
        }
        let run_dir = run_dir_of(name);
        let rows = inputs(8, size);
        if python_has(&["numpy", "safetensors"]) {
            let input_file = dir.path().join(format!("{name}-inputs.json"));
            std::fs::write(
                &input_file,
                serde_json::json!({ "inputs": rows }).to_string(),
            )
            .unwrap();
            let theirs = python("numpy_forward.py", &[&out, &input_file]);
            assert_close(
                &format!("numpy {name}"),
                &kiln_logits(&run_dir, &rows),
                &theirs,
                1e-5,
            );
        }
        // Import of the export gives back the very same weights.
        let imported = dir.path().join(format!("{name}-imported"));
        let o = kiln(&[
            "import",
            out.join("model.safetensors").to_str().unwrap(),
            "--config",
            run_dir.join("config.toml").to_str().unwrap(),
            "--out",
            imported.to_str().unwrap(),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let shipped = json(&run_dir.join("summary.json"));
        let summary = json(&imported.join("summary.json"));
        assert_eq!(
            summary["weights_sha256"], shipped["weights_sha256"],
            "{name}"
        );
        assert_eq!(
            summary["test"]["accuracy"], shipped["test"]["accuracy"],
            "{name}"
        );
        assert_eq!(summary["epochs"], 0);
        assert!(
            summary["imported_from"]
                .as_str()
                .unwrap()
                .ends_with("model.safetensors")
        );
        assert!(imported.join("model-card.md").is_file());
        // model.py is at least valid Python (PyTorch itself is not installed here).
        let compiled = Command::new("python3")
            .args(["-m", "py_compile", out.join("model.py").to_str().unwrap()])
            .status();
        if let Ok(status) = compiled {
            assert!(status.success(), "{name}: model.py does not compile");
        }
    }
}

#[test]
fn an_imported_run_is_evaluated_exported_and_fine_tuned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iris.safetensors");
    let o = kiln(&["export", "fnn-iris", "--out", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let run = dir.path().join("run");
    let o = kiln(&[
        "import",
        file.to_str().unwrap(),
        "--config",
        "fnn-iris",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = kiln(&["eval", run.to_str().unwrap(), "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let again = dir.path().join("again.safetensors");
    let o = kiln(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // The same tensors; the header names the run.
    let tensors = |p: &Path| kiln_interop_tensors(p);
    assert_eq!(tensors(&file), tensors(&again));
    // Fine-tuning starts from the imported weights: its first epoch is already trained.
    let tuned = dir.path().join("tuned");
    let o = kiln(&[
        "train",
        "fnn-iris",
        "--init",
        run.to_str().unwrap(),
        "--epochs",
        "1",
        "--no-card",
        "--out",
        tuned.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let fresh = dir.path().join("fresh");
    let o = kiln(&[
        "train",
        "fnn-iris",
        "--epochs",
        "1",
        "--no-card",
        "--out",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let loss = |p: &Path| {
        json(&p.join("summary.json"))["train"]["loss"]
            .as_f64()
            .unwrap()
    };
    assert!(
        loss(&tuned) < 0.5 * loss(&fresh),
        "{} vs {}",
        loss(&tuned),
        loss(&fresh)
    );
}

fn kiln_interop_tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    kiln_interop::read_state_dict(path)
        .unwrap()
        .into_values()
        .map(|t| (t.name, t.shape, t.values))
        .collect()
}

#[test]
fn state_dicts_that_do_not_fit_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iris.safetensors");
    assert_eq!(
        kiln(&["export", "fnn-iris", "--out", file.to_str().unwrap()]).code,
        0
    );
    let run = dir.path().join("run");
    // The MLP's weights for the CNN's config.
    let o = kiln(&[
        "import",
        file.to_str().unwrap(),
        "--config",
        "cnn-mnist",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "missing tensors: blocks.0.conv.bias");
    assert!(
        o.stderr
            .contains("wrong shapes: hidden.0.bias is [16], the model needs [128]"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("iris.safetensors"), "{}", o.stderr);
    assert!(!run.exists());
    // A wider hidden layer than the file's.
    let o = kiln(&[
        "import",
        file.to_str().unwrap(),
        "--config",
        "fnn-iris",
        "--set",
        "model.hidden=[12]",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "wrong shapes: hidden.0.bias is [");
    assert!(!run.exists());
    // A truncated file.
    let o = import_truncated(&file, "cut.safetensors", 2, &run);
    assert_bad_input(&o, "cut.safetensors");
    assert!(!run.exists());
    // An export over an existing file, an unknown format, an unknown name.
    assert_bad_input(
        &kiln(&["export", "fnn-iris", "--out", file.to_str().unwrap()]),
        "already exists",
    );
    let o = kiln(&["export", "fnn-iris", "--format", "tflite", "--out", "x"]);
    assert_bad_input(&o, "unknown export format");
    assert_bad_input(
        &kiln(&["export", "no-such-model", "--out", "x"]),
        "pretrained: ",
    );
    // A kind no format holds: the scattering network (dp-mnist), named with what it lacks.
    for format in ["safetensors", "pytorch-module", "onnx"] {
        let out = dir.path().join(format!("dp-mnist-{format}"));
        let o = kiln(&[
            "export",
            "dp-mnist",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_bad_input(&o, "scattering");
        assert!(!out.exists(), "{format}: nothing is written");
    }
}

#[test]
fn onnx_exports_run_in_onnxruntime_with_kilns_logits() {
    let dir = tempfile::tempdir().unwrap();
    // (name, sample size, extra export flags, inputs)
    let cases: [(&str, usize, &[&str], usize); 4] = [
        ("cnn-mnist", 28 * 28, &[], 8),
        ("fnn-breast-cancer", 30, &[], 8),
        ("lstm-seqmnist", 28 * 28, &[], 3),
        ("gru-seqmnist", 28 * 28, &["--batch", "3"], 3),
    ];
    let runtime = python_has(&["numpy", "onnxruntime"]);
    for (name, size, flags, count) in cases {
        let file = dir.path().join(format!("{name}.onnx"));
        let mut args = vec![
            "export",
            name,
            "--format",
            "onnx",
            "--out",
            file.to_str().unwrap(),
        ];
        args.extend(flags);
        let o = kiln(&args);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        if !runtime {
            continue;
        }
        let rows = inputs(count, size);
        let input_file = dir.path().join(format!("{name}-inputs.json"));
        std::fs::write(
            &input_file,
            serde_json::json!({ "inputs": rows }).to_string(),
        )
        .unwrap();
        let theirs = python("onnx_forward.py", &[&file, &input_file]);
        assert_close(
            &format!("onnxruntime {name}"),
            &kiln_logits(&run_dir_of(name), &rows),
            &theirs,
            1e-4,
        );
        let batch = theirs["input_shape"][0].as_str().unwrap().to_string();
        match name {
            "lstm-seqmnist" => assert_eq!(batch, "1"),
            "gru-seqmnist" => assert_eq!(batch, "3"),
            _ => assert_eq!(batch, "batch", "{name}: a dynamic batch axis"),
        }
    }
    // The Elman layer transposes its weights, which burn-onnx 0.22 cannot lower yet.
    let file = dir.path().join("rnn.onnx");
    let o = kiln(&[
        "export",
        "rnn-seqmnist",
        "--format",
        "onnx",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "cannot lower operation");
    assert!(o.stderr.contains("SwapDims"), "{}", o.stderr);
    assert!(!file.exists());
}

#[test]
fn a_pytorch_pt_file_imports_with_the_same_weights() {
    if !python_has(&["numpy", "safetensors"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("iris.safetensors");
    assert_eq!(
        kiln(&["export", "fnn-iris", "--out", st.to_str().unwrap()]).code,
        0
    );
    // torch.save's zip layout and pickle, written without PyTorch (tests/python/write_pt.py).
    let pt = dir.path().join("iris.pt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/write_pt.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(&st)
        .arg(&pt)
        .status()
        .unwrap();
    assert!(status.success());
    let run = dir.path().join("run");
    let o = kiln(&[
        "import",
        pt.to_str().unwrap(),
        "--config",
        "fnn-iris",
        "--no-card",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let shipped = json(&run_dir_of("fnn-iris").join("summary.json"));
    assert_eq!(
        json(&run.join("summary.json"))["weights_sha256"],
        shipped["weights_sha256"]
    );
    // A damaged pickle is refused naming the file.
    let o = import_truncated(&pt, "cut.pt", 3, &run);
    common::assert_bad_input(&o, "cut.pt");
}

/// `kiln import` of the first 1/`divisor` of `file` (copied beside it as `name`) into `run`,
/// with fnn-iris's config.
fn import_truncated(file: &Path, name: &str, divisor: usize, run: &Path) -> common::Output {
    let bytes = std::fs::read(file).unwrap();
    let cut = file.with_file_name(name);
    std::fs::write(&cut, &bytes[..bytes.len() / divisor]).unwrap();
    kiln(&[
        "import",
        cut.to_str().unwrap(),
        "--config",
        "fnn-iris",
        "--out",
        run.to_str().unwrap(),
    ])
}
