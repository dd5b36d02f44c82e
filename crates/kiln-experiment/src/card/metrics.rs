//! The card's test metrics: accuracy and per-class precision, recall and F1 with seeded
//! bootstrap intervals, calibration, and the metrics by group of each sensitive attribute
//! (all computed by kiln-audit).

use kiln_audit::{Bootstrap, MetricFrame, MulticlassFrame, Reliability};
use kiln_data::Samples;
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use crate::plot::{PointPanel, write_panels};

pub use kiln_audit::{ClassIntervals as ClassMetrics, Interval, Reliability as Calibration};

/// Bootstrap resamples of the card's intervals.
const RESAMPLES: usize = 1000;

/// Test metrics with 95% intervals and calibration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestMetrics {
    /// Test samples.
    pub samples: usize,
    /// Bootstrap resamples behind each interval.
    pub bootstrap_resamples: usize,
    /// The bootstrap's seed.
    pub seed: u64,
    /// Accuracy.
    pub accuracy: Interval,
    /// Precision, recall and F1 of each class.
    pub classes: Vec<ClassMetrics>,
    /// Reliability diagram and expected calibration error (15 bins).
    pub calibration: Calibration,
}

/// Audit errors are about data the run produced: report them as bad input.
fn audit(e: kiln_audit::AuditError) -> KilnError {
    KilnError::Input(e.to_string())
}

/// The test metrics of `predicted` (argmax of `probabilities`) against `labels`.
pub fn test_metrics(
    labels: &[u32],
    predicted: &[u32],
    probabilities: &[Vec<f32>],
    seed: u64,
) -> Result<TestMetrics> {
    let bootstrap = Bootstrap {
        resamples: RESAMPLES,
        confidence: 0.95,
        seed,
    };
    let intervals = bootstrap.classification(labels, predicted).map_err(audit)?;
    let confidences: Vec<f64> = probabilities
        .iter()
        .zip(predicted)
        .map(|(p, &c)| f64::from(p[c as usize]).clamp(0.0, 1.0))
        .collect();
    let correct: Vec<bool> = labels.iter().zip(predicted).map(|(l, p)| l == p).collect();
    let calibration =
        kiln_audit::reliability(&confidences, &correct, kiln_audit::DEFAULT_BINS).map_err(audit)?;
    Ok(TestMetrics {
        samples: labels.len(),
        bootstrap_resamples: RESAMPLES,
        seed,
        accuracy: intervals.accuracy,
        classes: intervals.classes,
        calibration,
    })
}

/// `confusion[true][predicted]` counts.
pub fn confusion(labels: &[u32], predicted: &[u32], classes: usize) -> Vec<Vec<usize>> {
    let mut counts = vec![vec![0; classes]; classes];
    for (&l, &p) in labels.iter().zip(predicted) {
        if (l as usize) < classes && (p as usize) < classes {
            counts[l as usize][p as usize] += 1;
        }
    }
    counts
}

/// Draws `reliability.png`: accuracy against confidence of each non-empty bin, the diagonal
/// in orange.
pub fn write_reliability(path: &std::path::Path, calibration: &Reliability) -> Result<()> {
    let points = calibration
        .bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.confidence, b.accuracy))
        .collect();
    write_panels(
        path,
        &[PointPanel {
            points,
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
            reference: Some(((0.0, 0.0), (1.0, 1.0))),
        }],
    )
}

/// One group's row of the card.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupRow {
    /// The attribute's value.
    pub group: String,
    /// Test samples in the group.
    pub count: usize,
    /// Accuracy in the group.
    pub accuracy: f64,
    /// Binary tasks: fraction predicted positive.
    pub selection_rate: Option<f64>,
    /// Binary tasks: true-positive rate.
    pub tpr: Option<f64>,
    /// Binary tasks: false-positive rate.
    pub fpr: Option<f64>,
}

/// The test metrics by the groups of one sensitive attribute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupMetrics {
    /// The attribute (`sex`).
    pub attribute: String,
    /// Each group, sorted by name.
    pub groups: Vec<GroupRow>,
    /// Binary tasks: max − min selection rate.
    pub demographic_parity_difference: Option<f64>,
    /// Binary tasks: min / max selection rate.
    pub demographic_parity_ratio: Option<f64>,
    /// Binary tasks: the larger of the TPR and FPR differences.
    pub equalized_odds_difference: Option<f64>,
    /// Binary tasks: the smaller of the TPR and FPR ratios.
    pub equalized_odds_ratio: Option<f64>,
}

impl GroupMetrics {
    /// Groups with fewer than `limit` samples, and their sizes.
    pub fn small_groups(&self, limit: usize) -> Vec<(String, usize)> {
        self.groups
            .iter()
            .filter(|g| g.count < limit)
            .map(|g| (g.group.clone(), g.count))
            .collect()
    }
}

/// The metrics by group of `predicted` on `test`, for `attribute` (a sensitive column kept
/// with the samples).
pub fn by_attribute(test: &Samples, predicted: &[u32], attribute: &str) -> Result<GroupMetrics> {
    let values: Vec<String> = test
        .attribute(attribute)?
        .into_iter()
        .map(String::from)
        .collect();
    let names = [attribute.to_string()];
    let binary = test.num_classes <= 2;
    if binary {
        let y_true: Vec<u8> = test.labels.iter().map(|&l| l as u8).collect();
        let y_pred: Vec<u8> = predicted.iter().map(|&p| p as u8).collect();
        let frame =
            MetricFrame::with_feature_names(&y_true, &y_pred, &names, &[values]).map_err(audit)?;
        let report = frame.report();
        return Ok(GroupMetrics {
            attribute: attribute.into(),
            groups: report
                .groups
                .iter()
                .map(|g| GroupRow {
                    group: g.group.clone(),
                    count: g.count,
                    accuracy: g.accuracy,
                    selection_rate: Some(g.selection_rate),
                    tpr: Some(g.tpr),
                    fpr: Some(g.fpr),
                })
                .collect(),
            demographic_parity_difference: Some(report.demographic_parity.difference),
            demographic_parity_ratio: Some(report.demographic_parity.ratio),
            equalized_odds_difference: Some(report.equalized_odds.difference),
            equalized_odds_ratio: Some(report.equalized_odds.ratio),
        });
    }
    let frame = MulticlassFrame::with_feature_names(&test.labels, predicted, &names, &[values])
        .map_err(audit)?;
    Ok(GroupMetrics {
        attribute: attribute.into(),
        groups: frame
            .by_group()
            .iter()
            .map(|g| GroupRow {
                group: g.group.clone(),
                count: g.count,
                accuracy: g.accuracy,
                selection_rate: None,
                tpr: None,
                fpr: None,
            })
            .collect(),
        demographic_parity_difference: None,
        demographic_parity_ratio: None,
        equalized_odds_difference: None,
        equalized_odds_ratio: None,
    })
}

/// The metrics by group of every sensitive attribute the test samples carry.
pub fn groups(test: &Samples, predicted: &[u32]) -> Result<Vec<GroupMetrics>> {
    test.groups
        .names
        .iter()
        .map(|name| by_attribute(test, predicted, name))
        .collect()
}
