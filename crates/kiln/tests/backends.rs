//! The seed's config (and the fused CNN and LSTM) train on every backend compiled into this
//! build. CI builds with `--features ndarray,wgpu` (wgpu on Mesa's lavapipe) to cover all three.

mod common;

use std::process::Command;

use serde_json::Value;

fn compiled_backends() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("list")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("backends compiled in:"))
        .unwrap()
        .to_string();
    let compiled: Vec<String> = line["backends compiled in:".len()..]
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    for backend in ["flex", "ndarray", "wgpu"] {
        if !compiled.iter().any(|b| b == backend) {
            eprintln!(
                "skipped on {backend}: not compiled in (CI builds with --features ndarray,wgpu)"
            );
        }
    }
    compiled
}

/// Runs `kiln train CONFIG --backend B --epochs N [ARGS...]` into a fresh folder and returns
/// the folder (kept alive by the returned guard) after checking that it succeeded.
fn train_run(
    config: &str,
    backend: &str,
    epochs: usize,
    args: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(backend);
    let status = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["train", config, "--backend", backend, "--epochs"])
        .arg(epochs.to_string())
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{config} on {backend}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    (dir, out)
}

/// The summary of a run folder.
fn summary(out: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// Trains the seed network on `backend`, checks that its loss falls and returns its summary.
fn train(backend: &str, epochs: usize) -> Value {
    let (_dir, out) = train_run("fnn-breast-cancer", backend, epochs, &[]);
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let losses: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.9),
        "{backend}: loss falls: {losses:?}"
    );
    summary(&out)
}

#[test]
fn the_seed_network_trains_on_every_compiled_cpu_backend() {
    for backend in compiled_backends().iter().filter(|b| *b != "wgpu") {
        let summary = train(backend, 1000);
        assert_eq!(summary["backend"], backend.as_str());
        let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
        assert!(accuracy >= 0.95, "{backend}: test accuracy {accuracy}");
    }
}

#[test]
fn a_few_steps_on_wgpu_lower_the_loss() {
    if !compiled_backends().iter().any(|b| b == "wgpu") {
        eprintln!("wgpu is not compiled in (build with --features wgpu); nothing to check");
        return;
    }
    let summary = train("wgpu", 20);
    assert_eq!(summary["backend"], "wgpu");
    assert_eq!(summary["steps"], 20);
}

/// Removes the newest checkpoints (and the finished model) so that `--resume` has to continue
/// from a checkpoint written inside an epoch.
fn rewind(run: &std::path::Path, keep: usize) {
    for dir in common::checkpoints(run).iter().skip(keep) {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::remove_file(run.join("summary.json")).unwrap();
}

#[test]
fn resume_is_bit_exact_on_every_compiled_cpu_backend() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("resume.toml");
    std::fs::write(
        &config,
        "seed = 5\n[model]\nkind = \"mlp\"\nhidden = [16]\ndropout = 0.2\nbatch_norm = true\n\
         [data]\ndataset = \"iris\"\n[train]\nepochs = 6\nbatch_size = 16\n\
         [checkpoint]\nevery_steps = 4\nkeep_last = 100\n",
    )
    .unwrap();
    for backend in compiled_backends().iter().filter(|b| *b != "wgpu") {
        let run = |out: &std::path::Path, resume: bool| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
            command
                .args(["train", config.to_str().unwrap(), "--backend", backend])
                .arg("--out")
                .arg(out);
            if resume {
                command.arg("--resume");
            }
            let output = command.output().unwrap();
            assert!(
                output.status.success(),
                "{backend}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let summary: Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                    .unwrap();
            summary["weights_sha256"].as_str().unwrap().to_string()
        };
        let out = dir.path().join(backend);
        let reference = run(&out, false);
        // 120 iris rows in batches of 16: 8 steps an epoch; checkpoints at steps 4, 8 (epoch end),
        // 12, ...: the third is inside epoch 2.
        rewind(&out, 3);
        assert_eq!(
            run(&out, true),
            reference,
            "{backend}: resumed run equals the uninterrupted one"
        );
    }
}

