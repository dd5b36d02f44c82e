//! A character language model (kiln-rnn's LSTM) trained on the embedded Shakespeare tragedies
//! with kiln-train's loop and kiln-zoo's language-modelling task (truncated back-propagation
//! through time, the state carried between chunks), then a sample it writes:
//! `cargo run --release --example rnn` (a few minutes on 2 cores). Row-by-row digit
//! classifiers are in `configs/*-seqmnist.toml`.

use burn::prelude::*;
use kiln_data::{Corpus, StreamChunks, embedded};
use kiln_rnn::{CellKind, CharLanguageModelConfig, RecurrentConfig};
use kiln_train::{ConsoleProgress, FitConfig, Trainer};
use kiln_zoo::{LanguageModelling, sample_tokens};

fn main() -> kiln_train::Result<()> {
    let corpus = Corpus::from_text(&embedded::shakespeare(), "shakespeare")?;
    let (train, valid) = corpus.split_at_fraction(0.9);
    let (streams, seq_len) = (128, 50);
    let train = StreamChunks::new(train, streams, seq_len);
    let valid = StreamChunks::new(valid, streams, seq_len);

    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(42);
    let vocab = corpus.vocab.len();
    let encoder = RecurrentConfig::new(CellKind::Lstm, 64, 128);
    let model = CharLanguageModelConfig::new(vocab, encoder).init(&device);

    let mut task = LanguageModelling::new(&train, &valid, vocab);
    let mut config = FitConfig::new(1).with_lr(2e-3);
    config.optim.clip_grad_norm = Some(5.0);
    let mut progress = ConsoleProgress::new(1);
    let report = Trainer::new(config)
        .with_progress(&mut progress)
        .fit(model, &mut task, &device)?;
    let last = report.history.last().expect("one epoch");
    println!(
        "validation: {:.3} bits per character after {:.0}s",
        last.valid_loss.unwrap_or(f64::NAN) / std::f64::consts::LN_2,
        report.train_seconds
    );

    let model = report.model.valid();
    let prompt = corpus.encode("ROMEO.").expect("in the vocabulary");
    let text = sample_tokens(&model, &prompt, 300, 0.8, 1, &device.inner())?;
    println!("\nROMEO.{}", corpus.decode(&text));
    Ok(())
}
