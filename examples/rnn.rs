//! Trains a small LSTM that reads each embedded MNIST digit row by row (28 steps of 28 pixels),
//! then classifies a few test digits: `cargo run --release --example rnn`.

use kiln_train::{ConsoleProgress, ExperimentConfig, TrainOptions, load_run, train};

fn main() -> Result<(), kiln_train::KilnError> {
    let overrides = ["model.hidden=64".to_string(), "train.epochs=3".to_string()];
    let config = ExperimentConfig::parse(
        include_str!("../configs/lstm-seqmnist.toml"),
        &overrides,
        "configs/lstm-seqmnist.toml",
    )?;
    let options = TrainOptions {
        out: Some("runs/example-rnn".into()),
        overwrite: true,
        ..TrainOptions::default()
    };
    let outcome = train(&config, &options, &mut ConsoleProgress::new(1))?;
    println!(
        "test accuracy {:.4} ({:.0}s)",
        outcome.summary.test.accuracy, outcome.summary.train_seconds
    );

    let run = load_run(&outcome.run_dir, None)?;
    let (_, test) = kiln_data::embedded::mnist_10k();
    let probabilities = run.predict(test.select(&[0, 1, 2, 3, 4]).features)?;
    for (i, p) in probabilities.iter().enumerate() {
        let (class, confidence) = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("10 classes");
        println!(
            "test digit {i}: label {}, predicted {class} ({confidence:.3})",
            test.labels[i]
        );
    }
    Ok(())
}
