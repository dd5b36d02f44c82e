//! Pruning masks on the loop: they keep pruned weights at zero through optimizer steps (Adam's
//! momentum included), live in checkpoints, and resume bit for bit; per-layer and global
//! thresholds prune what they should; biases are never pruned.

mod common;

use std::path::Path;

use burn::prelude::*;
use common::{Net, values};
use kiln_compress::{GradualPruning, PruneScope, ZhuGupta, attach_masks, prune, sparsity};
use kiln_data::synthetic::rings;
use kiln_train::checkpoint::{self, CheckpointPolicy, Checkpointer};
use kiln_train::{Classification, FitConfig, FitReport, Objective, Trainer};

fn fit(
    model: Net,
    epochs: usize,
    pruning: Option<GradualPruning>,
    run: Option<(&Path, bool)>,
    device: &Device,
) -> FitReport<Net> {
    let (train, valid) = (rings(300, 1), rings(100, 2));
    let checkpointer = run.map(|(dir, _)| {
        let policy = CheckpointPolicy {
            every_steps: 0,
            every_epochs: 1,
            keep_last: 100,
        };
        Checkpointer::new(dir, policy, "net".into())
    });
    let resume = match run {
        Some((dir, true)) => checkpoint::newest_valid(dir).unwrap(),
        _ => None,
    };
    let steps_done = resume.as_ref().map_or(0, |c| c.state.step);
    let mut task = Classification::new(&train, Net::forward)
        .with_objective(Objective::Multiclass { classes: 2 })
        .with_valid(&valid)
        .with_batch_size(30);
    let mut trainer = Trainer::new(FitConfig::new(epochs).with_lr(1e-2))
        .with_checkpointer(checkpointer.as_ref())
        .resume_from(resume.as_ref());
    if let Some(pruning) = pruning {
        trainer = trainer.with_transform(pruning.resumed_after(steps_done));
    }
    trainer.fit(model, &mut task, device).unwrap()
}

fn seeded_net(device: &Device) -> Net {
    device.seed(7);
    Net::new(device)
}

#[test]
fn one_shot_masks_keep_pruned_weights_zero_through_adam_steps() {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    let model = prune(seeded_net(&device), 0.5, PruneScope::PerLayer);
    let before = sparsity(&model);
    // 64 + 64 weights, half of each pruned.
    assert_eq!(before.weights, 128);
    assert_eq!(before.nonzero_weights, 64);
    let biases = 32 + 2;
    assert_eq!(before.nonzero_params, before.nonzero_weights + biases);
    let pruned_at: Vec<bool> = values(model.hidden.weight.val())
        .iter()
        .map(|w| *w == 0.0)
        .collect();

    let report = fit(model, 12, None, None, &device);
    let accuracy = report.history.last().unwrap().valid_accuracy.unwrap();
    assert!(
        accuracy > 0.8,
        "still learns with half its weights: {accuracy}"
    );
    let after = sparsity(&report.model);
    assert_eq!(after.nonzero_weights, before.nonzero_weights);
    let trained = values(report.model.hidden.weight.val());
    for (w, pruned) in trained.iter().zip(&pruned_at) {
        assert_eq!(
            *w == 0.0,
            *pruned,
            "a pruned weight stays zero, a kept one moves"
        );
    }
    // The stored base moved under Adam's momentum where the mask hides it: only the mask
    // keeps the effective weight at zero.
    let base = values(report.model.hidden.weight.base());
    assert!(base.iter().zip(&pruned_at).any(|(b, p)| *p && *b != 0.0));
    // Materialised, the zeros are in the weights themselves.
    let merged = report.model.materialize();
    assert_eq!(sparsity(&merged).nonzero_weights, before.nonzero_weights);
    assert_eq!(values(merged.hidden.weight.val()), trained);
}

#[test]
fn gradual_pruning_reaches_its_target_and_resumes_bit_for_bit_from_a_checkpoint() {
    let device = Device::flex().autodiff();
    let _rng = kiln_train::rng_guard();
    // 10 batches an epoch, 6 epochs: prune to 75% in 5 events over the first 50 steps.
    let schedule = ZhuGupta::over(0.75, 50, 5);
    let pruning = || Some(GradualPruning::new(schedule, PruneScope::PerLayer));
    let whole = fit(
        attach_masks(seeded_net(&device), false),
        6,
        pruning(),
        None,
        &device,
    );
    let stats = sparsity(&whole.model);
    assert_eq!(stats.nonzero_weights, 128 - 48 - 48, "75% of each layer");

    let dir = tempfile::tempdir().unwrap();
    fit(
        attach_masks(seeded_net(&device), false),
        3,
        pruning(),
        Some((dir.path(), false)),
        &device,
    );
    let midway = checkpoint::newest_valid(dir.path()).unwrap().unwrap();
    assert_eq!(midway.state.step, 30);
    let resumed = fit(
        attach_masks(seeded_net(&device), false),
        6,
        pruning(),
        Some((dir.path(), true)),
        &device,
    );
    for (a, b) in [
        (&whole.model.hidden, &resumed.model.hidden),
        (&whole.model.output, &resumed.model.output),
    ] {
        assert_eq!(values(a.weight.val()), values(b.weight.val()));
        assert_eq!(values(a.weight.base()), values(b.weight.base()));
        let bias = |l: &burn::nn::Linear| values(l.bias.as_ref().unwrap().val());
        assert_eq!(bias(a), bias(b));
    }
}

#[test]
fn global_pruning_takes_more_from_the_layer_of_small_weights() {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    let mut model = seeded_net(&device);
    // Shrink the output layer's weights: under one global threshold it loses the most.
    model.output.weight = model.output.weight.map(|w| w.mul_scalar(0.01));
    let global = prune(model.clone(), 0.5, PruneScope::Global);
    let zeros = |w: Tensor<2>| values(w).iter().filter(|v| **v == 0.0).count();
    assert_eq!(
        zeros(global.output.weight.val()),
        64,
        "all of the small layer"
    );
    assert_eq!(zeros(global.hidden.weight.val()), 0);
    let per_layer = prune(model, 0.5, PruneScope::PerLayer);
    assert_eq!(zeros(per_layer.output.weight.val()), 32);
    assert_eq!(zeros(per_layer.hidden.weight.val()), 32);
    // Biases are never masked.
    let bias = per_layer.hidden.bias.as_ref().unwrap();
    assert!(
        bias.reparameterization::<kiln_compress::PruneMask>()
            .is_none()
    );
}

#[test]
fn pruning_again_only_removes_more() {
    let device = Device::flex();
    let _rng = kiln_train::rng_guard();
    let half = prune(seeded_net(&device), 0.5, PruneScope::PerLayer);
    let zero_at = |net: &Net| -> Vec<bool> {
        values(net.hidden.weight.val())
            .iter()
            .map(|w| *w == 0.0)
            .collect()
    };
    let first = zero_at(&half);
    let more = prune(half, 0.9, PruneScope::PerLayer);
    let second = zero_at(&more);
    assert!(first.iter().zip(&second).all(|(a, b)| !a || *b));
    assert_eq!(second.iter().filter(|z| **z).count(), 58); // round(0.9 * 64)
}
