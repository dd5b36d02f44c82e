//! [`FairnessReport`]: a [`MetricFrame`] with every disparity, serialisable and printable.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::confusion::{GroupMetrics, Metric};
use crate::disparity::{Agg, Method};
use crate::frame::MetricFrame;
use crate::table::{Table, num};

/// The four disparities of one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Disparity {
    /// `between_groups` difference: max − min.
    pub difference: f64,
    /// `between_groups` ratio: min / max.
    pub ratio: f64,
    /// `to_overall` difference: max |group − overall|.
    pub difference_to_overall: f64,
    /// `to_overall` ratio: min over groups of min(g/o, o/g).
    pub ratio_to_overall: f64,
}

/// The disparities of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDisparity {
    /// The metric.
    pub metric: Metric,
    /// Its disparities.
    #[serde(flatten)]
    pub disparity: Disparity,
}

/// Per-group metrics and disparities of a binary classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessReport {
    /// Names of the sensitive features.
    pub sensitive_features: Vec<String>,
    /// Each group, sorted.
    pub groups: Vec<GroupMetrics>,
    /// All samples.
    pub overall: GroupMetrics,
    /// Difference and ratio of each metric.
    pub disparities: Vec<MetricDisparity>,
    /// Of selection rates.
    pub demographic_parity: Disparity,
    /// Of TPR and FPR, worst case of the two.
    pub equalized_odds: Disparity,
}

impl FairnessReport {
    /// The report of `frame`.
    pub fn new(frame: &MetricFrame) -> Self {
        let of = |f: &dyn Fn(Method) -> f64, g: &dyn Fn(Method) -> f64| Disparity {
            difference: f(Method::BetweenGroups),
            ratio: g(Method::BetweenGroups),
            difference_to_overall: f(Method::ToOverall),
            ratio_to_overall: g(Method::ToOverall),
        };
        let disparities = Metric::ALL
            .iter()
            .map(|&metric| MetricDisparity {
                metric,
                disparity: of(&|m| frame.difference(metric, m), &|m| {
                    frame.ratio(metric, m)
                }),
            })
            .collect();
        FairnessReport {
            sensitive_features: frame.sensitive_features().to_vec(),
            groups: frame.by_group().to_vec(),
            overall: frame.overall().clone(),
            disparities,
            demographic_parity: of(&|m| frame.demographic_parity_difference(m), &|m| {
                frame.demographic_parity_ratio(m)
            }),
            equalized_odds: of(
                &|m| frame.equalized_odds_difference(m, Agg::WorstCase),
                &|m| frame.equalized_odds_ratio(m, Agg::WorstCase),
            ),
        }
    }
}

/// The rows of a per-group table of confusion counts and rates.
pub(crate) fn group_table<'a>(rows: impl IntoIterator<Item = &'a GroupMetrics>) -> Table {
    let mut table = Table::new([
        "group",
        "n",
        "TP",
        "FP",
        "TN",
        "FN",
        "accuracy",
        "selection rate",
        "TPR",
        "FPR",
    ]);
    for g in rows {
        table.row(vec![
            g.group.clone(),
            g.count.to_string(),
            g.tp.to_string(),
            g.fp.to_string(),
            g.tn.to_string(),
            g.fn_.to_string(),
            num(g.accuracy),
            num(g.selection_rate),
            num(g.tpr),
            num(g.fpr),
        ]);
    }
    table
}

impl fmt::Display for FairnessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Fairness by {}: {} samples, {} groups",
            self.sensitive_features.join(", "),
            self.overall.count,
            self.groups.len()
        )?;
        writeln!(f)?;
        group_table(self.groups.iter().chain([&self.overall])).write(f, 2)?;
        writeln!(f)?;
        let mut table = Table::new([
            "disparity",
            "difference",
            "ratio",
            "difference to overall",
            "ratio to overall",
        ]);
        let rows = self
            .disparities
            .iter()
            .map(|d| (d.metric.to_string(), &d.disparity))
            .chain([
                ("demographic parity".to_string(), &self.demographic_parity),
                ("equalized odds".to_string(), &self.equalized_odds),
            ]);
        for (name, d) in rows {
            table.row(vec![
                name,
                num(d.difference),
                num(d.ratio),
                num(d.difference_to_overall),
                num(d.ratio_to_overall),
            ]);
        }
        table.write(f, 2)
    }
}
