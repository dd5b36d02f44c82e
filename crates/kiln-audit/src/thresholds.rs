//! Mitigation by post-processing: one decision threshold per group (the idea of Hardt, Price and
//! Srebro 2016 and of Fairlearn's `ThresholdOptimizer`), deterministic: no randomised mixing of
//! two thresholds, so equality holds only as far as the groups' scores allow, and the report
//! says how far that is.
//!
//! Fitting tries, as the common target, every operating point of every group (its selection
//! rate for demographic parity; its (FPR, TPR) for equalized odds), gives each group its point
//! closest to the target, and keeps the assignment with the best accuracy on the fitting set
//! among those whose disparity there is at most `tolerance`. Selecting nobody is always within
//! tolerance, so a fit always exists; when the scores are coarse (few distinct values) or the
//! groups small, the best feasible assignment may be close to that.

mod curve;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::confusion::GroupMetrics;
use crate::disparity::{Agg, Method};
use crate::error::{AuditError, LabelKind, Result, check_binary, check_len, sample};
use crate::frame::{MetricFrame, check_inputs};
use crate::table::{Table, num};
use curve::{Curve, Point};

/// What the per-group thresholds equalise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// Equal selection rates.
    DemographicParity,
    /// Equal true positive rates and equal false positive rates.
    EqualizedOdds,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Constraint::DemographicParity => "demographic parity",
            Constraint::EqualizedOdds => "equalized odds",
        })
    }
}

/// Fits per-group thresholds on scores (P(y = 1)), labels and one sensitive column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOptimizer {
    /// What to equalise.
    pub constraint: Constraint,
    /// The largest disparity allowed on the fitting set: the selection-rate difference, or the
    /// equalized-odds difference (worst case of TPR and FPR). Default 0.01.
    pub tolerance: f64,
}

impl ThresholdOptimizer {
    /// An optimizer for `constraint`, tolerance 0.01.
    pub fn new(constraint: Constraint) -> Self {
        ThresholdOptimizer {
            constraint,
            tolerance: 0.01,
        }
    }

    /// With another tolerance (in [0, 1]).
    pub fn with_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Chooses one threshold per group on the fitting set (a validation split, not the test
    /// set): the most accurate assignment whose disparity is within the tolerance.
    pub fn fit(
        &self,
        scores: &[f64],
        y_true: &[u8],
        groups: &[String],
    ) -> Result<FittedThresholds> {
        if !(0.0..=1.0).contains(&self.tolerance) {
            return Err(AuditError::InvalidArgument {
                what: "tolerance",
                message: format!("must be in [0, 1], got {}", self.tolerance),
            });
        }
        check_scored(scores, y_true, groups)?;
        check_binary(y_true, LabelKind::Label, sample)?;
        let mut by_group: BTreeMap<&str, Vec<(f64, u8)>> = BTreeMap::new();
        for ((&s, &y), g) in scores.iter().zip(y_true).zip(groups) {
            by_group.entry(g).or_default().push((s, y));
        }
        let names: Vec<String> = by_group.keys().map(|g| g.to_string()).collect();
        let curves: Vec<Curve> = by_group.into_values().map(Curve::new).collect();
        let chosen = search(&curves, self.constraint, self.tolerance);
        let thresholds = names
            .iter()
            .zip(&curves)
            .zip(&chosen)
            .map(|((group, curve), &k)| {
                let p = curve.point(k);
                GroupThreshold {
                    group: group.clone(),
                    threshold: curve.threshold(k),
                    count: curve.len(),
                    selection_rate: p.selection_rate,
                    tpr: p.tpr,
                    fpr: p.fpr,
                }
            })
            .collect();
        let correct: usize = curves.iter().zip(&chosen).map(|(c, &k)| c.correct(k)).sum();
        let points: Vec<Point> = curves
            .iter()
            .zip(&chosen)
            .map(|(c, &k)| c.point(k))
            .collect();
        Ok(FittedThresholds {
            constraint: self.constraint,
            tolerance: self.tolerance,
            thresholds,
            fitting: Reached {
                samples: scores.len(),
                accuracy: correct as f64 / scores.len() as f64,
                demographic_parity_difference: violation(&points, Constraint::DemographicParity),
                equalized_odds_difference: violation(&points, Constraint::EqualizedOdds),
            },
        })
    }
}

/// The chosen point of each curve. Each operating point of each group's curve is tried as
/// the lower corner of a window `tolerance` wide (in selection rate, or in TPR and FPR);
/// every group then takes its most accurate point inside the window (its closest point to
/// the corner when none is inside), so a larger tolerance trades parity for accuracy. The
/// most accurate feasible assignment wins, the least violating one when none is feasible.
fn search(curves: &[Curve], constraint: Constraint, tolerance: f64) -> Vec<usize> {
    let inside = |p: &Point, corner: &Point| {
        let within = |v: f64, lo: f64| v >= lo - 1e-12 && v <= lo + tolerance + 1e-12;
        match constraint {
            Constraint::DemographicParity => within(p.selection_rate, corner.selection_rate),
            Constraint::EqualizedOdds => within(p.tpr, corner.tpr) && within(p.fpr, corner.fpr),
        }
    };
    // (feasible, correct, -violation) is maximised; the first best candidate wins.
    let mut best: Option<(Vec<usize>, bool, usize, f64)> = None;
    for curve in curves {
        for k in 0..curve.points() {
            let corner = curve.point(k);
            let chosen: Vec<usize> = curves
                .iter()
                .map(|c| {
                    (0..c.points())
                        .filter(|&j| inside(&c.point(j), &corner))
                        .max_by_key(|&j| (c.correct(j), std::cmp::Reverse(j)))
                        .unwrap_or_else(|| c.closest(constraint, corner))
                })
                .collect();
            let points: Vec<Point> = curves
                .iter()
                .zip(&chosen)
                .map(|(c, &j)| c.point(j))
                .collect();
            let v = violation(&points, constraint);
            let feasible = v <= tolerance + 1e-12;
            let correct = curves.iter().zip(&chosen).map(|(c, &j)| c.correct(j)).sum();
            let better = match &best {
                None => true,
                Some((_, bf, bc, bv)) => (feasible, correct, -v) > (*bf, *bc, -*bv),
            };
            if better {
                best = Some((chosen, feasible, correct, v));
            }
        }
    }
    best.map(|b| b.0).unwrap_or_default()
}

/// Spread of what `constraint` equalises across the points.
fn violation(points: &[Point], constraint: Constraint) -> f64 {
    let spread = |f: fn(&Point) -> f64| {
        let lo = points.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        hi - lo
    };
    match constraint {
        Constraint::DemographicParity => spread(|p| p.selection_rate),
        Constraint::EqualizedOdds => spread(|p| p.tpr).max(spread(|p| p.fpr)),
    }
}

/// Same lengths, finite scores, at least one sample.
fn check_scored(scores: &[f64], y_true: &[u8], groups: &[String]) -> Result<()> {
    check_len("scores", "y_true", y_true.len(), scores.len())?;
    check_len("sensitive feature", "y_true", y_true.len(), groups.len())?;
    check_inputs(y_true, y_true)?;
    check_finite(scores)
}

fn check_finite(scores: &[f64]) -> Result<()> {
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(AuditError::NotFinite {
            index,
            value: scores[index],
        }),
        None => Ok(()),
    }
}

