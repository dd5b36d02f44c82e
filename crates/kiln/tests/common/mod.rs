//! What the `kiln` binary's end-to-end tests share: running it, and checking a refusal.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What a run of the binary printed and how it exited.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kiln ARGS...` and waits for it.
pub fn kiln(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("kiln runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A JSON file's contents.
pub fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Asserts a clean bad-input failure: exit 2, a message naming `needle`, no panic.
pub fn assert_bad_input(out: &Output, needle: &str) {
    assert_eq!(out.code, 2, "exit code; stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "stderr should mention {needle:?}: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "panic: {}", out.stderr);
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one-line message: {}",
        out.stderr
    );
}

/// A run folder's checkpoint folders (`checkpoints/step-*`), oldest first.
pub fn checkpoints(run: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("step-")
        })
        .collect();
    dirs.sort();
    dirs
}

/// Writes the first `count` embedded MNIST-10k test digits as 28x28 grayscale PNG files
/// `dir/digit{i}.png`; returns their paths and labels.
pub fn write_test_digits(dir: &Path, count: usize) -> (Vec<String>, Vec<u32>) {
    let (_, test) = kiln_data::embedded::mnist_10k();
    let mut files = Vec::new();
    for i in 0..count {
        let pixels: Vec<u8> = test
            .sample(i)
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        let path = dir.join(format!("digit{i}.png"));
        let file = std::fs::File::create(&path).unwrap();
        let mut encoder = png::Encoder::new(file, 28, 28);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&pixels)
            .unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    (files, test.labels[..count].to_vec())
}
