//! One training step (forward, loss, backward, Adam) of each reference model on flex, batch 64,
//! with Kiln's fused Adam and with Burn's own: `cargo bench -p kiln-experiment --bench train_step`.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use kiln_experiment::ExperimentConfig;
use kiln_experiment::data::prepare;
use kiln_train::Objective;
use kiln_train::optim::build_optimizer;

const REFERENCE_MODELS: [(&str, &str); 5] = [
    ("mlp-mnist", include_str!("../../../configs/mlp-mnist.toml")),
    ("cnn-mnist", include_str!("../../../configs/cnn-mnist.toml")),
    (
        "lstm-seqmnist",
        include_str!("../../../configs/lstm-seqmnist.toml"),
    ),
    (
        "gru-seqmnist",
        include_str!("../../../configs/gru-seqmnist.toml"),
    ),
    (
        "rnn-seqmnist",
        include_str!("../../../configs/rnn-seqmnist.toml"),
    ),
];

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(20);
    for (name, text) in REFERENCE_MODELS {
        let config = ExperimentConfig::parse(text, &[], name).expect("shipped config");
        let splits = prepare(&config.data, config.seed).expect("embedded data");
        let objective = Objective::for_classes(splits.preprocess.classes);
        let device = Device::flex().autodiff();
        device.seed(config.seed);
        let mut model = Some(
            config
                .model
                .build(&splits.preprocess.shape(), &device)
                .expect("model"),
        );
        let indices: Vec<usize> = (0..64).collect();
        let batch = splits.train.batch(&indices, &device);
        // Kiln's optimizer (Adam fused on flex) and, for comparison, Burn's own Adam.
        let optimizers = [
            (
                name.to_string(),
                build_optimizer(&config.optim, &config.regularization),
            ),
            (format!("{name} (Burn's Adam)"), AdamConfig::new().init()),
        ];
        for (label, mut optimizer) in optimizers {
            group.bench_function(label, |b| {
                b.iter(|| {
                    let current = model.take().expect("model");
                    let loss =
                        objective.loss(current.logits(batch.inputs.clone()), batch.labels.clone());
                    let grads = GradientsParams::from_grads(loss.backward(), &current);
                    let next = optimizer.step(config.optim.lr, current, grads);
                    model = Some(next);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
