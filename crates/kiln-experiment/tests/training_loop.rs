//! The shared loop trains real models: every optimizer and schedule learns, L1 shrinks the
//! weights, early stopping stops and restores the best epoch, and seeds make it repeatable.

use burn::prelude::*;
use kiln_experiment::data::{Splits, prepare};
use kiln_experiment::{ExperimentConfig, classification};
use kiln_train::metrics::evaluate;
use kiln_train::regularize::l1_norm;
use kiln_train::{FitReport, Objective, Trainer, weights_sha256};
use kiln_zoo::AnyModel;

const IRIS: &str = r#"
seed = 1
[model]
kind = "mlp"
hidden = [16]
[data]
dataset = "iris"
valid_fraction = 0.2
[train]
epochs = 60
batch_size = 16
[optim]
lr = 0.01
"#;

/// Seeds, builds and trains the configured model on `splits` on flex.
fn train_on(config: &ExperimentConfig, splits: &Splits) -> FitReport<AnyModel> {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(config.seed);
    let model = config
        .model
        .build(&splits.preprocess.shape(), &device)
        .unwrap();
    let mut task = classification(config, splits);
    Trainer::new(config.fit_config().unwrap())
        .fit(model, &mut task, &device)
        .unwrap()
}

fn run(overrides: &[&str]) -> (FitReport<AnyModel>, f64) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let config = ExperimentConfig::parse(IRIS, &overrides, "iris.toml").unwrap();
    let splits = prepare(&config.data, config.seed).unwrap();
    let report = train_on(&config, &splits);
    let objective = Objective::for_classes(splits.preprocess.classes);
    let test = evaluate(
        &report.model.valid(),
        AnyModel::logits,
        objective,
        &splits.test,
        &Device::flex(),
    )
    .unwrap();
    (report, test.accuracy)
}

#[test]
fn every_optimizer_and_schedule_learns() {
    let cases: [&[&str]; 5] = [
        &["optim.name=gd", "optim.lr=0.5", "train.epochs=150"],
        &[
            "optim.name=sgd",
            "optim.lr=0.05",
            "optim.momentum=0.9",
            "optim.nesterov=true",
        ],
        &[
            "optim.name=adam",
            "schedule.name=cosine",
            "schedule.warmup_steps=20",
        ],
        &[
            "optim.name=adamw",
            "regularization.l2=0.01",
            "schedule.name=step",
            "schedule.step_epochs=20",
        ],
        &[
            "optim.name=adam",
            "optim.clip_grad_norm=0.5",
            "model.activation=gelu",
            "model.dropout=0.1",
        ],
    ];
    for overrides in cases {
        let (report, accuracy) = run(overrides);
        let first = report.history.first().unwrap().train_loss;
        let last = report.history.last().unwrap().train_loss;
        assert!(last < first * 0.5, "{overrides:?}: loss {first} -> {last}");
        assert!(accuracy >= 0.85, "{overrides:?}: test accuracy {accuracy}");
    }
}

#[test]
fn full_batch_gd_takes_one_step_per_epoch() {
    let (report, _) = run(&["optim.name=gd", "optim.lr=0.5", "train.epochs=10"]);
    assert_eq!(report.steps, 10);
}

#[test]
fn l1_lowers_the_weight_norm() {
    let norm = |report: &FitReport<AnyModel>| l1_norm(&report.model).unwrap().into_scalar::<f32>();
    let (plain, _) = run(&[]);
    let (sparse, accuracy) = run(&["regularization.l1=0.01"]);
    assert!(
        norm(&sparse) < 0.7 * norm(&plain),
        "L1 {} vs none {}",
        norm(&sparse),
        norm(&plain)
    );
    assert!(accuracy >= 0.8, "still learns: {accuracy}");
}

#[test]
fn early_stopping_stops_and_keeps_the_best_epoch() {
    let (report, _) = run(&[
        "early_stopping.patience=3",
        "train.epochs=500",
        "optim.lr=0.05",
    ]);
    assert!(
        report.stopped_early,
        "500 epochs on iris overfit long before the end"
    );
    let best = report.best_epoch.unwrap();
    assert_eq!(
        report.history.len(),
        best + 3,
        "stops exactly `patience` epochs after the best"
    );
    let best_loss = report.history[best - 1].valid_loss.unwrap();
    assert!(
        report
            .history
            .iter()
            .all(|r| r.valid_loss.unwrap() >= best_loss)
    );
}

