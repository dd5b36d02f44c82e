//! [`MulticlassFrame`]: per-group count and accuracy, for classifiers with any number of classes.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::confusion::rate;
use crate::disparity::{self, Method};
use crate::error::Result;
use crate::frame::check_inputs;
use crate::groups::{Grouping, default_feature_names, find_group};
use crate::report::Disparity;
use crate::table::{Table, num};

/// Count and accuracy of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAccuracy {
    /// Group name (feature values joined with `", "`), or `overall`.
    pub group: String,
    /// The value of each sensitive feature (empty for `overall`).
    pub values: Vec<String>,
    /// Number of samples.
    pub count: usize,
    /// Samples whose prediction equals the label.
    pub correct: usize,
    /// correct / count.
    pub accuracy: f64,
}

/// Per-group accuracy of a multi-class classifier (labels and predictions are class indices).
/// The binary-only metrics (selection rate, TPR, FPR, parity) are in [`crate::MetricFrame`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassFrame {
    sensitive_features: Vec<String>,
    classes: Vec<u32>,
    by_group: Vec<GroupAccuracy>,
    overall: GroupAccuracy,
}

impl MulticlassFrame {
    /// Groups by the columns of `sensitive`, named `sensitive_feature_0`, ...
    pub fn new(y_true: &[u32], y_pred: &[u32], sensitive: &[Vec<String>]) -> Result<Self> {
        Self::with_feature_names(
            y_true,
            y_pred,
            &default_feature_names(sensitive.len()),
            sensitive,
        )
    }

    /// As [`MulticlassFrame::new`], naming the sensitive features.
    pub fn with_feature_names(
        y_true: &[u32],
        y_pred: &[u32],
        names: &[String],
        sensitive: &[Vec<String>],
    ) -> Result<Self> {
        check_inputs(y_true, y_pred)?;
        let grouping = Grouping::new(y_true.len(), names, sensitive)?;
        let mut counts = vec![(0usize, 0usize); grouping.names.len()];
        for (i, (t, p)) in y_true.iter().zip(y_pred).enumerate() {
            let c = &mut counts[grouping.of_sample[i]];
            c.0 += 1;
            c.1 += usize::from(t == p);
        }
        let make =
            |group: String, values: Vec<String>, (count, correct): (usize, usize)| GroupAccuracy {
                group,
                values,
                count,
                correct,
                accuracy: rate(correct, count),
            };
        let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
        let classes: BTreeSet<u32> = y_true.iter().chain(y_pred).copied().collect();
        Ok(MulticlassFrame {
            sensitive_features: grouping.features,
            classes: classes.into_iter().collect(),
            by_group: grouping
                .names
                .into_iter()
                .zip(grouping.values)
                .zip(counts)
                .map(|((n, v), c)| make(n, v, c))
                .collect(),
            overall: make("overall".into(), Vec::new(), (y_true.len(), correct)),
        })
    }

    /// The names of the sensitive features.
    pub fn sensitive_features(&self) -> &[String] {
        &self.sensitive_features
    }

    /// The classes seen in labels or predictions, sorted.
    pub fn classes(&self) -> &[u32] {
        &self.classes
    }

    /// Every group, sorted.
    pub fn by_group(&self) -> &[GroupAccuracy] {
        &self.by_group
    }

    /// All samples.
    pub fn overall(&self) -> &GroupAccuracy {
        &self.overall
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Result<&GroupAccuracy> {
        let names: Vec<String> = self.by_group.iter().map(|g| g.group.clone()).collect();
        find_group(&names, name).map(|i| &self.by_group[i])
    }

    fn accuracies(&self) -> Vec<f64> {
        self.by_group.iter().map(|g| g.accuracy).collect()
    }

    /// Difference of accuracies (Fairlearn's `difference`).
    pub fn accuracy_difference(&self, method: Method) -> f64 {
        disparity::difference(&self.accuracies(), self.overall.accuracy, method)
    }

    /// Ratio of accuracies (Fairlearn's `ratio`).
    pub fn accuracy_ratio(&self, method: Method) -> f64 {
        disparity::ratio(&self.accuracies(), self.overall.accuracy, method)
    }

    /// Everything above in one serialisable report.
    pub fn report(&self) -> MulticlassReport {
        MulticlassReport {
            sensitive_features: self.sensitive_features.clone(),
            classes: self.classes.clone(),
            groups: self.by_group.clone(),
            overall: self.overall.clone(),
            accuracy: Disparity {
                difference: self.accuracy_difference(Method::BetweenGroups),
                ratio: self.accuracy_ratio(Method::BetweenGroups),
                difference_to_overall: self.accuracy_difference(Method::ToOverall),
                ratio_to_overall: self.accuracy_ratio(Method::ToOverall),
            },
        }
    }
}

/// Per-group accuracy of a multi-class classifier and its disparities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassReport {
    /// Names of the sensitive features.
    pub sensitive_features: Vec<String>,
    /// Classes seen, sorted.
    pub classes: Vec<u32>,
    /// Each group, sorted.
    pub groups: Vec<GroupAccuracy>,
    /// All samples.
    pub overall: GroupAccuracy,
    /// Disparities of accuracy.
    pub accuracy: Disparity,
}

impl fmt::Display for MulticlassReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Accuracy by {}: {} samples, {} groups, {} classes (multi-class: count and accuracy only)",
            self.sensitive_features.join(", "),
            self.overall.count,
            self.groups.len(),
            self.classes.len()
        )?;
        writeln!(f)?;
        let mut table = Table::new(["group", "n", "correct", "accuracy"]);
        for g in self.groups.iter().chain([&self.overall]) {
            table.row(vec![
                g.group.clone(),
                g.count.to_string(),
                g.correct.to_string(),
                num(g.accuracy),
            ]);
        }
        table.write(f, 2)?;
        writeln!(f)?;
        let a = &self.accuracy;
        writeln!(
            f,
            "  accuracy difference {} (to overall {}), ratio {} (to overall {})",
            num(a.difference),
            num(a.difference_to_overall),
            num(a.ratio),
            num(a.ratio_to_overall)
        )
    }
}

impl fmt::Display for MulticlassFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.report().fmt(f)
    }
}
