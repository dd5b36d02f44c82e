//! The model card's sections (Mitchell et al. 2019), as `model-card.json` holds them.

use serde::{Deserialize, Serialize};

use super::metrics::{GroupMetrics, TestMetrics};
use super::robustness::ShiftedAccuracy;
use super::tabular::FeatureImportance;
use super::{Hardware, Provenance};
use crate::ExperimentConfig;
use crate::private::PrivacySummary;
use crate::run_dir::{SplitSizes, Summary};

/// `model-card.json`: every section of the card.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelCard {
    /// What the model is.
    pub model_details: ModelDetails,
    /// What it is for, and not for.
    pub intended_use: IntendedUse,
    /// What it was trained and evaluated on.
    pub data: DataSection,
    /// Classifiers: test metrics with 95% bootstrap intervals.
    pub metrics: Option<TestMetrics>,
    /// Language models: validation bits per character.
    pub bits_per_char: Option<f64>,
    /// Test metrics per group of each sensitive attribute.
    pub groups: Vec<GroupMetrics>,
    /// The train / validation / test gap, and accuracy under shifted inputs.
    pub generalization: Generalization,
    /// Tables: permutation feature importance on the test split, most important first.
    pub feature_importance: Vec<FeatureImportance>,
    /// How it was trained.
    pub training: Training,
    /// Where.
    pub hardware: Hardware,
    /// Known limits.
    pub caveats: Vec<String>,
    /// Pictures in the run folder the card shows.
    pub figures: Vec<Figure>,
}

/// The card's "model details".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelDetails {
    /// Experiment name.
    pub name: String,
    /// Model kind of the zoo.
    pub kind: String,
    /// The kind's description.
    pub description: String,
    /// The crate that defines it.
    pub crate_name: String,
    /// The module tree, as Burn prints it.
    pub layers: String,
    /// Parameters (batch-norm statistics included).
    pub params: usize,
    /// Size of `model.bpk`.
    pub weights_file_bytes: u64,
    /// Kiln version that wrote the card.
    pub kiln_version: String,
    /// Date of the card (UTC).
    pub date: String,
    /// `summary.json`'s weights hash.
    pub weights_sha256: String,
    /// Compressed runs: what `kiln compress` did.
    pub compressed: Option<String>,
}

/// The card's "intended use".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntendedUse {
    /// Primary use.
    pub primary: String,
    /// Uses it is not fit for.
    pub out_of_scope: Vec<String>,
}

impl IntendedUse {
    /// From the config's `[card]`, defaults of the dataset filling what it omits.
    pub fn from_config(config: &ExperimentConfig) -> Self {
        let dataset = if config.data.path.is_some() {
            ""
        } else {
            config.data.dataset.as_str()
        };
        let resolved = config.card.clone().unwrap_or_default().resolved(dataset);
        IntendedUse {
            primary: resolved.intended_use.unwrap_or_default(),
            out_of_scope: resolved.out_of_scope,
        }
    }
}

/// The card's "training and evaluation data".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataSection {
    /// Embedded dataset name or the user's file.
    pub dataset: String,
    /// Title, source and license.
    pub provenance: Provenance,
    /// Samples per split.
    pub samples: SplitSizes,
    /// How the splits were made.
    pub split: String,
    /// Sensitive attributes kept per sample.
    pub sensitive: Vec<String>,
}

impl DataSection {
    /// The data section of a run of `config` on `dataset`.
    pub fn new(config: &ExperimentConfig, dataset: &str, samples: SplitSizes) -> Self {
        let data = &config.data;
        let provenance = match &data.path {
            Some(path) => Provenance::user_file(&path.display().to_string()),
            None => kiln_data::embedded::readme(&data.dataset)
                .map_or_else(|| Provenance::user_file(dataset), Provenance::from_readme),
        };
        let split = match (data.dataset.as_str(), &data.path) {
            ("mnist-10k", None) => "the embedded 8,000 / 2,000 train / test files".to_string(),
            _ if data.split_column().is_some() => format!(
                "by the data's `{}` column (train / test)",
                data.split_column().unwrap_or_default()
            ),
            _ => format!(
                "seeded random split (seed {}), test fraction {}",
                config.seed, data.test_fraction
            ),
        };
        let split = if data.valid_fraction > 0.0 {
            format!(
                "{split}; validation: {} of the training split, held out with the seed",
                data.valid_fraction
            )
        } else {
            split
        };
        DataSection {
            dataset: dataset.into(),
            provenance,
            samples,
            split,
            sensitive: data.sensitive.clone(),
        }
    }
}

