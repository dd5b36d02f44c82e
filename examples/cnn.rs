//! The reference CNN (kiln-cnn's `lenet`) trained on the embedded MNIST-10k digits with
//! kiln-train's loop, in code: `cargo run --release --example cnn` (a few minutes on 2 cores).
//! The config way, with the full 15-epoch recipe, is `kiln train configs/cnn-mnist.toml`.

use burn::prelude::*;
use kiln_cnn::{Cnn, CnnConfig};
use kiln_data::{Augment, Standardizer, embedded};
use kiln_train::metrics::evaluate;
use kiln_train::settings::ScheduleName;
use kiln_train::{Classification, ConsoleProgress, FitConfig, Objective, Trainer};

fn main() -> kiln_train::Result<()> {
    let (samples, mut test) = embedded::mnist_10k();
    let [mut train, mut valid]: [_; 2] = samples.split(&[0.9, 0.1], 42).try_into().expect("two");
    let scaler = Standardizer::fit_global(&train);
    for split in [&mut train, &mut valid, &mut test] {
        scaler.apply(split);
    }

    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(42);
    let model = CnnConfig::lenet(10).init(&device);

    // Seeded shifts and rotations of the training digits; Adam with a cosine schedule.
    let mut task = Classification::new(&train, Cnn::forward_flat)
        .with_valid(&valid)
        .with_batch_size(64)
        .with_augment(Augment {
            max_shift: 2.0,
            max_rotation: 10.0,
        });
    let mut config = FitConfig::new(3).with_lr(1e-3);
    config.schedule.name = ScheduleName::Cosine;
    config.schedule.warmup_steps = 100;
    let mut progress = ConsoleProgress::new(1);
    let report = Trainer::new(config)
        .with_progress(&mut progress)
        .fit(model, &mut task, &device)?;

    let model = report.model.valid();
    let objective = Objective::Multiclass { classes: 10 };
    let result = evaluate(&model, Cnn::forward_flat, objective, &test, &device.inner())?;
    println!(
        "test accuracy {:.4} after {} epochs ({:.0}s)",
        result.accuracy,
        report.history.len(),
        report.train_seconds
    );
    for (digit, row) in result.confusion.iter().enumerate() {
        println!("digit {digit}: {row:?}");
    }
    Ok(())
}
