//! Trains the reference CNN (`configs/cnn-mnist.toml`) on the embedded MNIST-10k digits, then
//! predicts a few test digits: `cargo run --release --example cnn` (about 5 minutes on 2 cores).

use kiln_train::{ConsoleProgress, ExperimentConfig, TrainOptions, load_run, train};

fn main() -> Result<(), kiln_train::KilnError> {
    let config = ExperimentConfig::parse(
        include_str!("../configs/cnn-mnist.toml"),
        &[],
        "configs/cnn-mnist.toml",
    )?;
    let options = TrainOptions {
        out: Some("runs/example-cnn".into()),
        overwrite: true,
        ..TrainOptions::default()
    };
    let outcome = train(&config, &options, &mut ConsoleProgress::new(1))?;
    println!(
        "test accuracy {:.4} after {} epochs ({:.0}s); run folder {}",
        outcome.summary.test.accuracy,
        outcome.summary.epochs,
        outcome.summary.train_seconds,
        outcome.run_dir.display()
    );

    let run = load_run(&outcome.run_dir, None)?;
    let (_, test) = kiln_data::embedded::mnist_10k();
    let digits = (0..8).collect::<Vec<usize>>();
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
