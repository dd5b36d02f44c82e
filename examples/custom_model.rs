//! Your own Burn module, your own data in memory, Kiln's loop: checkpoints, exact resume,
//! early stopping and (one line) mixed precision, with no config file and no zoo.
//! `cargo run --release --example custom_model` (seconds).

use std::path::Path;

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;
use kiln_data::Samples;
use kiln_data::synthetic::rings;
use kiln_train::checkpoint::{self, CheckpointPolicy, Checkpointer};
use kiln_train::{Classification, FitConfig, FitReport, Objective, Trainer, weights_sha256};

/// A module Kiln has never heard of.
#[derive(Module, Debug)]
struct RingNet {
    hidden: Linear,
    output: Linear,
    dropout: Dropout,
    activation: Relu,
}

impl RingNet {
    fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, 32).init(device),
            output: LinearConfig::new(32, 2).init(device),
            dropout: DropoutConfig::new(0.1).init(),
            activation: Relu::new(),
        }
    }

    fn forward(&self, points: Tensor<2>) -> Tensor<2> {
        let x = self.activation.forward(self.hidden.forward(points));
        self.output.forward(self.dropout.forward(x))
    }
}

fn train(
    epochs: usize,
    run_dir: &Path,
    resume: bool,
    data: (&Samples, &Samples),
) -> kiln_train::Result<FitReport<RingNet>> {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    device.seed(7);
    let model = RingNet::new(&device);
    let policy = CheckpointPolicy {
        every_steps: 0,
        every_epochs: 1,
        keep_last: 2,
    };
    // The hash names what must not change between a run and its resumption.
    let checkpointer = Checkpointer::new(run_dir, policy, "ringnet-v1".into());
    let resume_point = if resume {
        checkpoint::newest_valid(run_dir)?
    } else {
        None
    };
    // Two logits and a softmax (one logit and a sigmoid is the default for two classes).
    let mut task = Classification::new(data.0, RingNet::forward)
        .with_objective(Objective::Multiclass { classes: 2 })
        .with_valid(data.1)
        .with_batch_size(32);
    // `.with_precision(kiln_train::Precision::Bf16)` trains in bf16 with f32 master weights.
    let config = FitConfig::new(epochs).with_lr(1e-2).with_patience(5);
    Trainer::new(config)
        .with_checkpointer(Some(&checkpointer))
        .resume_from(resume_point.as_ref())
        .fit(model, &mut task, &device)
}

fn main() -> kiln_train::Result<()> {
    let (train_set, valid_set) = (rings(800, 1), rings(200, 2));
    let data = (&train_set, &valid_set);
    let root = std::env::temp_dir().join(format!("kiln-custom-model-{}", std::process::id()));
    let fresh = |name: &str| {
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        dir
    };

    let whole = train(12, &fresh("whole"), false, data)?;
    let last = whole.history.last().expect("epochs ran");
    println!("12 epochs: {}", last.describe(12));

    // Stop after 5 epochs, then resume the same run to 12: the weights match bit for bit.
    let split = fresh("split");
    train(5, &split, false, data)?;
    let resumed = train(12, &split, true, data)?;
    let (a, b) = (weights_sha256(&whole.model), weights_sha256(&resumed.model));
    println!("uninterrupted {a}\nresumed       {b}");
    assert_eq!(
        a, b,
        "a resumed run ends with the weights of an uninterrupted one"
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
