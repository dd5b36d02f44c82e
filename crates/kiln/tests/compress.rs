//! `kiln compress` end to end: a pruned, fine-tuned and int8 run folder that eval, predict and
//! inspect read; a sparsity sweep with its picture; distillation from a teacher run; and bad
//! input refused with exit 2.

mod common;

use std::path::{Path, PathBuf};

use common::{Output, assert_bad_input, checkpoints, json, kiln};

use serde_json::Value;

/// An MLP on the embedded iris data, wide enough for int8 and pruning to matter.
const IRIS: &str = r#"
seed = 3
[model]
kind = "mlp"
hidden = [64, 64]
[data]
dataset = "iris"
valid_fraction = 0.2
[train]
epochs = 40
batch_size = 16
[optim]
name = "adam"
lr = 0.01
[checkpoint]
keep_last = 20
"#;

fn train(dir: &Path, name: &str, config: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let out = dir.join(name);
    let run = kiln(&[
        "train",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    out
}

/// Runs `kiln compress SOURCE FLAGS... --out OUT`.
fn compress(source: &Path, flags: &[&str], out: &Path) -> Output {
    let mut args = vec!["compress", source.to_str().unwrap()];
    args.extend_from_slice(flags);
    args.extend(["--out", out.to_str().unwrap()]);
    kiln(&args)
}

#[test]
fn a_pruned_fine_tuned_int8_run_is_an_ordinary_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let source = train(dir.path(), "iris", IRIS);
    let out = dir.path().join("compressed");
    let run = compress(
        &source,
        &[
            "--prune",
            "0.8",
            "--finetune-epochs",
            "15",
            "--finetune-lr",
            "0.005",
            "--quantize",
            "int8",
        ],
        &out,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&out.join("compress.json"));
    // The compressed run has its own model card, which says what was done.
    let card = json(&out.join("model-card.json"));
    let done = card["model_details"]["compressed"].as_str().unwrap();
    assert!(
        done.contains("pruned to 80% sparsity") && done.contains("int8"),
        "{done}"
    );
    assert_eq!(
        card["metrics"]["accuracy"]["estimate"], report["compressed"]["test_accuracy"],
        "the card measures the compressed model"
    );
    let (original, compressed) = (&report["original"], &report["compressed"]);
    for key in [
        "params",
        "nonzero_params",
        "file_bytes",
        "test_accuracy",
        "infer_samples_per_sec",
    ] {
        assert!(
            original[key].is_number() && compressed[key].is_number(),
            "{key}"
        );
    }
    let weights = 4 * 64 + 64 * 64 + 64 * 3;
    let biases = 64 + 64 + 3;
    assert_eq!(original["params"], weights + biases);
    // 80% of each layer's weights pruned (rounded per layer), biases kept.
    let kept = (256 - 205) + (4096 - 3277) + (192 - 154);
    assert_eq!(
        compressed["nonzero_params"].as_u64().unwrap(),
        (kept + biases) as u64
    );
    let ratio =
        compressed["file_bytes"].as_f64().unwrap() / original["file_bytes"].as_f64().unwrap();
    assert!(ratio < 0.4, "int8 file is {ratio} of the f32 one");
    let (before, after) = (
        original["test_accuracy"].as_f64().unwrap(),
        compressed["test_accuracy"].as_f64().unwrap(),
    );
    assert!(
        before >= 0.9 && after >= before - 0.1,
        "{before} -> {after}"
    );
    assert_eq!(
        report["per_class_accuracy_change"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let eval = kiln(&["eval", out.to_str().unwrap(), "--json"]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let e: Value = serde_json::from_str(&eval.stdout).unwrap();
    assert_eq!(
        e["accuracy"].as_f64().unwrap(),
        after,
        "eval reads the int8 model"
    );
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n").unwrap();
    let predict = kiln(&[
        "predict",
        out.to_str().unwrap(),
        rows.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let p: Value = serde_json::from_str(&predict.stdout).unwrap();
    assert_eq!(
        (p[0]["class"].clone(), p[1]["class"].clone()),
        (0.into(), 2.into())
    );
    let inspect = kiln(&["inspect", out.to_str().unwrap()]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    assert!(
        inspect.stdout.contains("int8 weights"),
        "{}",
        inspect.stdout
    );

    // summary.json keeps every key of the original's, with the compressed model's figures.
    let (s0, s1) = (
        json(&source.join("summary.json")),
        json(&out.join("summary.json")),
    );
    for key in s0.as_object().unwrap().keys() {
        assert!(s1.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(s1["test"]["accuracy"].as_f64().unwrap(), after);
    assert_eq!(s1["epochs"], 15);
    assert_ne!(s1["weights_sha256"], s0["weights_sha256"]);

    // A quantized run is neither trained further nor compressed again.
    let config = dir.path().join("iris.toml");
    let resume = kiln(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--resume",
    ]);
    assert_bad_input(&resume, "int8");
    let again = kiln(&["compress", out.to_str().unwrap(), "--prune", "0.9", "--out"]);
    assert_eq!(again.code, 2, "clap refuses a missing value");
    let target = dir.path().join("again");
    let again = compress(&out, &["--prune", "0.9"], &target);
    assert_bad_input(&again, "already int8");
}

#[test]
fn a_sweep_writes_one_run_per_sparsity_and_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let source = train(dir.path(), "iris", IRIS);
    let out = dir.path().join("sweep");
    let run = compress(&source, &["--sweep", "0.5,0.95"], &out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sweep = json(&out.join("sweep.json"));
    let points = sweep["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let nonzero: Vec<u64> = points
        .iter()
        .map(|p| p["nonzero_params"].as_u64().unwrap())
        .collect();
    assert!(nonzero[0] > nonzero[1], "{nonzero:?}");
    let png = std::fs::read(out.join("sweep.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let eval = kiln(&[
        "eval",
        out.join("sparsity-0.950").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let e: Value = serde_json::from_str(&eval.stdout).unwrap();
    assert_eq!(e["accuracy"], points[1]["test_accuracy"]);
}

#[test]
fn bad_compress_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let source = train(dir.path(), "iris", IRIS);
    let s = source.to_str().unwrap();
    let out = dir.path().join("x");
    let o = out.to_str().unwrap();
    assert_bad_input(
        &kiln(&["compress", s, "--prune", "1.0", "--out", o]),
        "[0, 1)",
    );
    assert_bad_input(
        &kiln(&["compress", s, "--prune", "-0.1", "--out", o]),
        "[0, 1)",
    );
    assert_bad_input(
        &kiln(&["compress", s, "--sweep", "0.5,1.5", "--out", o]),
        "[0, 1)",
    );
    assert_bad_input(&kiln(&["compress", s, "--out", o]), "nothing to do");
    assert_bad_input(
        &kiln(&[
            "compress", s, "--prune", "0.5", "--sweep", "0.5", "--out", o,
        ]),
        "exclude",
    );
    let missing = dir.path().join("missing");
    assert_bad_input(
        &kiln(&[
            "compress",
            missing.to_str().unwrap(),
            "--prune",
            "0.5",
            "--out",
            o,
        ]),
        "not a run folder",
    );
    // The source run is untouched by the refusals.
    assert!(!out.join("model.bpk").exists());
    assert_bad_input(
        &kiln(&["compress", s, "--prune", "0.5", "--out", s]),
        "already holds a trained run",
    );
    assert_eq!(kiln(&["eval", s]).code, 0);
}

#[test]
fn distillation_follows_the_teacher_and_refuses_one_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = train(dir.path(), "teacher", IRIS);
    let student = |alpha: f64, teacher: &Path| {
        format!(
            "{}\n[distill]\nteacher = {:?}\ntemperature = 3.0\nalpha = {alpha}\n",
            IRIS.replace("hidden = [64, 64]", "hidden = [4]"),
            teacher.to_str().unwrap()
        )
    };
    let alone = train(
        dir.path(),
        "alone",
        &IRIS.replace("hidden = [64, 64]", "hidden = [4]"),
    );
    let labels_only = train(dir.path(), "labels-only", &student(1.0, &teacher));
    let distilled = train(dir.path(), "distilled", &student(0.2, &teacher));
    let hash = |run: &Path| json(&run.join("summary.json"))["weights_sha256"].clone();
    assert_eq!(
        hash(&alone),
        hash(&labels_only),
        "alpha = 1 is training on the labels alone"
    );
    assert_ne!(
        hash(&alone),
        hash(&distilled),
        "the teacher's term changes training"
    );
    let config = std::fs::read_to_string(distilled.join("config.toml")).unwrap();
    assert!(config.contains("[distill]"), "{config}");

    // A teacher of another task, a folder that is not a run, a bad alpha: exit 2.
    let other = train(
        dir.path(),
        "other",
        &IRIS.replace("dataset = \"iris\"", "dataset = \"breast-cancer\""),
    );
    for (name, config, needle) in [
        ("mismatch", student(0.5, &other), "distill.teacher"),
        (
            "nowhere",
            student(0.5, &dir.path().join("nowhere")),
            "distill.teacher",
        ),
        ("alpha", student(1.5, &teacher), "distill.alpha"),
    ] {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, config).unwrap();
        let out = dir.path().join(name);
        let run = kiln(&[
            "train",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_bad_input(&run, needle);
        assert!(!out.join("model.bpk").exists());
    }
}

#[test]
fn structured_pruning_writes_a_smaller_model_of_the_same_kind() {
    let dir = tempfile::tempdir().unwrap();
    let source = train(dir.path(), "iris", IRIS);
    let out = dir.path().join("half");
    let run = compress(
        &source,
        &["--structured", "0.5", "--finetune-epochs", "10"],
        &out,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&out.join("compress.json"));
    let params = (4 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3);
    assert_eq!(report["compressed"]["params"], params);
    assert_eq!(
        report["compressed"]["nonzero_params"], params,
        "dense, not masked"
    );
    let accuracy = report["compressed"]["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.85, "{accuracy}");
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        config.contains("hidden = [\n    32,\n    32,\n]"),
        "{config}"
    );
    let eval = kiln(&["eval", out.to_str().unwrap(), "--json"]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let inspect = kiln(&["inspect", out.to_str().unwrap()]);
    assert!(
        inspect.stdout.contains("50% of the units removed"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn an_interrupted_fine_tuning_resumes_bit_for_bit_with_its_masks() {
    let dir = tempfile::tempdir().unwrap();
    let source = train(dir.path(), "iris", IRIS);
    let args = |out: &Path, resume: bool| {
        let mut args = vec![
            "compress".to_string(),
            source.display().to_string(),
            "--prune".into(),
            "0.8".into(),
            "--finetune-epochs".into(),
            "6".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        if resume {
            args.push("--resume".into());
        }
        args
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        kiln(&refs)
    };
    let whole = dir.path().join("whole");
    assert_eq!(run(args(&whole, false)).code, 0);
    let cut = dir.path().join("cut");
    assert_eq!(run(args(&cut, false)).code, 0);
    // Back to the end of epoch 2, in the middle of the pruning schedule (its first 4 epochs).
    let checkpoints = checkpoints(&cut);
    assert_eq!(
        checkpoints.len(),
        6,
        "one checkpoint an epoch: {checkpoints:?}"
    );
    for later in &checkpoints[2..] {
        std::fs::remove_dir_all(later).unwrap();
    }
    for file in ["model.bpk", "summary.json", "compress.json"] {
        std::fs::remove_file(cut.join(file)).unwrap();
    }
    let resumed = run(args(&cut, true));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("resuming the fine-tuning"),
        "{}",
        resumed.stderr
    );
    let hash = |run: &Path| json(&run.join("summary.json"))["weights_sha256"].clone();
    assert_eq!(hash(&whole), hash(&cut));
    let nonzero =
        |run: &Path| json(&run.join("compress.json"))["compressed"]["nonzero_params"].clone();
    assert_eq!(nonzero(&whole), nonzero(&cut));

    // Other options than the checkpoint's: refused.
    let mut other = args(&cut, true);
    other[3] = "0.5".into();
    assert_bad_input(&run(other), "other options");
}

#[test]
fn a_language_model_is_pruned_quantized_and_still_generates() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(
        &text,
        "to be or not to be, that is the question. ".repeat(60),
    )
    .unwrap();
    let config = format!(
        "seed = 4\n[model]\nkind = \"charlm\"\ncell = \"gru\"\nhidden = 32\nembedding = 8\n\
         [data]\ndataset = \"text\"\npath = {:?}\nvalid_fraction = 0.2\n[train]\nepochs = 15\nbatch_size = 4\n\
         seq_len = 20\n[optim]\nlr = 0.01\nclip_grad_norm = 1.0\n",
        text.to_str().unwrap()
    );
    let source = train(dir.path(), "lm", &config);
    let out = dir.path().join("lm-small");
    let run = compress(
        &source,
        &[
            "--prune",
            "0.5",
            "--finetune-epochs",
            "3",
            "--quantize",
            "int8",
        ],
        &out,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&out.join("compress.json"));
    let (before, after) = (
        report["original"]["bits_per_char"].as_f64().unwrap(),
        report["compressed"]["bits_per_char"].as_f64().unwrap(),
    );
    assert!(
        after < before + 0.5,
        "{before} -> {after} bits per character"
    );
    assert!(report["compressed"]["weight_sparsity"].as_f64().unwrap() >= 0.45);
    let s = json(&out.join("summary.json"));
    assert_eq!(s["test"]["bits_per_char"].as_f64().unwrap(), after);
    let eval = kiln(&["eval", out.to_str().unwrap(), "--json"]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let e: Value = serde_json::from_str(&eval.stdout).unwrap();
    assert!((e["bits_per_char"].as_f64().unwrap() - after).abs() < 1e-9);
    let generate = kiln(&[
        "generate",
        out.to_str().unwrap(),
        "--prompt",
        "to be",
        "--len",
        "20",
    ]);
    assert_eq!(generate.code, 0, "{}", generate.stderr);
    assert!(generate.stdout.starts_with("to be"), "{}", generate.stdout);
    let structured = kiln(&[
        "compress",
        source.to_str().unwrap(),
        "--structured",
        "0.5",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_bad_input(&structured, "not available for model kind charlm");
}
