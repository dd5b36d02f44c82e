//! Differences and ratios of one metric across groups (Fairlearn's `difference` / `ratio`).

use serde::{Deserialize, Serialize};

/// How a disparity is measured (Fairlearn's `method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Largest group value against the smallest: `max − min`, `min / max`.
    #[default]
    BetweenGroups,
    /// Each group against the overall value: `max |g − overall|`, `min min(g/o, o/g)`.
    ToOverall,
}

/// How equalized odds combines its TPR and FPR disparities (Fairlearn's `agg`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// The worse of the two: larger difference, smaller ratio.
    #[default]
    WorstCase,
    /// The mean of the two.
    Mean,
}

/// `max − min` over groups, or `max |g − overall|`.
pub(crate) fn difference(groups: &[f64], overall: f64, method: Method) -> f64 {
    match method {
        Method::BetweenGroups => max(groups) - min(groups),
        Method::ToOverall => max_by(groups, |g| (g - overall).abs()),
    }
}

/// `min / max` over groups, or `min over groups of min(g/o, o/g)`. Where both sides are 0 (every
/// group at 0) the ratio is 1.0: the groups are equal (Fairlearn gives NaN there).
pub(crate) fn ratio(groups: &[f64], overall: f64, method: Method) -> f64 {
    match method {
        Method::BetweenGroups => quotient(min(groups), max(groups)),
        Method::ToOverall => groups
            .iter()
            .map(|&g| {
                // As Fairlearn: r = g / o, then r if r < 1 else 1 / r.
                if g == 0.0 && overall == 0.0 {
                    1.0
                } else {
                    let r = g / overall;
                    if r < 1.0 { r } else { 1.0 / r }
                }
            })
            .fold(f64::INFINITY, f64::min),
    }
}

/// Combines the TPR and FPR disparities as `agg` says; `larger_is_worse` for differences.
pub(crate) fn aggregate(a: f64, b: f64, agg: Agg, larger_is_worse: bool) -> f64 {
    match agg {
        Agg::WorstCase if larger_is_worse => a.max(b),
        Agg::WorstCase => a.min(b),
        Agg::Mean => (a + b) / 2.0,
    }
}

fn quotient(num: f64, den: f64) -> f64 {
    if num == 0.0 && den == 0.0 {
        1.0
    } else {
        num / den
    }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max_by(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    values
        .iter()
        .map(|&v| f(v))
        .fold(f64::NEG_INFINITY, f64::max)
}
