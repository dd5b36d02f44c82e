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
    let digits = [0, 1, 2, 3, 4];
    for (i, (class, confidence)) in run
        .classify(test.select(&digits).features)?
        .into_iter()
        .enumerate()
    {
        println!(
            "test digit {i}: label {}, predicted {class} ({confidence:.3})",
            test.labels[i]
        );
    }
    Ok(())
}