/// One group's threshold and what it reaches on the fitting set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupThreshold {
    /// The group.
    pub group: String,
    /// Predict 1 where `score >= threshold` (`inf`: nobody; `-inf`: everyone).
    #[serde(with = "crate::serde_inf")]
    pub threshold: f64,
    /// Fitting samples in the group.
    pub count: usize,
    /// Selection rate on the fitting set.
    pub selection_rate: f64,
    /// TPR on the fitting set.
    pub tpr: f64,
    /// FPR on the fitting set.
    pub fpr: f64,
}

/// What the fitted thresholds reach on the fitting set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reached {
    /// Fitting samples.
    pub samples: usize,
    /// Accuracy.
    pub accuracy: f64,
    /// Selection-rate difference between groups.
    pub demographic_parity_difference: f64,
    /// Worst of the TPR and FPR differences between groups.
    pub equalized_odds_difference: f64,
}

/// Thresholds fitted by [`ThresholdOptimizer::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedThresholds {
    /// What was equalised.
    pub constraint: Constraint,
    /// The disparity allowed on the fitting set.
    pub tolerance: f64,
    /// One threshold per group seen at fit time, sorted by group.
    pub thresholds: Vec<GroupThreshold>,
    /// What they reach on the fitting set.
    pub fitting: Reached,
}

impl FittedThresholds {
    /// The threshold of `group`, if it was seen at fit time.
    pub fn threshold(&self, group: &str) -> Option<f64> {
        self.thresholds
            .iter()
            .find(|t| t.group == group)
            .map(|t| t.threshold)
    }

    /// Predictions: 1 where the score reaches its group's threshold. A group not seen at fit
    /// time is an error.
    pub fn apply(&self, scores: &[f64], groups: &[String]) -> Result<Vec<u8>> {
        check_len("sensitive feature", "scores", scores.len(), groups.len())?;
        check_finite(scores)?;
        let by_name: BTreeMap<&str, f64> = self
            .thresholds
            .iter()
            .map(|t| (t.group.as_str(), t.threshold))
            .collect();
        scores
            .iter()
            .zip(groups)
            .enumerate()
            .map(|(index, (&s, g))| match by_name.get(g.as_str()) {
                Some(&t) => Ok(u8::from(s >= t)),
                None => Err(AuditError::UnseenGroup {
                    group: g.clone(),
                    index,
                    known: self.thresholds.iter().map(|t| t.group.clone()).collect(),
                }),
            })
            .collect()
    }

