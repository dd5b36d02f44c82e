//! The character language model trains through the run-folder pipeline on a small text, reports
//! bits per character, and generates the same text for the same seed.

use kiln_train::{ExperimentConfig, Silent, TrainOptions, load_run, train};

const CONFIG: &str = r#"
seed = 4
[model]
kind = "charlm"
cell = "gru"
hidden = 32
embedding = 8
[data]
dataset = "text"
valid_fraction = 0.2
[train]
epochs = 15
batch_size = 4
seq_len = 20
[optim]
lr = 0.01
clip_grad_norm = 1.0
"#;

#[test]
fn a_small_language_model_learns_a_repetitive_text_and_generates_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let text_path = dir.path().join("text.txt");
    std::fs::write(
        &text_path,
        "to be or not to be, that is the question. ".repeat(60),
    )
    .unwrap();
    let set = format!("data.path={}", text_path.display());
    let config = ExperimentConfig::parse(CONFIG, &[set], "lm.toml").unwrap();
    let options = TrainOptions {
        out: Some(dir.path().join("run")),
        ..TrainOptions::default()
    };
    let outcome = train(&config, &options, &mut Silent).unwrap();
    let s = &outcome.summary;
    let bits = s.test.bits_per_char.unwrap();
    assert!((bits - s.test.loss / std::f64::consts::LN_2).abs() < 1e-9);
    assert!(
        bits < 1.5,
        "a repeated sentence is easy to predict: {bits} bits per character"
    );
    let json = std::fs::read_to_string(outcome.run_dir.join("summary.json")).unwrap();
    assert!(json.contains("\"bits_per_char\""), "{json}");

    let run = load_run(&outcome.run_dir, None).unwrap();
    let a = run.generate("to be", 40, 0.8, 1).unwrap();
    assert_eq!(
        a,
        run.generate("to be", 40, 0.8, 1).unwrap(),
        "same seed, same text"
    );
    let hot = |seed| run.generate("to be", 40, 5.0, seed).unwrap();
    assert_eq!(hot(1), hot(1));
    assert_ne!(
        hot(1),
        hot(2),
        "at a high temperature another seed gives another text"
    );
    assert!(a.starts_with("to be") && a.chars().count() == 45);
    assert!(
        run.generate("xyz", 5, 0.8, 1)
            .unwrap_err()
            .to_string()
            .contains("never saw")
    );
    let evaluation = run.evaluate_test().unwrap();
    assert_eq!(
        evaluation.bits_per_char,
        Some(bits),
        "eval reproduces the run's score"
    );
}
