//! Trains a small character language model (an LSTM) on the embedded Shakespeare tragedies for one
//! epoch, then prints a sample it writes: `cargo run --release --example rnn` (a few minutes on 2
//! cores). Row-by-row digit classifiers are in `configs/*-seqmnist.toml`.

use kiln_train::{ConsoleProgress, ExperimentConfig, TrainOptions, load_run, train};

fn main() -> Result<(), kiln_train::KilnError> {
    let overrides = [
        "model.hidden=128",
        "train.epochs=1",
        "train.batch_size=128",
        "train.seq_len=50",
    ]
    .map(String::from);
    let config = ExperimentConfig::parse(
        include_str!("../configs/char-shakespeare.toml"),
        &overrides,
        "configs/char-shakespeare.toml",
    )?;
    let options = TrainOptions {
        out: Some("runs/example-rnn".into()),
        overwrite: true,
        ..TrainOptions::default()
    };
    let outcome = train(&config, &options, &mut ConsoleProgress::new(1))?;
    let bits = outcome.summary.test.bits_per_char.unwrap_or(f64::NAN);
    println!(
        "validation: {bits:.3} bits per character after {:.0}s",
        outcome.summary.train_seconds
    );

    let run = load_run(&outcome.run_dir, None)?;
    println!("\n{}", run.generate("ROMEO.", 300, 0.8, 1)?);
    Ok(())
}
