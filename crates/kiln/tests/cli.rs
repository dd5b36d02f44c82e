//! End-to-end tests of the `kiln` binary: training writes a complete run folder, the run can be
//! evaluated, inspected and used for prediction, seeds make runs repeatable, and every kind of
//! bad input exits with code 2 and a clear one-line message, never a panic.

mod common;

use std::path::{Path, PathBuf};

use common::{Output, assert_bad_input, json, kiln, write};

use serde_json::Value;

/// A tiny, fast experiment on the embedded iris data.
const TINY: &str = r#"
seed = 7
[model]
kind = "mlp"
hidden = [8]
dropout = 0.1
batch_norm = true
[data]
dataset = "iris"
valid_fraction = 0.2
[train]
epochs = 30
batch_size = 16
[optim]
name = "adam"
lr = 0.05
"#;

fn train_tiny(dir: &Path, name: &str, extra: &[&str]) -> (Output, PathBuf) {
    let config = write(dir, "tiny.toml", TINY);
    let out = dir.join(name);
    let mut args = vec![
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (kiln(&args), out)
}

fn summary(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn train_writes_a_complete_run_folder_that_eval_predict_and_inspect_use() {
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = train_tiny(dir.path(), "run", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for file in [
        "config.toml",
        "metrics.csv",
        "model.bpk",
        "summary.json",
        "preprocess.json",
        "curves.png",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let s = summary(&run);
    for key in [
        "model",
        "backend",
        "precision",
        "epochs",
        "steps",
        "params",
        "seed",
        "train_seconds",
        "train_samples_per_sec",
        "test",
        "weights_sha256",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}: {s}");
    }
    assert_eq!(s["model"], "mlp");
    assert_eq!(s["backend"], "flex");
    assert_eq!(s["precision"], "f32");
    assert_eq!(s["seed"], 7);
    assert_eq!(s["epochs"], 30);
    assert_eq!(s["steps"], 30 * 6, "96 training rows in batches of 16");
    assert_eq!(s["weights_sha256"].as_str().unwrap().len(), 64);
    let accuracy = s["test"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy >= 0.85,
        "a tiny MLP learns iris: test accuracy {accuracy}"
    );
    assert!(s["test"]["loss"].as_f64().unwrap().is_finite());
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 31, "header + one row per epoch");

    let eval = kiln(&["eval", run.to_str().unwrap(), "--json"]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let e: Value = serde_json::from_str(&eval.stdout).unwrap();
    assert_eq!(
        e["accuracy"].as_f64().unwrap(),
        accuracy,
        "eval reproduces the run's test accuracy"
    );

    let rows = write(
        dir.path(),
        "rows.csv",
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
    );
    let predict = kiln(&[
        "predict",
        run.to_str().unwrap(),
        rows.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let p: Value = serde_json::from_str(&predict.stdout).unwrap();
    assert_eq!(p[0]["class"], 0, "a typical setosa");
    assert_eq!(p[1]["class"], 2, "a typical virginica");
    let total: f64 = p[0]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-4);

    let inspect = kiln(&["inspect", run.to_str().unwrap()]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    assert!(
        inspect
            .stdout
            .contains(&format!("{} parameters", s["params"])),
        "{}",
        inspect.stdout
    );

    // The model card: written by train, its numbers those of the run, written again the same.
    let card = json(&run.join("model-card.json"));
    let accuracy_interval = &card["metrics"]["accuracy"];
    assert_eq!(accuracy_interval["estimate"].as_f64().unwrap(), accuracy);
    assert!(accuracy_interval["lower"].as_f64().unwrap() <= accuracy);
    assert!(accuracy_interval["upper"].as_f64().unwrap() >= accuracy);
    assert_eq!(card["metrics"]["classes"].as_array().unwrap().len(), 3);
    assert_eq!(card["model_details"]["weights_sha256"], s["weights_sha256"]);
    let importance = card["feature_importance"].as_array().unwrap();
    assert_eq!(importance.len(), 4, "one per iris feature: {importance:?}");
    assert!(
        importance[0]["feature"]
            .as_str()
            .unwrap()
            .starts_with("petal"),
        "petals tell iris species apart: {importance:?}"
    );
    let markdown = std::fs::read_to_string(run.join("model-card.md")).unwrap();
    for section in [
        "## Model details",
        "## Intended use",
        "## Training and evaluation data",
        "## Metrics",
        "## Generalization",
        "## Feature importance",
        "## Training",
        "## Hardware",
        "## Caveats",
        "CC BY 4.0",
        "confusion.png",
    ] {
        assert!(markdown.contains(section), "model-card.md lacks {section}");
    }
    assert!(run.join("confusion.png").is_file() && run.join("reliability.png").is_file());
    let again = kiln(&["card", run.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let mut rewritten = json(&run.join("model-card.json"));
    let mut first = card.clone();
    for c in [&mut rewritten, &mut first] {
        c["model_details"]["date"] = Value::Null;
    }
    assert_eq!(rewritten, first, "the card is deterministic");

    // Integrated gradients of the rows: complete to within 1%, features ranked.
    let explain = kiln(&[
        "explain",
        run.to_str().unwrap(),
        rows.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    let e: Value = serde_json::from_str(&explain.stdout).unwrap();
    assert_eq!(e.as_array().unwrap().len(), 2);
    for row in e.as_array().unwrap() {
        let gap = row["attribution"]["relative_gap"].as_f64().unwrap();
        assert!(gap < 0.01, "completeness gap {gap}: {row}");
        assert_eq!(row["ranking"].as_array().unwrap().len(), 4);
        assert_eq!(row["attribution"]["values"].as_array().unwrap().len(), 4);
    }
    assert_eq!(e[1]["class"], 2, "explains the predicted class");
    assert_bad_input(
        &kiln(&[
            "explain",
            run.to_str().unwrap(),
            rows.to_str().unwrap(),
            "--class",
            "7",
        ]),
        "--class 7",
    );
    assert_bad_input(
        &kiln(&["eval", run.to_str().unwrap(), "--by", "sex"]),
        "keeps none",
    );
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let dir = tempfile::tempdir().unwrap();
    let hash = |name: &str, seed: &str| {
        let (out, run) = train_tiny(dir.path(), name, &["--seed", seed, "--epochs", "5"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        summary(&run)["weights_sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = hash("a", "3");
    assert_eq!(
        first,
        hash("b", "3"),
        "dropout, shuffling and batch norm are seeded"
    );
    assert_ne!(first, hash("c", "4"));
}

#[test]
fn overrides_and_shipped_configs_work() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("bc");
    let out = kiln(&[
        "train",
        "fnn-breast-cancer",
        "--out",
        out_dir.to_str().unwrap(),
        "--epochs",
        "3",
        "--set",
        "optim.lr=0.01",
        "--set",
        "model.hidden=[4]",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let resolved = std::fs::read_to_string(out_dir.join("config.toml")).unwrap();
    assert!(
        resolved.contains("lr = 0.01") && resolved.contains("hidden = [4]"),
        "{resolved}"
    );
    assert_eq!(summary(&out_dir)["params"], 30 * 4 + 4 + 4 + 1);
    let list = kiln(&["list"]);
    assert!(list.stdout.contains("fnn-breast-cancer") && list.stdout.contains("mlp-mnist"));
}

#[test]
fn bad_configs_and_options_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = |name: &str, text: &str| write(d, name, text).to_str().unwrap().to_string();
    let out = d.join("out");
    let out = out.to_str().unwrap();

    assert_bad_input(
        &kiln(&["train", "/nonexistent/x.toml"]),
        "/nonexistent/x.toml: config file not found",
    );
    let broken = cfg("broken.toml", "[model\nkind = 1");
    assert_bad_input(&kiln(&["train", &broken, "--out", out]), "broken.toml");
    let typo = cfg(
        "typo.toml",
        &TINY.replace("[optim]", "[optim]\nlearning_rate = 0.1"),
    );
    assert_bad_input(
        &kiln(&["train", &typo, "--out", out]),
        "unknown field `learning_rate`",
    );
    let tiny = cfg("tiny.toml", TINY);
    assert_bad_input(
        &kiln(&["train", &tiny, "--out", out, "--set", "optim.lr=5"]),
        "optim.lr must be in (0, 1]",
    );
    assert_bad_input(
        &kiln(&["train", &tiny, "--out", out, "--backend", "cuda"]),
        "unknown backend 'cuda'",
    );
    assert_bad_input(
        &kiln(&["train", &tiny, "--out", out, "--set", "model.input_size=5"]),
        "model.input_size is 5 but the data has 4 features",
    );
    assert_bad_input(
        &kiln(&["train", &tiny, "--out", out, "--set", "data.dataset=cifar"]),
        "not an embedded dataset",
    );
    assert!(!Path::new(out).exists(), "nothing is written for bad input");
    let usage = kiln(&["train"]);
    assert_eq!(usage.code, 2, "usage errors exit 2");
}

#[test]
fn a_backend_not_compiled_in_exits_2_and_lists_the_compiled_ones() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["ndarray", "wgpu"] {
        let compiled = kiln(&["list"])
            .stdout
            .lines()
            .last()
            .unwrap_or("")
            .contains(backend);
        if compiled {
            continue;
        }
        let (out, _) = train_tiny(dir.path(), backend, &["--backend", backend]);
        assert_bad_input(&out, "compiled in: flex");
    }
}

#[test]
fn bad_data_files_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tiny = write(d, "tiny.toml", TINY);
    let never = d.join("never-written");
    let train_on = |data: &Path, extra: &[&str]| {
        let out = if extra.contains(&"--out") {
            vec![]
        } else {
            vec!["--out", never.to_str().unwrap()]
        };
        let mut args = vec!["train", tiny.to_str().unwrap()];
        args.extend(out);
        let set = format!("data.path={}", data.display());
        args.extend_from_slice(&["--set", &set]);
        args.extend_from_slice(extra);
        kiln(&args)
    };
    assert_bad_input(
        &train_on(&d.join("missing.csv"), &[]),
        "missing.csv: file not found",
    );
    let csv = write(d, "bad.csv", "a,b,target\n1,2,0\n3,x,1\n");
    // Without data.categorical = [], column b would be detected as categorical.
    assert_bad_input(
        &train_on(&csv, &["--set", "data.categorical=[]"]),
        "bad.csv: line 3, column 'b': 'x' is not a number",
    );
    assert_bad_input(
        &train_on(&csv, &["--set", "data.target=label"]),
        "no target column 'label'",
    );
    let empty = write(d, "empty.csv", "a,target\n");
    assert_bad_input(&train_on(&empty, &[]), "empty.csv: dataset is empty");

    let idx = |magic: u32, dims: &[u32], payload: usize| {
        let mut bytes = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|v| bytes.extend(v.to_be_bytes()));
        bytes.extend(vec![1u8; payload]);
        bytes
    };
    let mnist = |name: &str, train_images: Vec<u8>| {
        let folder = d.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("train-images-idx3-ubyte"), train_images).unwrap();
        std::fs::write(folder.join("train-labels-idx1-ubyte"), idx(0x801, &[4], 4)).unwrap();
        std::fs::write(
            folder.join("t10k-images-idx3-ubyte"),
            idx(0x803, &[2, 2, 2], 8),
        )
        .unwrap();
        std::fs::write(folder.join("t10k-labels-idx1-ubyte"), idx(0x801, &[2], 2)).unwrap();
        folder
    };
    let good = mnist("good", idx(0x803, &[4, 2, 2], 16));
    let ok = train_on(
        &good,
        &[
            "--set",
            "data.valid_fraction=0.0",
            "--epochs",
            "1",
            "--out",
            d.join("ok").to_str().unwrap(),
        ],
    );
    assert_eq!(ok.code, 0, "a well-formed IDX folder trains: {}", ok.stderr);
    let magic = mnist("magic", idx(0x801, &[4], 4));
    assert_bad_input(
        &train_on(&magic, &[]),
        "train-images-idx3-ubyte: wrong IDX magic number 0x00000801",
    );
    let short = mnist("short", idx(0x803, &[4, 2, 2], 10));
    assert_bad_input(&train_on(&short, &[]), "train-images-idx3-ubyte: truncated");
    let count = mnist("count", idx(0x803, &[3, 2, 2], 12));
    assert_bad_input(&train_on(&count, &[]), "holds 3 images but");
    assert!(!never.exists(), "nothing is written for bad data");
}

#[test]
fn existing_runs_are_not_overwritten_and_unwritable_outputs_fail_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let (first, run) = train_tiny(dir.path(), "run", &["--epochs", "2"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = std::fs::read(run.join("model.bpk")).unwrap();
    let (again, _) = train_tiny(dir.path(), "run", &["--epochs", "2", "--seed", "99"]);
    assert_bad_input(&again, "already holds a trained run");
    assert_eq!(
        std::fs::read(run.join("model.bpk")).unwrap(),
        before,
        "the saved model is untouched"
    );

    let blocker = write(dir.path(), "a-file", "");
    let (out, _) = train_tiny(dir.path(), "a-file/run", &[]);
    assert_bad_input(&out, "output folder is not writable");
    assert!(blocker.is_file());
}

#[test]
fn bad_runs_and_prediction_inputs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = train_tiny(dir.path(), "run", &["--epochs", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run_s = run.to_str().unwrap();
    assert_bad_input(
        &kiln(&["eval", dir.path().to_str().unwrap()]),
        "not a run folder",
    );
    let wide = write(dir.path(), "wide.csv", "1,2,3,4,5\n");
    assert_bad_input(
        &kiln(&["predict", run_s, wide.to_str().unwrap()]),
        "line 1: 5 columns, expected 4",
    );
    let text = write(dir.path(), "text.csv", "1,2,3,4\n1,2,x,4\n");
    assert_bad_input(
        &kiln(&["predict", run_s, text.to_str().unwrap()]),
        "line 2: 'x' is not a number",
    );

    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    for entry in std::fs::read_dir(&run).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, corrupt.join(path.file_name().unwrap())).unwrap();
        }
    }
    let model = std::fs::read(corrupt.join("model.bpk")).unwrap();
    std::fs::write(corrupt.join("model.bpk"), &model[..model.len() / 2]).unwrap();
    assert_bad_input(
        &kiln(&["eval", corrupt.to_str().unwrap()]),
        "model.bpk: changed since training",
    );
    // The same file with one byte changed: same size, other weights, still refused.
    let mut flipped = model.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    std::fs::write(corrupt.join("model.bpk"), &flipped).unwrap();
    for command in ["eval", "inspect"] {
        assert_bad_input(
            &kiln(&[command, corrupt.to_str().unwrap()]),
            "model.bpk: changed since training",
        );
    }
    // The original bytes, recorded again, are accepted: the manifest is what decided.
    std::fs::write(corrupt.join("model.bpk"), &model).unwrap();
    kiln_experiment::manifest::Manifest::record(&corrupt, &["model.bpk"]).unwrap();
    assert_eq!(kiln(&["eval", corrupt.to_str().unwrap()]).code, 0);

    // preprocess.json whose statistics do not fit the model's 4 features.
    let preprocess = std::fs::read_to_string(corrupt.join("preprocess.json")).unwrap();
    let mut value: Value = serde_json::from_str(&preprocess).unwrap();
    value["mean"] = serde_json::json!([0.0, 0.0, 0.0]);
    value["std"] = serde_json::json!([1.0, 1.0, 1.0]);
    std::fs::write(corrupt.join("preprocess.json"), value.to_string()).unwrap();
    assert_bad_input(
        &kiln(&["predict", corrupt.to_str().unwrap(), text.to_str().unwrap()]),
        "preprocess.json: changed since training",
    );
    kiln_experiment::manifest::Manifest::record(&corrupt, &["preprocess.json"]).unwrap();
    assert_bad_input(
        &kiln(&["predict", corrupt.to_str().unwrap(), text.to_str().unwrap()]),
        "preprocess.json: 3 means and standard deviations for samples of 4 values",
    );
    std::fs::remove_file(corrupt.join("manifest.json")).unwrap();
    assert_bad_input(
        &kiln(&["eval", corrupt.to_str().unwrap()]),
        "manifest.json: cannot read",
    );
}

#[test]
fn absurd_sizes_tables_without_features_and_labels_beyond_the_model_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let never = d.join("never");
    let (out, _) = train_tiny(d, "huge", &["--set", "model.hidden=[100000000000]"]);
    assert_bad_input(&out, "parameters");
    assert!(out.stderr.contains("bytes"), "{}", out.stderr);

    let tiny = write(d, "tiny.toml", TINY);
    let only_target = write(d, "only-target.csv", "target\n0\n1\n0\n1\n");
    let set = format!("data.path={}", only_target.display());
    assert_bad_input(
        &kiln(&[
            "train",
            tiny.to_str().unwrap(),
            "--set",
            &set,
            "--out",
            never.to_str().unwrap(),
        ]),
        "only-target.csv: no feature columns",
    );
    assert!(!never.exists());

    // Trained on labels 0 and 1; the CSV changes afterwards to hold a label 5.
    let rows: String = (0..40)
        .map(|i| format!("{},{},{}\n", i % 7, (i * 3) % 5, i % 2))
        .collect();
    let csv = write(d, "two.csv", &format!("a,b,target\n{rows}"));
    let set = format!("data.path={}", csv.display());
    let run = d.join("two");
    let out = kiln(&[
        "train",
        tiny.to_str().unwrap(),
        "--set",
        &set,
        "--epochs",
        "2",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    write(
        d,
        "two.csv",
        &format!("a,b,target\n{}", rows.replace(",1\n", ",5\n")),
    );
    assert_bad_input(
        &kiln(&["eval", run.to_str().unwrap()]),
        "the data holds label 5, but the model predicts 2 classes",
    );
}

#[test]
fn predict_on_a_language_model_run_exits_2_and_points_to_generate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = write(d, "text.txt", &"abc abd abe ".repeat(40));
    let config = write(
        d,
        "lm.toml",
        &format!(
            "seed = 1\n[model]\nkind = \"charlm\"\ncell = \"gru\"\nhidden = 8\nembedding = 4\n\
             [data]\ndataset = \"text\"\npath = \"{}\"\nvalid_fraction = 0.2\n\
             [train]\nepochs = 1\nbatch_size = 2\nseq_len = 8\n",
            text.display()
        ),
    );
    let run = d.join("lm");
    let out = kiln(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = write(d, "rows.csv", "1,2\n");
    assert_bad_input(
        &kiln(&["predict", run.to_str().unwrap(), rows.to_str().unwrap()]),
        "use `kiln generate",
    );
    assert_bad_input(
        &kiln(&["explain", run.to_str().unwrap(), rows.to_str().unwrap()]),
        "takes tokens, not floats",
    );
    let card = json(&run.join("model-card.json"));
    assert!(card["bits_per_char"].as_f64().unwrap() > 0.0, "{card}");
    assert!(
        card["metrics"].is_null(),
        "no classifier metrics for a language model"
    );
}

#[test]
fn list_shows_every_model_kind_and_variant_of_the_registry() {
    let out = kiln(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut names = Vec::new();
    for info in kiln_zoo::KINDS.iter().map(|info| info()) {
        names.push(info.name.to_string());
        names.extend(info.variants.iter().map(|v| format!("\"{}\"", v.name)));
    }
    for expected in [
        "mlp",
        "linear",
        "cnn",
        "\"lenet\"",
        "\"resnet\"",
        "\"custom\"",
        "rnn",
        "\"elman\"",
        "\"lstm\"",
        "\"gru\"",
        "charlm",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "registry lacks {expected}"
        );
    }
    for name in names {
        assert!(
            out.stdout.contains(&name),
            "kiln list lacks {name}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn precision_flag_on_train_and_bench() {
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = train_tiny(
        dir.path(),
        "bf16",
        &["--precision", "bf16", "--epochs", "3"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(summary(&run)["precision"], "bf16");
    let (f32_out, f32_run) = train_tiny(dir.path(), "f32", &["--epochs", "3"]);
    assert_eq!(f32_out.code, 0, "{}", f32_out.stderr);
    assert_eq!(summary(&f32_run)["precision"], "f32");
    assert_ne!(
        summary(&run)["weights_sha256"],
        summary(&f32_run)["weights_sha256"],
        "bf16 computes otherwise"
    );
    let (bad, _) = train_tiny(dir.path(), "f64", &["--precision", "f64"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("f64"), "{}", bad.stderr);

    let config = dir.path().join("tiny.toml");
    let json = dir.path().join("bench.json");
    let out = kiln(&[
        "bench",
        config.to_str().unwrap(),
        "--precision",
        "f16",
        "--steps",
        "10",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(report["precision"], "f16");
    assert!(report["train_samples_per_sec"].as_f64().unwrap() > 0.0);
}
