//! Calibration of a classifier's confidence: the reliability diagram and the expected
//! calibration error (ECE) of Guo, Pleiss, Sun and Weinberger 2017, with equal-width bins.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AuditError, Result, check_len};
use crate::table::{Table, num};

/// The number of bins of Guo et al. 2017.
pub const DEFAULT_BINS: usize = 15;

/// One bin of a reliability diagram: samples whose confidence lies in (lower, upper] (the
/// first bin also holds confidence 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Samples in the bin.
    pub count: usize,
    /// Mean confidence of those samples (0 for an empty bin).
    pub confidence: f64,
    /// Fraction of them that are correct (0 for an empty bin).
    pub accuracy: f64,
}

/// A reliability diagram and the calibration errors it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    /// Number of samples.
    pub samples: usize,
    /// Equal-width bins over [0, 1], in order.
    pub bins: Vec<ReliabilityBin>,
    /// Σ (n_b / n) |accuracy_b − confidence_b|.
    pub ece: f64,
    /// Largest |accuracy_b − confidence_b| over non-empty bins.
    pub mce: f64,
}

/// The reliability diagram of `confidences` (the probability given to the predicted class)
/// and whether each prediction was `correct`.
pub fn reliability(confidences: &[f64], correct: &[bool], bins: usize) -> Result<Reliability> {
    check_len("correct", "confidences", confidences.len(), correct.len())?;
    if confidences.is_empty() {
        return Err(AuditError::NoSamples {
            what: "confidences".into(),
        });
    }
    if bins == 0 {
        return Err(AuditError::InvalidArgument {
            what: "number of bins",
            message: "need at least one bin".into(),
        });
    }
    if let Some(i) = confidences.iter().position(|c| !(0.0..=1.0).contains(c)) {
        return Err(AuditError::InvalidArgument {
            what: "confidence",
            message: format!(
                "confidence {} at sample {i} is not a probability in [0, 1]",
                confidences[i]
            ),
        });
    }
    let edges: Vec<f64> = (0..=bins).map(|b| b as f64 / bins as f64).collect();
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (&c, &ok) in confidences.iter().zip(correct) {
        let slot = &mut sums[bin_of(c, &edges)];
        slot.0 += 1;
        slot.1 += c;
        slot.2 += usize::from(ok);
    }
    let n = confidences.len();
    let (mut ece, mut mce) = (0.0, 0.0f64);
    let bins = sums
        .iter()
        .enumerate()
        .map(|(b, &(count, conf_sum, right))| {
            let (confidence, accuracy) = if count == 0 {
                (0.0, 0.0)
            } else {
                (conf_sum / count as f64, right as f64 / count as f64)
            };
            if count > 0 {
                let gap = (accuracy - confidence).abs();
                ece += count as f64 / n as f64 * gap;
                mce = mce.max(gap);
            }
            ReliabilityBin {
                lower: edges[b],
                upper: edges[b + 1],
                count,
                confidence,
                accuracy,
            }
        })
        .collect();
    Ok(Reliability {
        samples: n,
        bins,
        ece,
        mce,
    })
}

/// The expected calibration error with `bins` equal-width bins (Guo et al. use 15).
pub fn ece(confidences: &[f64], correct: &[bool], bins: usize) -> Result<f64> {
    reliability(confidences, correct, bins).map(|r| r.ece)
}

/// The bin b with edges[b] < c <= edges[b + 1] (bin 0 for c = 0).
fn bin_of(c: f64, edges: &[f64]) -> usize {
    let bins = edges.len() - 1;
    // First edge >= c, among edges[1..]: c lies in the bin it closes.
    edges[1..].partition_point(|&e| e < c).min(bins - 1)
}

impl fmt::Display for Reliability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Calibration: ECE {}, MCE {} ({} samples, {} bins)",
            num(self.ece),
            num(self.mce),
            self.samples,
            self.bins.len()
        )?;
        let mut table = Table::new(["bin", "n", "confidence", "accuracy"]);
        for b in &self.bins {
            table.row(vec![
                format!("({:.3}, {:.3}]", b.lower, b.upper),
                b.count.to_string(),
                num(b.confidence),
                num(b.accuracy),
            ]);
        }
        table.write(f, 2)
    }
}