/// The generalization gap and the accuracy under shifted inputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generalization {
    /// Last epoch's training accuracy (with augmentation, dropout and noise, as trained).
    pub train_accuracy: f64,
    /// Validation accuracy of the returned model.
    pub valid_accuracy: Option<f64>,
    /// Test accuracy of the returned model.
    pub test_accuracy: f64,
    /// Training minus test accuracy.
    pub train_test_gap: f64,
    /// Image models: test accuracy under rotations, translations and noise.
    pub shifted: Vec<ShiftedAccuracy>,
}

impl Generalization {
    /// The gap from `summary.json`.
    pub fn from_summary(summary: &Summary) -> Self {
        Generalization {
            train_accuracy: summary.train.accuracy,
            valid_accuracy: summary.valid.map(|v| v.accuracy),
            test_accuracy: summary.test.accuracy,
            train_test_gap: summary.train.accuracy - summary.test.accuracy,
            shifted: Vec::new(),
        }
    }
}

/// The card's "training" section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Training {
    /// Optimizer name.
    pub optimizer: String,
    /// Learning rate.
    pub learning_rate: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Seed.
    pub seed: u64,
    /// Wall-clock seconds of the loop.
    pub train_seconds: f64,
    /// Differentially private runs: ε, δ and how.
    pub privacy: Option<PrivacySummary>,
    /// Distilled runs: the teacher's run folder.
    pub teacher: Option<String>,
    /// The resolved config, as `config.toml` holds it.
    pub config_toml: String,
}

impl Training {
    /// From the run's config and summary.
    pub fn new(config: &ExperimentConfig, summary: &Summary) -> Self {
        Training {
            optimizer: format!("{:?}", config.optim.name).to_lowercase(),
            learning_rate: config.optim.lr,
            epochs: summary.epochs,
            steps: summary.steps,
            batch_size: config.train.batch_size,
            seed: config.seed,
            train_seconds: summary.train_seconds,
            privacy: summary.privacy.clone(),
            teacher: config
                .distill
                .as_ref()
                .map(|d| d.teacher.display().to_string()),
            config_toml: config.to_toml(),
        }
    }
}

/// A picture of the run folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    /// What it shows.
    pub title: String,
    /// File name in the run folder.
    pub file: String,
}

impl Figure {
    /// A figure.
    pub fn new(title: &str, file: &str) -> Self {
        Figure {
            title: title.into(),
            file: file.into(),
        }
    }
}

/// Groups smaller than this get a caveat: their rates are uncertain.
const SMALL_GROUP: usize = 200;

/// The caveats the card finds itself, then the config's.
pub fn caveats(card: &ModelCard, config: &ExperimentConfig) -> Vec<String> {
    let mut caveats = Vec::new();
    let g = &card.generalization;
    if g.train_test_gap > 0.02 {
        caveats.push(format!(
            "Training accuracy is {:.1} points above test accuracy: the model fits its training data better than new data.",
            g.train_test_gap * 100.0
        ));
    }
    if let Some(worst) = g
        .shifted
        .iter()
        .min_by(|a, b| a.accuracy.total_cmp(&b.accuracy))
        .filter(|w| w.accuracy < g.test_accuracy - 0.1)
    {
        caveats.push(format!(
            "Accuracy falls to {:.3} under {} of {}: inputs unlike the training images are misread.",
            worst.accuracy, worst.distortion, worst.strength
        ));
    }
    if let Some(m) = &card.metrics
        && m.calibration.ece > 0.05
    {
        caveats.push(format!(
            "Its probabilities are miscalibrated (expected calibration error {:.3}): do not read them as frequencies.",
            m.calibration.ece
        ));
    }
    for attribute in &card.groups {
        for group in attribute.small_groups(SMALL_GROUP) {
            caveats.push(format!(
                "Group {}={} has only {} test samples: its rates have wide uncertainty.",
                attribute.attribute, group.0, group.1
            ));
        }
        if let Some(dp) = attribute.demographic_parity_difference
            && dp > 0.1
        {
            caveats.push(format!(
                "By {}, the selection rates differ by {:.3} (demographic-parity difference): the model treats the groups differently; see `kiln eval --by {} --mitigate demographic-parity`.",
                attribute.attribute, dp, attribute.attribute
            ));
        }
    }
    if let Some(p) = &card.training.privacy {
        caveats.push(format!(
            "Trained with differential privacy (ε = {:.2}, δ = {:.0e}); the accuracy cost of privacy falls hardest on small groups and rare classes.",
            p.epsilon, p.delta
        ));
    }
    caveats.push(
        "The metrics hold for data like the test split only; the intervals are 95% bootstrap intervals over its samples, not over new populations.".into(),
    );
    caveats.extend(config.card.iter().flat_map(|c| c.caveats.iter().cloned()));
    caveats
}
