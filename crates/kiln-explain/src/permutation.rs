//! Permutation feature importance (Breiman 2001; the semantics of scikit-learn's
//! `permutation_importance`): how much accuracy drops when a feature's column is shuffled
//! across rows, breaking its link with the label while keeping its distribution.

use serde::{Deserialize, Serialize};

use crate::ExplainError;
use crate::rng::SplitMix64;

/// Columns permuted together and reported as one feature, for example the one-hot columns of
/// a categorical feature (each row keeps a valid one-hot code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureGroup {
    /// The name reported for the group.
    pub name: String,
    /// Column indices within a row.
    pub columns: Vec<usize>,
}

impl FeatureGroup {
    /// A group named `name` of `columns`.
    pub fn new(name: impl Into<String>, columns: Vec<usize>) -> Self {
        Self {
            name: name.into(),
            columns,
        }
    }

    /// One group per column, named after the column, in column order.
    pub fn singletons<S: AsRef<str>>(names: &[S]) -> Vec<Self> {
        names
            .iter()
            .enumerate()
            .map(|(column, name)| Self::new(name.as_ref(), vec![column]))
            .collect()
    }

    /// An error unless the group has columns and all of them are below `width`.
    pub(crate) fn check(&self, width: usize) -> Result<(), ExplainError> {
        if self.columns.is_empty() {
            return Err(ExplainError::Empty("a feature group's columns"));
        }
        match self.columns.iter().find(|&&c| c >= width) {
            Some(&column) => Err(ExplainError::ColumnOutOfRange {
                group: self.name.clone(),
                column,
                width,
            }),
            None => Ok(()),
        }
    }
}

/// The importance of one feature (or group of columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// The feature's (group's) index in the order given.
    pub index: usize,
    /// The feature's (group's) name.
    pub name: String,
    /// The columns permuted.
    pub columns: Vec<usize>,
    /// Accuracy on the unpermuted rows.
    pub baseline_accuracy: f64,
    /// Mean over the repeats of `baseline accuracy - accuracy with the columns permuted`.
    pub mean_drop: f64,
    /// Standard deviation of the drops over the repeats (population, as NumPy's `std`).
    pub std: f64,
    /// The drop of each repeat.
    pub drops: Vec<f64>,
}

/// Permutation importance of every column of `features` (row-major, `width` values per row,
/// one `labels` entry per row), named by column index, in column order.
///
/// `predict` maps flat rows to one class per row. Each of the `repeats` permutations of the
/// rows is drawn from `seed` and shared by all columns (as scikit-learn does); the same seed
/// gives the same result.
pub fn permutation_importance(
    predict: impl Fn(&[f32]) -> Vec<u32>,
    features: &[f32],
    labels: &[u32],
    width: usize,
    repeats: usize,
    seed: u64,
) -> Result<Vec<Importance>, ExplainError> {
    let names: Vec<String> = (0..width).map(|c| c.to_string()).collect();
    let groups = FeatureGroup::singletons(&names);
    grouped_permutation_importance(predict, features, labels, width, &groups, repeats, seed)
}

/// [`permutation_importance`] of `groups` of columns, each group's columns permuted together
/// (with the same row permutation), in the order of `groups`. Groups may overlap; columns in
/// no group are never permuted.
pub fn grouped_permutation_importance(
    predict: impl Fn(&[f32]) -> Vec<u32>,
    features: &[f32],
    labels: &[u32],
    width: usize,
    groups: &[FeatureGroup],
    repeats: usize,
    seed: u64,
) -> Result<Vec<Importance>, ExplainError> {
    if width == 0 {
        return Err(ExplainError::Zero("width"));
    }
    if repeats == 0 {
        return Err(ExplainError::Zero("repeats"));
    }
    if labels.is_empty() {
        return Err(ExplainError::Empty("labels"));
    }
    if groups.is_empty() {
        return Err(ExplainError::Empty("feature groups"));
    }
    let rows = labels.len();
    if features.len() != rows * width {
        return Err(ExplainError::LengthMismatch {
            what: "features (labels x width)",
            expected: rows * width,
            actual: features.len(),
        });
    }
    for group in groups {
        group.check(width)?;
    }
    let accuracy = |data: &[f32]| -> Result<f64, ExplainError> {
        let predicted = predict(data);
        if predicted.len() != rows {
            return Err(ExplainError::BadPrediction {
                expected: rows,
                actual: predicted.len(),
            });
        }
        let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(correct as f64 / rows as f64)
    };
    let baseline_accuracy = accuracy(features)?;
    let mut rng = SplitMix64::new(seed);
    let permutations: Vec<Vec<usize>> = (0..repeats).map(|_| rng.permutation(rows)).collect();

    let mut shuffled = features.to_vec();
    let mut importances = Vec::with_capacity(groups.len());
    for (index, group) in groups.iter().enumerate() {
        let mut drops = Vec::with_capacity(repeats);
        for permutation in &permutations {
            for (row, &source) in permutation.iter().enumerate() {
                for &c in &group.columns {
                    shuffled[row * width + c] = features[source * width + c];
                }
            }
            drops.push(baseline_accuracy - accuracy(&shuffled)?);
        }
        for row in 0..rows {
            for &c in &group.columns {
                shuffled[row * width + c] = features[row * width + c];
            }
        }
        let mean_drop = drops.iter().sum::<f64>() / repeats as f64;
        let variance = drops.iter().map(|d| (d - mean_drop).powi(2)).sum::<f64>() / repeats as f64;
        importances.push(Importance {
            index,
            name: group.name.clone(),
            columns: group.columns.clone(),
            baseline_accuracy,
            mean_drop,
            std: variance.sqrt(),
            drops,
        });
    }
    Ok(importances)
}

/// `importances` sorted by mean accuracy drop, largest first (ties in their given order).
pub fn rank_importances(mut importances: Vec<Importance>) -> Vec<Importance> {
    importances.sort_by(|a, b| b.mean_drop.total_cmp(&a.mean_drop));
    importances
}
