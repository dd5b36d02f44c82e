//! Auditing a classifier's predictions, whoever made them (no Burn, no model: labels,
//! predictions, scores and sensitive columns in, numbers out):
//!
//! - [`MetricFrame`]: per-group and overall count, TP, FP, TN, FN, accuracy, selection rate,
//!   TPR and FPR, with Fairlearn 0.15's `MetricFrame` semantics, their differences and ratios
//!   ([`Method`]), demographic parity and equalized odds ([`Agg`]); [`FairnessReport`] for
//!   `--json` and the terminal. [`MulticlassFrame`]: count and accuracy per group, any classes.
//! - [`predictions`]: reading a predictions CSV (`kiln fairness PREDICTIONS.csv --label COL
//!   --prediction COL --by COL[,COL] [--score COL]`).
//! - [`thresholds`]: mitigation by one decision threshold per group (post-processing).
//! - [`bootstrap`]: seeded percentile confidence intervals of accuracy and per-class precision,
//!   recall and F1; [`calibration`]: expected calibration error and the reliability diagram.
//!
//! Checked against Fairlearn's reference values on UCI Adult (`tests/adult_reference.rs`).
#![warn(missing_docs)]

pub mod bootstrap;
pub mod calibration;
mod confusion;
mod disparity;
mod error;
mod frame;
mod groups;
mod multiclass;
pub mod predictions;
mod report;
pub mod rng;
mod serde_inf;
mod table;
pub mod thresholds;

pub use bootstrap::{Bootstrap, ClassIntervals, ClassificationIntervals, Interval};
pub use calibration::{DEFAULT_BINS, Reliability, ReliabilityBin, ece, reliability};
pub use confusion::{GroupMetrics, Metric};
pub use disparity::{Agg, Method};
pub use error::{AuditError, LabelKind, Result};
pub use frame::{
    MetricFrame, demographic_parity_difference, demographic_parity_ratio,
    equalized_odds_difference, equalized_odds_ratio,
};
pub use multiclass::{GroupAccuracy, MulticlassFrame, MulticlassReport};
pub use predictions::{
    AuditReport, PredictionColumns, Predictions, read_predictions, split_columns,
};
pub use report::{Disparity, FairnessReport, MetricDisparity};
pub use thresholds::{
    Constraint, FittedThresholds, GroupThreshold, MitigationReport, Outcome, Reached,
    ThresholdOptimizer,
};
