//! A trained classifier's probabilities on already standardised samples, batch by batch.

use kiln_data::Samples;
use kiln_train::{KilnError, Result};

use crate::TrainedRun;

/// Class probabilities, one row per sample, of `run`'s model on `samples` (standardised, as
/// the splits of `prepare` are).
pub fn probabilities(run: &TrainedRun, samples: &Samples) -> Result<Vec<Vec<f32>>> {
    run.require_classifier()?;
    let classes = run.objective.classes();
    let order: Vec<usize> = (0..samples.len()).collect();
    let mut rows = Vec::with_capacity(samples.len());
    for indices in order.chunks(kiln_train::metrics::EVAL_BATCH) {
        let batch = samples.batch(indices, &run.device);
        let logits = run.model.logits(batch.inputs);
        kiln_train::check_logits(run.objective, &logits, indices.len())?;
        let values: Vec<f32> = run
            .objective
            .probabilities(logits)
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .map_err(|e| KilnError::Internal(format!("{e:?}")))?;
        rows.extend(values.chunks(classes).map(<[f32]>::to_vec));
    }
    Ok(rows)
}

/// The most probable class of one row of probabilities and its probability (the first on
/// ties, as `kiln predict`'s ranking has it).
pub fn top_class(probabilities: &[f32]) -> (usize, f32) {
    probabilities
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (c, p)| {
            if p > best.1 { (c, p) } else { best }
        })
}

/// The most probable class of each row (the first on ties).
pub fn argmax(probabilities: &[Vec<f32>]) -> Vec<u32> {
    probabilities
        .iter()
        .map(|p| top_class(p).0 as u32)
        .collect()
}
