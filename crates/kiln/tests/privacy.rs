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