#[test]
fn seeded_training_is_bit_for_bit_repeatable() {
    let overrides = [
        "model.dropout=0.2",
        "model.batch_norm=true",
        "train.epochs=5",
    ];
    let a = weights_sha256(&run(&overrides).0.model);
    assert_eq!(a, weights_sha256(&run(&overrides).0.model));
    assert_ne!(
        a,
        weights_sha256(&run(&[&overrides[..], &["seed=2"]].concat()).0.model)
    );
}

#[test]
fn a_tiny_cnn_overfits_a_handful_of_real_digits() {
    let config = ExperimentConfig::parse(
        r#"
        seed = 3
        [model]
        kind = "cnn"
        preset = "custom"
        hidden = [32]
        blocks = [{ channels = 8, kernel = 3, pool = 2 }, { channels = 16, kernel = 3, pool = 2 }]
        [data]
        dataset = "mnist-10k"
        [train]
        epochs = 40
        batch_size = 0
        [optim]
        lr = 0.01
        "#,
        &[],
        "tiny-cnn.toml",
    )
    .unwrap();
    let mut splits = prepare(&config.data, config.seed).unwrap();
    let handful: Vec<usize> = (0..16).collect();
    splits.train = splits.train.select(&handful);
    let report = train_on(&config, &splits);
    let objective = Objective::for_classes(10);
    let fitted = evaluate(
        &report.model.valid(),
        AnyModel::logits,
        objective,
        &splits.train,
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(
        fitted.accuracy, 1.0,
        "memorises 16 digits; loss {}",
        fitted.loss
    );
    assert!(fitted.loss < 0.05, "loss {}", fitted.loss);
}

#[test]
fn a_sequence_classifier_learns_from_rows_of_digits() {
    for cell in ["lstm", "gru", "elman"] {
        let config = ExperimentConfig::parse(
            &format!(
                "seed = 5\n[model]\nkind = \"rnn\"\ncell = \"{cell}\"\nhidden = 16\n[data]\ndataset = \"mnist-10k\"\n\
                 [train]\nepochs = 10\nbatch_size = 0\n[optim]\nlr = 0.02\nclip_grad_norm = 1.0\n"
            ),
            &[],
            "tiny-rnn.toml",
        )
        .unwrap();
        let mut splits = prepare(&config.data, config.seed).unwrap();
        splits.train = splits.train.select(&(0..64).collect::<Vec<_>>());
        let report = train_on(&config, &splits);
        let (first, last) = (
            report.history[0].train_loss,
            report.history.last().unwrap().train_loss,
        );
        assert!(last < 0.8 * first, "{cell}: loss {first} -> {last}");
    }
}

#[test]
fn the_linear_kind_registered_in_one_line_trains_from_a_config() {
    let config = ExperimentConfig::parse(
        "seed = 2\n[model]\nkind = \"linear\"\n[data]\ndataset = \"iris\"\n[train]\nepochs = 80\nbatch_size = 16\n[optim]\nlr = 0.05\n",
        &[],
        "linear.toml",
    )
    .unwrap();
    assert_eq!(config.model.info().name, "linear");
    let splits = prepare(&config.data, config.seed).unwrap();
    let report = train_on(&config, &splits);
    let test = evaluate(
        &report.model.valid(),
        AnyModel::logits,
        Objective::for_classes(3),
        &splits.test,
        &Device::flex(),
    )
    .unwrap();
    assert!(
        test.accuracy >= 0.85,
        "softmax regression on iris: {}",
        test.accuracy
    );
    let typo = ExperimentConfig::parse(
        "[model]\nkind = \"linear\"\nhidden = [3]\n[data]\ndataset = \"iris\"\n",
        &[],
        "typo.toml",
    )
    .unwrap_err();
    assert!(
        typo.to_string().contains("unknown field `hidden`"),
        "{typo}"
    );
}
