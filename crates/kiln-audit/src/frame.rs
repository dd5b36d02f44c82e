//! [`MetricFrame`]: confusion counts and rates per group and overall, and their disparities.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::confusion::{GroupMetrics, Metric, count};
use crate::disparity::{self, Agg, Method};
use crate::error::{AuditError, LabelKind, Result, check_binary, check_len, sample};
use crate::groups::{Grouping, default_feature_names, find_group};
use crate::report::FairnessReport;

/// Binary-classification metrics by group, as Fairlearn's `MetricFrame` computes them for
/// accuracy, selection rate, TPR and FPR. Groups are sorted by their tuple of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFrame {
    sensitive_features: Vec<String>,
    by_group: Vec<GroupMetrics>,
    overall: GroupMetrics,
}

impl MetricFrame {
    /// Groups by the columns of `sensitive` (one value per sample each), named
    /// `sensitive_feature_0`, ... as Fairlearn names unnamed columns.
    pub fn new(y_true: &[u8], y_pred: &[u8], sensitive: &[Vec<String>]) -> Result<Self> {
        Self::with_feature_names(
            y_true,
            y_pred,
            &default_feature_names(sensitive.len()),
            sensitive,
        )
    }

    /// As [`MetricFrame::new`], naming the sensitive features (`sex`, `race`).
    pub fn with_feature_names(
        y_true: &[u8],
        y_pred: &[u8],
        names: &[String],
        sensitive: &[Vec<String>],
    ) -> Result<Self> {
        check_inputs(y_true, y_pred)?;
        check_binary(y_true, LabelKind::Label, sample)?;
        check_binary(y_pred, LabelKind::Prediction, sample)?;
        let grouping = Grouping::new(y_true.len(), names, sensitive)?;
        let mut counts = vec![[0usize; 4]; grouping.names.len()];
        let mut all = [0usize; 4];
        for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            count(&mut counts[grouping.of_sample[i]], t, p);
            count(&mut all, t, p);
        }
        let by_group = grouping
            .names
            .iter()
            .zip(grouping.values)
            .zip(counts)
            .map(|((name, values), c)| GroupMetrics::from_counts(name.clone(), values, c))
            .collect();
        Ok(MetricFrame {
            sensitive_features: grouping.features,
            by_group,
            overall: GroupMetrics::from_counts("overall", Vec::new(), all),
        })
    }

    /// The names of the sensitive features.
    pub fn sensitive_features(&self) -> &[String] {
        &self.sensitive_features
    }

    /// Every group's metrics, sorted.
    pub fn by_group(&self) -> &[GroupMetrics] {
        &self.by_group
    }

    /// The metrics of all samples together.
    pub fn overall(&self) -> &GroupMetrics {
        &self.overall
    }

    /// The metrics of the group named `name` (e.g. `Female`, or `Female, White`).
    pub fn group(&self, name: &str) -> Result<&GroupMetrics> {
        let names: Vec<String> = self.by_group.iter().map(|g| g.group.clone()).collect();
        find_group(&names, name).map(|i| &self.by_group[i])
    }

    /// The values of `metric` in group order.
    pub fn values(&self, metric: Metric) -> Vec<f64> {
        self.by_group.iter().map(|g| g.get(metric)).collect()
    }

    /// The smallest group value of `metric`.
    pub fn group_min(&self, metric: Metric) -> f64 {
        self.values(metric)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }

    /// The largest group value of `metric`.
    pub fn group_max(&self, metric: Metric) -> f64 {
        self.values(metric)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// Fairlearn's `difference(method)` of `metric`.
    pub fn difference(&self, metric: Metric, method: Method) -> f64 {
        disparity::difference(&self.values(metric), self.overall.get(metric), method)
    }

    /// Fairlearn's `ratio(method)` of `metric` (1.0 where every group is at 0).
    pub fn ratio(&self, metric: Metric, method: Method) -> f64 {
        disparity::ratio(&self.values(metric), self.overall.get(metric), method)
    }

    /// Difference of selection rates.
    pub fn demographic_parity_difference(&self, method: Method) -> f64 {
        self.difference(Metric::SelectionRate, method)
    }

    /// Ratio of selection rates.
    pub fn demographic_parity_ratio(&self, method: Method) -> f64 {
        self.ratio(Metric::SelectionRate, method)
    }

    /// TPR and FPR differences combined by `agg` (worst case: the larger).
    pub fn equalized_odds_difference(&self, method: Method, agg: Agg) -> f64 {
        disparity::aggregate(
            self.difference(Metric::TruePositiveRate, method),
            self.difference(Metric::FalsePositiveRate, method),
            agg,
            true,
        )
    }

    /// TPR and FPR ratios combined by `agg` (worst case: the smaller).
    pub fn equalized_odds_ratio(&self, method: Method, agg: Agg) -> f64 {
        disparity::aggregate(
            self.ratio(Metric::TruePositiveRate, method),
            self.ratio(Metric::FalsePositiveRate, method),
            agg,
            false,
        )
    }

    /// Everything above in one serialisable report (for `--json` and the terminal).
    pub fn report(&self) -> FairnessReport {
        FairnessReport::new(self)
    }
}

impl fmt::Display for MetricFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.report().fmt(f)
    }
}

/// Same lengths, at least one sample.
pub(crate) fn check_inputs<T>(y_true: &[T], y_pred: &[T]) -> Result<()> {
    check_len("y_pred", "y_true", y_true.len(), y_pred.len())?;
    if y_true.is_empty() {
        return Err(AuditError::NoSamples {
            what: "y_true".into(),
        });
    }
    Ok(())
}

/// Fairlearn's `demographic_parity_difference(y_true, y_pred, sensitive_features, method)`.
pub fn demographic_parity_difference(
    y_true: &[u8],
    y_pred: &[u8],
    sensitive: &[Vec<String>],
    method: Method,
) -> Result<f64> {
    Ok(MetricFrame::new(y_true, y_pred, sensitive)?.demographic_parity_difference(method))
}

/// Fairlearn's `demographic_parity_ratio`.
pub fn demographic_parity_ratio(
    y_true: &[u8],
    y_pred: &[u8],
    sensitive: &[Vec<String>],
    method: Method,
) -> Result<f64> {
    Ok(MetricFrame::new(y_true, y_pred, sensitive)?.demographic_parity_ratio(method))
}

/// Fairlearn's `equalized_odds_difference(..., method, agg)`.
pub fn equalized_odds_difference(
    y_true: &[u8],
    y_pred: &[u8],
    sensitive: &[Vec<String>],
    method: Method,
    agg: Agg,
) -> Result<f64> {
    Ok(MetricFrame::new(y_true, y_pred, sensitive)?.equalized_odds_difference(method, agg))
}

/// Fairlearn's `equalized_odds_ratio(..., method, agg)`.
pub fn equalized_odds_ratio(
    y_true: &[u8],
    y_pred: &[u8],
    sensitive: &[Vec<String>],
    method: Method,
    agg: Agg,
) -> Result<f64> {
    Ok(MetricFrame::new(y_true, y_pred, sensitive)?.equalized_odds_ratio(method, agg))
}
