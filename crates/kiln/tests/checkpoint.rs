//! Checkpoints through the binary: a `kiln train` child killed with SIGKILL at several moments
//! (inside epochs, during saves) and resumed ends with the same `weights_sha256` as a run that
//! never stopped; damaged checkpoint files are detected and skipped for the previous one.

mod common;

use std::path::{Path, PathBuf};

use common::checkpoints;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Batch norm, dropout, shuffling and a checkpoint every 3 steps: what exact resume must survive.
const CONFIG: &str = r#"
seed = 21
[model]
kind = "mlp"
hidden = [16]
dropout = 0.2
batch_norm = true
[data]
dataset = "iris"
valid_fraction = 0.2
[train]
epochs = 300
batch_size = 16
[optim]
name = "adam"
lr = 0.01
[checkpoint]
every_steps = 3
every_epochs = 1
keep_last = 3
"#;

fn kiln() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
    command.env("RUST_BACKTRACE", "0");
    command
}

fn train(config: &Path, out: &Path, resume: bool) -> std::process::Output {
    let mut command = kiln();
    command.args([
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    if resume {
        command.arg("--resume");
    }
    command.output().unwrap()
}

fn weights(run: &Path) -> String {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    summary["weights_sha256"].as_str().unwrap().to_string()
}

fn setup() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ckpt.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let reference = dir.path().join("reference");
    let out = train(&config, &reference, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = weights(&reference);
    (dir, config, hash)
}

#[test]
fn runs_killed_at_any_moment_resume_to_the_same_weights() {
    let (dir, config, reference) = setup();
    let mut resumed = 0;
    for (i, delay_ms) in [120u64, 300, 500, 800, 1100, 1500].into_iter().enumerate() {
        let out = dir.path().join(format!("killed-{i}"));
        let mut child = kiln()
            .args([
                "train",
                config.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if out.join("summary.json").exists() {
            assert_eq!(weights(&out), reference, "finished before the kill");
            continue;
        }
        let has_checkpoint = out.join("checkpoints").read_dir().is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("step-")))
        });
        if !has_checkpoint {
            continue; // killed before the first checkpoint: nothing to resume
        }
        let again = train(&config, &out, true);
        assert!(
            again.status.success(),
            "resume {i}: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            weights(&out),
            reference,
            "resumed after a kill at {delay_ms} ms"
        );
        resumed += 1;
    }
    assert!(
        resumed >= 3,
        "only {resumed} kills landed mid-training; the test needs a slower config"
    );
}

/// A named way to damage a file.
type Damage = (&'static str, fn(&Path));

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn damaged_checkpoint_files_are_detected_and_the_previous_one_is_used() {
    let (dir, config, reference) = setup();
    // A run stopped mid-way: keep its checkpoints, drop the finished model and summary.
    let base = dir.path().join("base");
    copy_dir(&dir.path().join("reference"), &base);
    std::fs::remove_file(base.join("summary.json")).unwrap();
    std::fs::remove_file(base.join("model.bpk")).unwrap();
    let damages: [Damage; 2] = [
        ("flip", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x5a;
            std::fs::write(p, bytes).unwrap();
        }),
        ("truncate", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() * 2 / 3]).unwrap();
        }),
    ];
    for file in ["model.bpk", "optimizer.bpk", "scheduler.bpk", "state.json"] {
        for (how, damage) in damages {
            let run = dir.path().join(format!("{how}-{file}"));
            copy_dir(&base, &run);
            let newest = checkpoints(&run).pop().unwrap();
            damage(&newest.join(file));
            let out = train(&config, &run, true);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{how} {file}: {stderr}");
            assert!(
                stderr.contains("warning: skipping checkpoint") && stderr.contains(file),
                "{how} {file}: {stderr}"
            );
            assert_eq!(
                weights(&run),
                reference,
                "{how} {file}: the previous checkpoint resumes exactly"
            );
        }
    }

    let ruined = dir.path().join("ruined");
    copy_dir(&base, &ruined);
    for checkpoint in checkpoints(&ruined) {
        std::fs::write(checkpoint.join("optimizer.bpk"), b"garbage").unwrap();
    }
    let out = train(&config, &ruined, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no valid checkpoint") && stderr.contains("checkpoints"),
        "{stderr}"
    );
}

#[test]
fn resume_refuses_a_changed_model_but_accepts_more_epochs_and_eval_reads_checkpoints() {
    let (dir, config, _) = setup();
    let run = dir.path().join("reference");
    let mut wider = kiln();
    wider.args([
        "train",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--resume",
        "--set",
        "model.hidden=[32]",
    ]);
    let out = wider.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only train.epochs may change"));

    let mut longer = kiln();
    longer.args([
        "train",
        config.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--resume",
        "--epochs",
        "305",
    ]);
    let out = longer.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    assert!(summary.contains("\"epochs\": 305"), "{summary}");

    let eval = |path: &std::path::Path| {
        let out = kiln()
            .args(["eval", path.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["accuracy"].as_f64().unwrap()
    };
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let tested = summary["test"]["accuracy"].as_f64().unwrap();
    assert_eq!(
        eval(&run),
        tested,
        "eval reproduces the run's test accuracy"
    );
    let mut all = checkpoints(&run);
    let newest = all.pop().unwrap();
    let oldest = all.first().unwrap().clone();
    let newest_accuracy = eval(&newest);
    assert!(
        newest_accuracy > 0.85,
        "the newest checkpoint's model learned: {newest_accuracy}"
    );
    let oldest_accuracy = eval(&oldest);
    assert!((0.0..=1.0).contains(&oldest_accuracy));
    assert_ne!(
        std::fs::read(newest.join("model.bpk")).unwrap(),
        std::fs::read(oldest.join("model.bpk")).unwrap(),
        "eval read two different checkpoints"
    );
}

#[test]
fn sigterm_saves_a_checkpoint_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ckpt.toml");
    std::fs::write(&config, CONFIG.replace("epochs = 300", "epochs = 100000")).unwrap();
    let out = dir.path().join("run");
    let child = kiln()
        .args([
            "train",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc_kill(child.id() as i32, 15) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("continue with --resume"));
    assert!(!checkpoints(&out).is_empty());
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
