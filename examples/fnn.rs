//! An MLP from kiln-fnn trained on the embedded breast-cancer table with kiln-train's loop, in
//! code (no config file): `cargo run --release --example fnn` (seconds). The config way is
//! `kiln train configs/fnn-breast-cancer.toml`.

use burn::prelude::*;
use kiln_data::{Standardizer, embedded};
use kiln_fnn::{Mlp, MlpConfig};
use kiln_train::metrics::evaluate;
use kiln_train::{Classification, ConsoleProgress, FitConfig, Objective, Trainer};

fn main() -> kiln_train::Result<()> {
    // Data: 569 tumours, 30 features, two classes; split 64/16/20 and standardised with the
    // training split's statistics.
    let samples = embedded::breast_cancer();
    let [mut train, mut valid, mut test]: [_; 3] = samples
        .split(&[0.64, 0.16, 0.2], 42)
        .try_into()
        .expect("three parts");
    let scaler = Standardizer::fit_per_feature(&train);
    for split in [&mut train, &mut valid, &mut test] {
        scaler.apply(split);
    }

    // Model: 30 -> 32 -> 1 logit (binary), on an autodiff device built explicitly.
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(42);
    let model = MlpConfig::new(train.sample_size(), 1)
        .with_hidden_sizes(vec![32])
        .with_dropout(0.1)
        .init(&device);

    // The loop: Adam at 1e-2 for 40 epochs, batches of 32, early stopping on validation loss.
    let mut task = Classification::new(&train, Mlp::forward)
        .with_valid(&valid)
        .with_batch_size(32);
    let config = FitConfig::new(40).with_lr(1e-2).with_patience(8);
    let mut progress = ConsoleProgress::new(5);
    let report = Trainer::new(config)
        .with_progress(&mut progress)
        .fit(model, &mut task, &device)?;

    let model = report.model.valid();
    let result = evaluate(
        &model,
        Mlp::forward,
        Objective::Binary,
        &test,
        &device.inner(),
    )?;
    println!(
        "test accuracy {:.4} (loss {:.4}) after {} epochs, best epoch {:?}",
        result.accuracy,
        result.loss,
        report.history.len(),
        report.best_epoch
    );
    Ok(())
}
