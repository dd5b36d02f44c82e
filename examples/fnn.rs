//! The seed's feed-forward network on the embedded breast-cancer data, through Kiln's loop:
//! `cargo run --release --example fnn`.

use kiln_train::{ConsoleProgress, ExperimentConfig, TrainOptions, train};

fn main() -> Result<(), kiln_train::KilnError> {
    let config = ExperimentConfig::parse(
        include_str!("../configs/fnn-breast-cancer.toml"),
        &[],
        "configs/fnn-breast-cancer.toml",
    )?;
    let options = TrainOptions {
        out: Some("runs/example-fnn".into()),
        overwrite: true,
        ..TrainOptions::default()
    };
    let outcome = train(
        &config,
        &options,
        &mut ConsoleProgress::new(config.train.log_every),
    )?;
    let summary = &outcome.summary;
    println!(
        "{} epochs in {:.3}s, test accuracy {:.4} (run folder {})",
        summary.epochs,
        summary.train_seconds,
        summary.test.accuracy,
        outcome.run_dir.display()
    );
    Ok(())
}
