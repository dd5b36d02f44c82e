//! `kiln explain`: integrated gradients of a trained run's predictions, features ranked for
//! tables, heat maps for images.

use std::path::PathBuf;

use kiln_explain::{
    Attribution, DEFAULT_SCALE, IgOptions, RankedFeature, group_attributions, integrated_gradients,
    rank_attributions, write_heat_map,
};
use kiln_train::{KilnError, Result};
use kiln_zoo::AnyModel;
use serde::Serialize;

use crate::TrainedRun;
use crate::card::{column_groups, top_class};

/// The baseline the path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// Zeros of the standardised space: the training mean of every feature.
    StandardisedZeros,
    /// Raw values of zero (a black image), standardised like any input.
    RawZeros,
}

/// How to explain.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// Gradient evaluations along the path.
    pub steps: usize,
    /// Where the path starts.
    pub baseline: Baseline,
    /// The class to explain (default: each input's predicted class).
    pub class: Option<usize>,
    /// Image models: the folder for the heat maps.
    pub heat_maps: Option<PathBuf>,
}

/// The explanation of one input.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The input's name (a file, or `row N`).
    pub input: String,
    /// The predicted class.
    pub predicted: usize,
    /// Its probability.
    pub probability: f32,
    /// The class explained.
    pub class: usize,
    /// Attributions per input value, f(x), f(baseline) and the completeness gap.
    pub attribution: Attribution,
    /// Tables: the source columns ranked by |attribution| (one-hot columns of a category
    /// summed), sign kept.
    pub ranking: Vec<RankedFeature>,
    /// Images: the heat map written.
    pub heat_map: Option<PathBuf>,
}

/// Refuses a language model: its inputs are tokens, which have no gradient.
pub fn refuse_language_model(run: &TrainedRun) -> Result<()> {
    if matches!(run.model, AnyModel::Charlm(_)) {
        return Err(KilnError::Input(format!(
            "{}: a character language model takes tokens, not floats: integrated gradients over its embeddings are not supported; explain an MLP, CNN or recurrent classifier",
            run.dir.display()
        )));
    }
    Ok(())
}

/// Explains `rows` (raw, `sample_size` values each, named by `names`) with integrated
/// gradients of the explained class's probability.
pub fn explain(
    run: &TrainedRun,
    mut rows: Vec<f32>,
    names: &[String],
    options: &ExplainOptions,
) -> Result<Vec<Explanation>> {
    refuse_language_model(run)?;
    let size = run.sample_size();
    let raw = rows.clone();
    let predictions = run.predict(rows.clone())?;
    rows.chunks_exact_mut(size)
        .for_each(|row| run.preprocess.apply(row));
    let baseline = match options.baseline {
        Baseline::StandardisedZeros => vec![0.0; size],
        Baseline::RawZeros => {
            let mut zeros = vec![0.0; size];
            run.preprocess.apply(&mut zeros);
            zeros
        }
    };
    let classes = run.objective.classes();
    if let Some(class) = options.class.filter(|&c| c >= classes) {
        return Err(KilnError::Input(format!(
            "--class {class}: the model predicts {classes} classes (0..{})",
            classes - 1
        )));
    }
    let ig = IgOptions::default().with_steps(options.steps);
    let image = match run.preprocess.sample_shape[..] {
        [_, h, w] => Some((h, w)),
        _ => None,
    };
    let feature_names = &run.preprocess.feature_names;
    let mut explanations = Vec::with_capacity(names.len());
    for (i, (row, name)) in rows.chunks_exact(size).zip(names).enumerate() {
        let (predicted, probability) = top_class(&predictions[i]);
        let class = options.class.unwrap_or(predicted);
        let attribution = integrated_gradients(
            |x| run.model.logits(x),
            row,
            Some(&baseline),
            class,
            &ig,
            &run.device,
        )
        .map_err(|e| KilnError::Input(format!("{name}: {e}")))?;
        let ranking = if image.is_none() && feature_names.len() == size {
            let groups = column_groups(feature_names);
            let grouped = group_attributions(&attribution.values, &groups)
                .map_err(|e| KilnError::Internal(e.to_string()))?;
            let group_names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            rank_attributions(&group_names, &grouped)
                .map_err(|e| KilnError::Internal(e.to_string()))?
        } else {
            Vec::new()
        };
        let heat_map = match (image, &options.heat_maps) {
            (Some((h, w)), Some(dir)) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    KilnError::Input(format!("{}: cannot create: {e}", dir.display()))
                })?;
                let stem = std::path::Path::new(name)
                    .file_stem()
                    .map_or_else(|| format!("input-{i}"), |s| s.to_string_lossy().into());
                let path = dir.join(format!("{stem}-class{class}-ig.png"));
                let pixels = &raw[i * size..(i + 1) * size];
                write_heat_map(
                    &path,
                    &attribution.values,
                    h,
                    w,
                    Some(pixels),
                    DEFAULT_SCALE,
                )
                .map_err(|e| KilnError::Input(format!("{}: {e}", path.display())))?;
                Some(path)
            }
            _ => None,
        };
        explanations.push(Explanation {
            input: name.clone(),
            predicted,
            probability,
            class,
            attribution,
            ranking,
            heat_map,
        });
    }
    Ok(explanations)
}
