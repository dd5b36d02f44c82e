//! The character language model trains through the run-folder pipeline on a small text, reports
//! bits per character, and generates the same text for the same seed.

use kiln_experiment::{ExperimentConfig, TrainOptions, load_run, train};
use kiln_train::Silent;

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

#[test]
fn a_language_model_resumes_bit_exactly_from_a_checkpoint_inside_an_epoch() {
    resumes_bit_exactly("f32");
}

#[test]
fn an_f16_language_model_learns_and_resumes_bit_exactly_with_its_loss_scaler() {
    resumes_bit_exactly("f16");
}

fn resumes_bit_exactly(precision: &str) {
    let dir = tempfile::tempdir().unwrap();
    let text_path = dir.path().join("text.txt");
    std::fs::write(
        &text_path,
        "what light through yonder window breaks? ".repeat(40),
    )
    .unwrap();
    let sets = [
        format!("data.path={}", text_path.display()),
        "train.epochs=3".into(),
        "model.cell=\"lstm\"".into(),
        "checkpoint.every_steps=4".into(),
        "checkpoint.keep_last=100".into(),
        format!("train.precision=\"{precision}\""),
        // A small growth interval, so that the scaler's state changes during the run.
        "loss_scale.growth_interval=5".into(),
    ];
    let config = ExperimentConfig::parse(CONFIG, &sets, "lm.toml").unwrap();
    let out = dir.path().join("run");
    let options = TrainOptions {
        out: Some(out.clone()),
        ..TrainOptions::default()
    };
    let first = train(&config, &options, &mut Silent).unwrap();
    let metrics = std::fs::read_to_string(first.run_dir.join("metrics.csv")).unwrap();
    let losses: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        losses[losses.len() - 1] < losses[0] * 0.8,
        "{precision}: the loss falls: {losses:?}"
    );
    assert_eq!(first.summary.loss_scale.is_some(), precision == "f16");
    if let Some(scale) = first.summary.loss_scale {
        // Growth every 5 good steps from 65536 (or a back-off on overflow): the scaler moved.
        assert_ne!(
            scale.final_scale, 65536.0,
            "the loss scale changed during the run"
        );
    }
    let reference = first.summary.weights_sha256;

    // Keep only the checkpoints up to the first one inside epoch 2, as if killed there.
    let root = out.join("checkpoints");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("step-")
        })
        .collect();
    names.sort();
    let inside_epoch_2 = names
        .iter()
        .position(|p| {
            let state = std::fs::read_to_string(p.join("state.json")).unwrap();
            state.contains("\"epoch\": 2,") && !state.contains("\"position\": 0,")
        })
        .expect("a checkpoint inside epoch 2");
    assert!(
        names[inside_epoch_2].join("hidden.f32").is_file()
            && names[inside_epoch_2].join("cell.f32").is_file()
    );
    for later in &names[inside_epoch_2 + 1..] {
        std::fs::remove_dir_all(later).unwrap();
    }
    let resume = TrainOptions {
        out: Some(out),
        resume: true,
        ..TrainOptions::default()
    };
    let resumed = train(&config, &resume, &mut Silent)
        .unwrap()
        .summary
        .weights_sha256;
    assert_eq!(
        resumed, reference,
        "{precision}: carried LSTM state, optimizer, position and loss scaler restored exactly"
    );
}

#[test]
fn l1_and_l2_apply_to_the_language_model_too() {
    let dir = tempfile::tempdir().unwrap();
    let text_path = dir.path().join("text.txt");
    std::fs::write(&text_path, "a rose by any other name ".repeat(40)).unwrap();
    let run = |name: &str, extra: &str| {
        let sets = [
            format!("data.path={}", text_path.display()),
            "train.epochs=3".into(),
            extra.to_string(),
        ];
        let config = ExperimentConfig::parse(CONFIG, &sets, "lm.toml").unwrap();
        let options = TrainOptions {
            out: Some(dir.path().join(name)),
            ..TrainOptions::default()
        };
        let outcome = train(&config, &options, &mut Silent).unwrap();
        let model = load_run(&outcome.run_dir, None).unwrap().model;
        let norm: f32 = kiln_train::regularize::l1_norm(&model)
            .unwrap()
            .into_scalar();
        (outcome.summary.weights_sha256, norm)
    };
    let (plain, plain_norm) = run("plain", "regularization.l1=0.0");
    let (l1, l1_norm) = run("l1", "regularization.l1=0.01");
    let (l2, _) = run("l2", "regularization.l2=0.1");
    assert_ne!(l1, plain, "L1 changes the weights");
    assert_ne!(l2, plain, "L2 changes the weights");
    assert!(
        l1_norm < 0.9 * plain_norm,
        "L1 shrinks the weights: {l1_norm} vs {plain_norm}"
    );
}
