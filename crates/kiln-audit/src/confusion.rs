//! One group's confusion counts and the rates computed from them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A per-group metric of a binary classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// (TP + TN) / n.
    Accuracy,
    /// Fraction predicted 1: (TP + FP) / n.
    SelectionRate,
    /// TP / (TP + FN), the recall of class 1.
    TruePositiveRate,
    /// FP / (FP + TN).
    FalsePositiveRate,
}

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 4] = [
        Metric::Accuracy,
        Metric::SelectionRate,
        Metric::TruePositiveRate,
        Metric::FalsePositiveRate,
    ];
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::Accuracy => "accuracy",
            Metric::SelectionRate => "selection rate",
            Metric::TruePositiveRate => "TPR",
            Metric::FalsePositiveRate => "FPR",
        })
    }
}

/// `num / den`, with 0/0 = 0.0 (scikit-learn's `zero_division` default, as Fairlearn uses).
pub(crate) fn rate(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Confusion counts and rates of one group (or of all samples: `overall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// Group name: the feature values joined with `", "`, or `overall`.
    pub group: String,
    /// The value of each sensitive feature (empty for `overall`).
    pub values: Vec<String>,
    /// Number of samples.
    pub count: usize,
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// (TP + TN) / n.
    pub accuracy: f64,
    /// (TP + FP) / n.
    pub selection_rate: f64,
    /// TP / (TP + FN), 0 when the group has no positives.
    pub tpr: f64,
    /// FP / (FP + TN), 0 when the group has no negatives.
    pub fpr: f64,
}

impl GroupMetrics {
    /// Rates from counts.
    pub fn from_counts(
        group: impl Into<String>,
        values: Vec<String>,
        [tp, fp, tn, fn_]: [usize; 4],
    ) -> Self {
        let count = tp + fp + tn + fn_;
        GroupMetrics {
            group: group.into(),
            values,
            count,
            tp,
            fp,
            tn,
            fn_,
            accuracy: rate(tp + tn, count),
            selection_rate: rate(tp + fp, count),
            tpr: rate(tp, tp + fn_),
            fpr: rate(fp, fp + tn),
        }
    }

    /// The value of `metric`.
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Accuracy => self.accuracy,
            Metric::SelectionRate => self.selection_rate,
            Metric::TruePositiveRate => self.tpr,
            Metric::FalsePositiveRate => self.fpr,
        }
    }
}

/// Adds one sample to `[TP, FP, TN, FN]`.
pub(crate) fn count(counts: &mut [usize; 4], y_true: u8, y_pred: u8) {
    let slot = match (y_true, y_pred) {
        (1, 1) => 0,
        (0, 1) => 1,
        (0, 0) => 2,
        _ => 3,
    };
    counts[slot] += 1;
}
