//! `kiln privacy epsilon | noise` give Opacus's answers and refuse values out of range.

mod common;

use common::{assert_bad_input, kiln};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let out = kiln(args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn epsilon_and_noise_equal_opacus() {
    let spent = json(&[
        "privacy",
        "epsilon",
        "--sample-rate",
        "0.04",
        "--noise-multiplier",
        "1.5",
        "--steps",
        "2250",
        "--delta",
        "1e-5",
        "--json",
    ]);
    let eps = spent["epsilon"].as_f64().unwrap();
    assert!(
        ((eps - 7.3291111714386545) / 7.3291111714386545).abs() < 1e-9,
        "{eps}"
    );
    assert_eq!(spent["order"], 3.9);
    let noise = json(&[
        "privacy",
        "noise",
        "--target-epsilon",
        "3",
        "--sample-rate",
        "0.004266666666666667",
        "--epochs",
        "60",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert_eq!(noise["noise_multiplier"], 1.015625);
    assert!(noise["epsilon"].as_f64().unwrap() <= 3.0);
    let text = kiln(&[
        "privacy",
        "epsilon",
        "--sample-rate",
        "0.01",
        "--noise-multiplier",
        "1",
        "--steps",
        "1000",
        "--delta",
        "1e-5",
    ]);
    assert!(
        text.stdout.contains("epsilon 2.10136527164"),
        "{}",
        text.stdout
    );
}

#[test]
fn values_out_of_range_exit_2() {
    let epsilon = |q: &str, sigma: &str, delta: &str| {
        kiln(&[
            "privacy",
            "epsilon",
            "--sample-rate",
            q,
            "--noise-multiplier",
            sigma,
            "--steps",
            "10",
            "--delta",
            delta,
        ])
    };
    assert_bad_input(&epsilon("0.01", "1", "0"), "delta");
    assert_bad_input(&epsilon("0.01", "1", "1"), "delta");
    assert_bad_input(&epsilon("0", "1", "1e-5"), "sample rate");
    assert_bad_input(&epsilon("1.5", "1", "1e-5"), "sample rate");
    assert_bad_input(&epsilon("0.01", "-1", "1e-5"), "noise multiplier");
    let noise = |target: &str| {
        kiln(&[
            "privacy",
            "noise",
            "--target-epsilon",
            target,
            "--sample-rate",
            "0.01",
            "--epochs",
            "10",
            "--delta",
            "1e-5",
        ])
    };
    assert_bad_input(&noise("0.05"), "no noise reaches");
    assert_bad_input(&noise("-1"), "target epsilon");
}

/// A small MLP on iris, trained with DP-SGD to a budget.
const DP_IRIS: &str = r#"
seed = 3
[model]
kind = "mlp"
hidden = [16]
[data]
dataset = "iris"
valid_fraction = 0.2
[train]
epochs = 30
batch_size = 16
[optim]
name = "adam"
lr = 0.02
[privacy]
max_grad_norm = 1.0
target_epsilon = 8.0
"#;

fn train(dir: &std::path::Path, name: &str, config: &str) -> common::Output {
    let file = common::write(dir, &format!("{name}.toml"), config);
    let out = dir.join(name);
    kiln(&[
        "train",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_private_run_reports_its_budget_per_epoch_and_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), "dp", DP_IRIS);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = common::json(&dir.path().join("dp/summary.json"));
    let p = &s["privacy"];
    for key in [
        "epsilon",
        "delta",
        "noise_multiplier",
        "sample_rate",
        "steps",
        "max_grad_norm",
        "accountant",
        "best_order",
    ] {
        assert!(!p[key].is_null(), "summary.json's privacy lacks {key}: {p}");
    }
    assert_eq!(p["accountant"], "rdp");
    let eps = p["epsilon"].as_f64().unwrap();
    assert!(eps <= 8.0 && eps > 7.9, "spends the budget: {eps}");
    assert_eq!(
        p["steps"],
        30 * 6,
        "an epoch is round(1/q) = round(96/16) steps"
    );
    assert!(
        s["test"]["accuracy"].as_f64().unwrap() >= 0.8,
        "{}",
        s["test"]
    );
    // ε from the planning command for the same run.
    let again = json(&[
        "privacy",
        "epsilon",
        "--sample-rate",
        &p["sample_rate"].to_string(),
        "--noise-multiplier",
        &p["noise_multiplier"].to_string(),
        "--steps",
        "180",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert_eq!(again["epsilon"], p["epsilon"]);
    let metrics = std::fs::read_to_string(dir.path().join("dp/metrics.csv")).unwrap();
    let header = metrics.lines().next().unwrap();
    assert!(header.ends_with(",epsilon"), "{header}");
    let per_epoch: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(per_epoch.len(), 30);
    assert!(per_epoch.windows(2).all(|w| w[0] < w[1]), "{per_epoch:?}");
    assert_eq!(*per_epoch.last().unwrap(), eps);
}

#[test]
fn private_runs_that_cannot_be_private_exit_2_before_training() {
    let dir = tempfile::tempdir().unwrap();
    for (name, config, needle) in [
        (
            "bn",
            DP_IRIS.replace("hidden = [16]", "hidden = [16]\nbatch_norm = true"),
            "batch norm",
        ),
        (
            "over",
            DP_IRIS.replace(
                "target_epsilon = 8.0",
                "target_epsilon = 1.0\nnoise_multiplier = 0.5",
            ),
            "over the target",
        ),
        (
            "clip",
            DP_IRIS.replace("max_grad_norm = 1.0", "max_grad_norm = 0.0"),
            "max_grad_norm",
        ),
        (
            "delta",
            DP_IRIS.replace("max_grad_norm = 1.0", "max_grad_norm = 1.0\ndelta = 1.5"),
            "delta",
        ),
        (
            "unreachable",
            DP_IRIS.replace("target_epsilon = 8.0", "target_epsilon = 0.01"),
            "no noise reaches",
        ),
    ] {
        let out = train(dir.path(), name, &config);
        assert_bad_input(&out, needle);
        assert!(!dir.path().join(name).join("model.bpk").exists());
    }
}

#[test]
fn a_resumed_private_run_ends_with_the_weights_and_the_privacy_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = DP_IRIS
        .replace("epochs = 30", "epochs = 8")
        .replace("[privacy]", "[checkpoint]\nkeep_last = 20\n[privacy]");
    assert_eq!(train(dir.path(), "whole", &config).code, 0);
    assert_eq!(train(dir.path(), "cut", &config).code, 0);
    let cut = dir.path().join("cut");
    // Back to the end of epoch 3: the resumed run must draw the same samples and noise.
    for later in &common::checkpoints(&cut)[3..] {
        std::fs::remove_dir_all(later).unwrap();
    }
    std::fs::remove_file(cut.join("summary.json")).unwrap();
    let file = dir.path().join("cut.toml");
    let out = cut.to_str().unwrap();
    let resumed = kiln(&["train", file.to_str().unwrap(), "--out", out, "--resume"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("resuming from"),
        "{}",
        resumed.stderr
    );
    let (a, b) = (
        common::json(&dir.path().join("whole/summary.json")),
        common::json(&cut.join("summary.json")),
    );
    assert_eq!(a["weights_sha256"], b["weights_sha256"]);
    assert_eq!(a["privacy"], b["privacy"]);
    assert_eq!(b["privacy"]["steps"], 8 * 6);
}

/// The shipped `dp-adult` at ε = 1 ends within 2 points of the same MLP trained without
/// privacy (`fnn-adult`), and its model card states the budget.
#[test]
fn dp_adult_at_epsilon_1_is_within_2_points_of_non_private() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let o = kiln(&["train", name, "--out", out.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        common::json(&out.join("summary.json"))
    };
    let private = run("dp-adult");
    let public = run("fnn-adult");
    let epsilon = private["privacy"]["epsilon"].as_f64().unwrap();
    assert!(epsilon <= 1.0 && epsilon > 0.9, "spent {epsilon}");
    let (p, n) = (
        private["test"]["accuracy"].as_f64().unwrap(),
        public["test"]["accuracy"].as_f64().unwrap(),
    );
    assert!(n - p <= 0.02, "private {p} against non-private {n}");
    let card = std::fs::read_to_string(dir.path().join("dp-adult/model-card.md")).unwrap();
    assert!(
        card.contains("Differentially private (DP-SGD): ε = 0.993"),
        "{card}"
    );
}

/// The shipped `dp-mnist` (a scattering network with a linear head) at ε = 3 reaches the
/// issue's 93% on the 2,000 test digits (bf16 reaches the same: docs/privacy.md; mixed
/// precision is tested in kiln-privacy's dp_sgd.rs).
#[test]
fn dp_mnist_at_epsilon_3_reaches_93_percent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dp-mnist");
    let o = kiln(&[
        "train",
        "dp-mnist",
        "--out",
        out.to_str().unwrap(),
        "--no-card",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let summary = common::json(&out.join("summary.json"));
    let epsilon = summary["privacy"]["epsilon"].as_f64().unwrap();
    assert!(epsilon <= 3.0 && epsilon > 2.9, "spent {epsilon}");
    let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.93, "test accuracy {accuracy}");
}