    /// Accuracy and disparities on `(scores, y_true, groups)` (e.g. the test split) before (one
    /// threshold `baseline` for everyone) and after (the per-group thresholds).
    pub fn evaluate(
        &self,
        scores: &[f64],
        y_true: &[u8],
        groups: &[String],
        baseline: f64,
    ) -> Result<MitigationReport> {
        check_scored(scores, y_true, groups)?;
        let before: Vec<u8> = scores.iter().map(|&s| u8::from(s >= baseline)).collect();
        let after = self.apply(scores, groups)?;
        let sensitive = [groups.to_vec()];
        let outcome = |pred: &[u8]| -> Result<Outcome> {
            Ok(Outcome::new(&MetricFrame::new(y_true, pred, &sensitive)?))
        };
        Ok(MitigationReport {
            constraint: self.constraint,
            tolerance: self.tolerance,
            baseline_threshold: baseline,
            thresholds: self.thresholds.clone(),
            fitting: self.fitting,
            before: outcome(&before)?,
            after: outcome(&after)?,
        })
    }
}

/// Accuracy and disparities of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Overall accuracy.
    pub accuracy: f64,
    /// Selection-rate difference between groups.
    pub demographic_parity_difference: f64,
    /// Selection-rate ratio between groups.
    pub demographic_parity_ratio: f64,
    /// Worst of the TPR and FPR differences.
    pub equalized_odds_difference: f64,
    /// Worst of the TPR and FPR ratios.
    pub equalized_odds_ratio: f64,
    /// Per-group metrics.
    pub groups: Vec<GroupMetrics>,
}

impl Outcome {
    /// The outcome summarised by `frame`.
    pub fn new(frame: &MetricFrame) -> Self {
        let m = Method::BetweenGroups;
        Outcome {
            accuracy: frame.overall().accuracy,
            demographic_parity_difference: frame.demographic_parity_difference(m),
            demographic_parity_ratio: frame.demographic_parity_ratio(m),
            equalized_odds_difference: frame.equalized_odds_difference(m, Agg::WorstCase),
            equalized_odds_ratio: frame.equalized_odds_ratio(m, Agg::WorstCase),
            groups: frame.by_group().to_vec(),
        }
    }
}

/// Before and after per-group thresholds, on an evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MitigationReport {
    /// What was equalised.
    pub constraint: Constraint,
    /// The disparity allowed on the fitting set.
    pub tolerance: f64,
    /// The single threshold of the "before" predictions.
    pub baseline_threshold: f64,
    /// The per-group thresholds.
    pub thresholds: Vec<GroupThreshold>,
    /// What they reached on the fitting set.
    pub fitting: Reached,
    /// With the single threshold.
    pub before: Outcome,
    /// With the per-group thresholds.
    pub after: Outcome,
}

impl fmt::Display for MitigationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Per-group thresholds for {} (tolerance {}), fitted on {} samples:",
            self.constraint, self.tolerance, self.fitting.samples
        )?;
        writeln!(f)?;
        let mut table = Table::new(["group", "threshold", "n", "selection rate", "TPR", "FPR"]);
        for t in &self.thresholds {
            table.row(vec![
                t.group.clone(),
                num(t.threshold),
                t.count.to_string(),
                num(t.selection_rate),
                num(t.tpr),
                num(t.fpr),
            ]);
        }
        table.write(f, 2)?;
        writeln!(
            f,
            "  reached on the fitting set: accuracy {}, demographic parity difference {}, \
             equalized odds difference {}",
            num(self.fitting.accuracy),
            num(self.fitting.demographic_parity_difference),
            num(self.fitting.equalized_odds_difference)
        )?;
        writeln!(f)?;
        let before = format!("before (threshold {})", self.baseline_threshold);
        let mut table = Table::new(["evaluation set", before.as_str(), "after"]);
        let (b, a) = (&self.before, &self.after);
        let rows = [
            ("accuracy", b.accuracy, a.accuracy),
            (
                "demographic parity difference",
                b.demographic_parity_difference,
                a.demographic_parity_difference,
            ),
            (
                "demographic parity ratio",
                b.demographic_parity_ratio,
                a.demographic_parity_ratio,
            ),
            (
                "equalized odds difference",
                b.equalized_odds_difference,
                a.equalized_odds_difference,
            ),
            (
                "equalized odds ratio",
                b.equalized_odds_ratio,
                a.equalized_odds_ratio,
            ),
        ];
        for (name, x, y) in rows {
            table.row(vec![name.to_string(), num(x), num(y)]);
        }
        for (gb, ga) in b.groups.iter().zip(&a.groups) {
            let name = format!("selection rate, {}", gb.group);
            table.row(vec![name, num(gb.selection_rate), num(ga.selection_rate)]);
        }
        table.write(f, 2)
    }
}
