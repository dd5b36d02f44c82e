//! The model card (Mitchell et al. 2019) of a run: `model-card.md` and `model-card.json`,
//! written by every `kiln train` and `kiln compress`, and again by `kiln card RUN_DIR`.

mod date;
mod hardware;
mod metrics;
mod predictions;
mod provenance;
mod render;
mod robustness;
mod sections;
mod tabular;

pub(crate) use tabular::column_groups;

use std::path::Path;

use burn::module::Module;
use kiln_train::{BackendKind, Result};
use kiln_zoo::AnyModel;

pub use hardware::Hardware;
pub use metrics::{Calibration, ClassMetrics, GroupMetrics, GroupRow, Interval, TestMetrics};
pub use predictions::{argmax, probabilities, top_class};
pub use provenance::Provenance;
pub use robustness::{DISTORTIONS, ShiftedAccuracy, shifted_accuracies};
pub use sections::{
    DataSection, Figure, Generalization, IntendedUse, ModelCard, ModelDetails, Training,
};
pub use tabular::FeatureImportance;

use crate::data::{Splits, prepare};
use crate::run_dir::{MODEL_FILE, read_summary};
use crate::{TrainedRun, load_run, plot};

/// File name of the rendered card.
pub const CARD_MARKDOWN: &str = "model-card.md";
/// File name of the card's data.
pub const CARD_JSON: &str = "model-card.json";
/// The seed of the card's bootstrap and noise (fixed: the same run gives the same card).
const CARD_SEED: u64 = 2019;

/// Writes `model-card.md`, `model-card.json` and the card's pictures into the run folder
/// `dir`, and returns the card.
pub fn write_card(dir: &Path, backend: Option<BackendKind>) -> Result<ModelCard> {
    let run = load_run(dir, backend)?;
    let card = build_card(&run)?;
    let json = serde_json::to_string_pretty(&card).expect("cards serialise");
    crate::run_dir::write_atomic(&dir.join(CARD_JSON), json.as_bytes())?;
    crate::run_dir::write_atomic(&dir.join(CARD_MARKDOWN), render::markdown(&card).as_bytes())?;
    Ok(card)
}

/// Measures everything the card reports on `run`.
pub fn build_card(run: &TrainedRun) -> Result<ModelCard> {
    let summary = read_summary(&run.dir)?;
    let compress = crate::compress::read_report(&run.dir)?;
    let config = &run.config;
    let kind = config.model.info();
    let weights_bytes = std::fs::metadata(run.dir.join(MODEL_FILE)).map_or(0, |m| m.len());
    let dataset = match &config.data.path {
        Some(path) => path.display().to_string(),
        None => config.data.dataset.clone(),
    };
    let mut figures = vec![Figure::new(
        "Training curves (loss, accuracy)",
        "curves.png",
    )];
    let mut card = ModelCard {
        model_details: ModelDetails {
            name: config.name.clone(),
            kind: kind.name.into(),
            description: kind.description.into(),
            crate_name: kind.crate_name.into(),
            layers: format!("{}", run.model),
            params: run.model.num_params(),
            weights_file_bytes: weights_bytes,
            kiln_version: env!("CARGO_PKG_VERSION").into(),
            date: date::today(),
            weights_sha256: summary.weights_sha256.clone(),
            compressed: compress.as_ref().map(|r| r.describe()),
        },
        intended_use: IntendedUse::from_config(config),
        data: DataSection::new(config, &dataset, summary.samples),
        metrics: None,
        bits_per_char: summary.test.bits_per_char,
        groups: Vec::new(),
        generalization: Generalization::from_summary(&summary),
        feature_importance: Vec::new(),
        training: Training::new(config, &summary),
        hardware: Hardware::of_this_machine(&summary.backend, &summary.precision),
        caveats: Vec::new(),
        figures: Vec::new(),
    };
    if !matches!(run.model, AnyModel::Charlm(_)) {
        let splits = prepare(&config.data, config.seed)?;
        measure_classifier(run, &splits, &mut card, &mut figures)?;
    }
    card.figures = figures;
    card.caveats = sections::caveats(&card, config);
    Ok(card)
}

/// The classifier's part of the card: test metrics with intervals, groups, shifted inputs,
/// feature importance, and their pictures.
fn measure_classifier(
    run: &TrainedRun,
    splits: &Splits,
    card: &mut ModelCard,
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let test = &splits.test;
    let test_probabilities = probabilities(run, test)?;
    let predicted = argmax(&test_probabilities);
    let metrics = metrics::test_metrics(&test.labels, &predicted, &test_probabilities, CARD_SEED)?;
    let confusion = metrics::confusion(&test.labels, &predicted, run.objective.classes());
    plot::write_confusion(&run.dir.join("confusion.png"), &confusion)?;
    figures.push(Figure::new(
        "Confusion matrix (test split)",
        "confusion.png",
    ));
    metrics::write_reliability(&run.dir.join("reliability.png"), &metrics.calibration)?;
    figures.push(Figure::new(
        "Reliability diagram (confidence against accuracy; the diagonal is perfect calibration)",
        "reliability.png",
    ));
    card.metrics = Some(metrics);
    card.groups = metrics::groups(test, &predicted)?;
    if test.sample_shape.len() == 3 {
        let pixel_std = run.preprocess.std.first().copied().unwrap_or(1.0);
        let shifted = shifted_accuracies(test, pixel_std, CARD_SEED, |samples| {
            probabilities(run, samples).map(|p| argmax(&p))
        })?;
        let clean = card.metrics.as_ref().map_or(0.0, |m| m.accuracy.estimate);
        robustness::write_picture(&run.dir.join("robustness.png"), &shifted, clean)?;
        figures.push(Figure::new(
            "Test accuracy under rotation (degrees), translation (pixels) and pixel noise (std)",
            "robustness.png",
        ));
        card.generalization.shifted = shifted;
    } else if test.sample_shape.len() == 1 {
        card.feature_importance = tabular::permutation_importance(run, test, CARD_SEED)?;
    }
    Ok(())
}