#[test]
fn mixed_precision_trains_where_the_backend_can_and_exits_2_where_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    for backend in compiled_backends() {
        for precision in ["f16", "bf16"] {
            let out = dir.path().join(format!("{backend}-{precision}"));
            let output = Command::new(env!("CARGO_BIN_EXE_kiln"))
                .args([
                    "train",
                    "fnn-breast-cancer",
                    "--backend",
                    &backend,
                    "--epochs",
                    "30",
                ])
                .args(["--set", &format!("train.precision={precision}")])
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            // flex computes in both; ndarray has no half types; wgpu computes in f16 on lavapipe,
            // and in bf16 only where the adapter reports it (Mesa versions differ).
            let must_refuse = backend == "ndarray";
            let may_refuse = backend == "wgpu" && precision == "bf16";
            if must_refuse || (may_refuse && output.status.code() == Some(2)) {
                assert_eq!(
                    output.status.code(),
                    Some(2),
                    "{backend} {precision}: {stderr}"
                );
                assert!(
                    stderr.contains("cannot compute in"),
                    "{backend} {precision}: {stderr}"
                );
                assert!(!out.join("summary.json").exists(), "nothing trained");
                eprintln!("{backend} {precision}: refused (exit 2), as the device reports");
                continue;
            }
            assert!(output.status.success(), "{backend} {precision}: {stderr}");
            let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
            let losses: Vec<f64> = metrics
                .lines()
                .skip(1)
                .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
                .collect();
            assert!(
                losses[29] < losses[0] * 0.9,
                "{backend} {precision}: loss falls: {losses:?}"
            );
            let summary: Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                    .unwrap();
            assert_eq!(summary["precision"], precision);
            assert_eq!(
                summary["loss_scale"].is_object(),
                precision == "f16",
                "{summary}"
            );
        }
    }
    // Kiln's LSTM runs in f16 too (a tiny model, a few steps), on the default backend.
    let rnn_out = dir.path().join("lstm-f16");
    let rnn = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["train", "lstm-seqmnist", "--epochs", "1"])
        .args(["--set", "train.precision=f16", "--set", "model.hidden=16"])
        .arg("--out")
        .arg(&rnn_out)
        .output()
        .unwrap();
    assert!(
        rnn.status.success(),
        "{}",
        String::from_utf8_lossy(&rnn.stderr)
    );
}

#[test]
fn f16_training_resumes_bit_exactly_with_its_loss_scaler() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("f16.toml");
    std::fs::write(
        &config,
        "seed = 9\n[model]\nkind = \"mlp\"\nhidden = [16]\ndropout = 0.1\nbatch_norm = true\n[data]\ndataset = \"iris\"\n\
         [train]\nepochs = 6\nbatch_size = 16\nprecision = \"f16\"\n[loss_scale]\ngrowth_interval = 5\n\
         [checkpoint]\nevery_steps = 4\nkeep_last = 100\n",
    )
    .unwrap();
    let run = |out: &std::path::Path, resume: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        command
            .args(["train", config.to_str().unwrap(), "--backend", "flex"])
            .arg("--out")
            .arg(out);
        if resume {
            command.arg("--resume");
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        (
            summary["weights_sha256"].clone(),
            summary["loss_scale"].clone(),
        )
    };
    let out = dir.path().join("run");
    let reference = run(&out, false);
    assert!(
        reference.1["final"].as_f64().unwrap() > 65536.0,
        "the scale grew: {}",
        reference.1
    );
    rewind(&out, 3);
    assert_eq!(
        run(&out, true),
        reference,
        "weights and scaler state after resume"
    );
}

/// Trains a shipped `config` for `epochs` on `backend` (no augmentation) and returns its summary.
fn train_config(config: &str, backend: &str, epochs: usize) -> Value {
    let no_augmentation = [
        "--set",
        "data.augment_shift=0",
        "--set",
        "data.augment_rotation=0",
    ];
    let (_dir, out) = train_run(config, backend, epochs, &no_augmentation);
    summary(&out)
}

/// The fused kernels (the CNN's conv blocks, the LSTM's input projection and time loop) run on
/// every CPU backend compiled in, learn there, and agree: one epoch of each reference model
/// reaches about the same test accuracy on each backend.
#[test]
fn the_fused_cnn_and_lstm_learn_alike_on_every_compiled_cpu_backend() {
    for (config, floor) in [("cnn-mnist", 0.9), ("lstm-seqmnist", 0.5)] {
        let accuracies: Vec<(String, f64)> = compiled_backends()
            .into_iter()
            .filter(|b| b != "wgpu")
            .map(|backend| {
                let summary = train_config(config, &backend, 1);
                let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
                (backend, accuracy)
            })
            .collect();
        for (backend, accuracy) in &accuracies {
            assert!(*accuracy > floor, "{config} on {backend}: {accuracy}");
            let first = accuracies[0].1;
            assert!(
                (accuracy - first).abs() < 0.02,
                "{config}: {backend} {accuracy} against {} {first}",
                accuracies[0].0
            );
        }
    }
}
