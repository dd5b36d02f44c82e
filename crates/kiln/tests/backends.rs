//! The seed's config trains on every backend compiled into this build. CI builds with
//! `--features ndarray,wgpu` (wgpu on Mesa's lavapipe) to cover all three.

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
    line["backends compiled in:".len()..]
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

fn train(backend: &str, epochs: usize) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(backend);
    let status = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train",
            "fnn-breast-cancer",
            "--backend",
            backend,
            "--epochs",
            &epochs.to_string(),
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{backend}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
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
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
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
