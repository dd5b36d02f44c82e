//! Seeded bootstrap confidence intervals (percentile method) of accuracy and of per-class
//! precision, recall and F1, for a model card.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::confusion::rate;
use crate::error::{AuditError, Result};
use crate::frame::check_inputs;
use crate::rng::Rng;
use crate::table::{Table, num};

/// How to bootstrap: number of resamples, confidence level and seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Resamples with replacement of the n samples (default 1000).
    pub resamples: usize,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
    /// Seed of the generator (default 0): same seed, same intervals.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// A point estimate and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic on all samples.
    pub estimate: f64,
    /// Lower percentile of the bootstrap distribution.
    pub lower: f64,
    /// Upper percentile of the bootstrap distribution.
    pub upper: f64,
}

impl Interval {
    /// Whether `x` lies in [lower, upper].
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}, {}]",
            num(self.estimate),
            num(self.lower),
            num(self.upper)
        )
    }
}

/// Precision, recall and F1 of one class (one-vs-rest), with intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassIntervals {
    /// The class.
    pub class: u32,
    /// Samples whose true class it is.
    pub support: usize,
    /// TP / (TP + FP), 0 when the class is never predicted.
    pub precision: Interval,
    /// TP / (TP + FN), 0 when the class never occurs.
    pub recall: Interval,
    /// 2PR / (P + R), 0 when both are 0.
    pub f1: Interval,
}

/// Accuracy and per-class intervals of a classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationIntervals {
    /// How they were computed.
    pub bootstrap: Bootstrap,
    /// Number of samples.
    pub samples: usize,
    /// Overall accuracy.
    pub accuracy: Interval,
    /// Each class seen in labels or predictions, sorted.
    pub classes: Vec<ClassIntervals>,
}

impl Bootstrap {
    /// Checks the settings.
    fn check(&self) -> Result<()> {
        if self.resamples == 0 {
            return Err(AuditError::InvalidArgument {
                what: "bootstrap resamples",
                message: "need at least one resample".into(),
            });
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(AuditError::InvalidArgument {
                what: "confidence level",
                message: format!("must be in (0, 1), got {}", self.confidence),
            });
        }
        Ok(())
    }

    /// The interval of any statistic of `n` samples: `statistic` receives the sample indices of
    /// the data set (`0..n`) or of one resample.
    pub fn interval<F: FnMut(&[usize]) -> f64>(
        &self,
        n: usize,
        mut statistic: F,
    ) -> Result<Interval> {
        self.check()?;
        if n == 0 {
            return Err(AuditError::NoSamples {
                what: "the data set".into(),
            });
        }
        let all: Vec<usize> = (0..n).collect();
        let estimate = statistic(&all);
        let mut rng = Rng::new(self.seed);
        let mut indices = vec![0; n];
        let values: Vec<f64> = (0..self.resamples)
            .map(|_| {
                indices.iter_mut().for_each(|i| *i = rng.below(n));
                statistic(&indices)
            })
            .collect();
        Ok(self.percentiles(estimate, values))
    }

    /// Intervals of accuracy and per-class precision, recall and F1 from class labels; each
    /// resample gives all of them, so they are computed from the same resamples.
    pub fn classification(
        &self,
        y_true: &[u32],
        y_pred: &[u32],
    ) -> Result<ClassificationIntervals> {
        self.check()?;
        check_inputs(y_true, y_pred)?;
        let classes: BTreeMap<u32, usize> = y_true
            .iter()
            .chain(y_pred)
            .map(|&c| (c, 0))
            .collect::<BTreeMap<_, _>>()
            .into_keys()
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        let t: Vec<usize> = y_true.iter().map(|c| classes[c]).collect();
        let p: Vec<usize> = y_pred.iter().map(|c| classes[c]).collect();
        let k = classes.len();
        let n = t.len();
        let stats = |idx: &mut dyn Iterator<Item = usize>| Stats::new(k, idx.map(|i| (t[i], p[i])));
        let point = stats(&mut (0..n));
        let mut rng = Rng::new(self.seed);
        let resampled: Vec<Stats> = (0..self.resamples)
            .map(|_| stats(&mut (0..n).map(|_| rng.below(n))))
            .collect();
        let interval = |f: &dyn Fn(&Stats) -> f64| {
            self.percentiles(f(&point), resampled.iter().map(f).collect())
        };
        let per_class = classes
            .iter()
            .map(|(&class, &c)| ClassIntervals {
                class,
                support: point.true_count[c],
                precision: interval(&|s| s.precision(c)),
                recall: interval(&|s| s.recall(c)),
                f1: interval(&|s| s.f1(c)),
            })
            .collect();
        Ok(ClassificationIntervals {
            bootstrap: *self,
            samples: n,
            accuracy: interval(&|s| s.accuracy()),
            classes: per_class,
        })
    }

    /// The percentile interval of `values` around `estimate`.
    fn percentiles(&self, estimate: f64, mut values: Vec<f64>) -> Interval {
        values.sort_by(f64::total_cmp);
        let alpha = (1.0 - self.confidence) / 2.0;
        Interval {
            estimate,
            lower: percentile(&values, alpha),
            upper: percentile(&values, 1.0 - alpha),
        }
    }
}

/// The `q` quantile (0..=1) of sorted `values`, linearly interpolated (NumPy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Per-class counts of one (re)sample.
struct Stats {
    n: usize,
    correct: usize,
    tp: Vec<usize>,
    true_count: Vec<usize>,
    pred_count: Vec<usize>,
}

impl Stats {
    fn new(k: usize, pairs: impl Iterator<Item = (usize, usize)>) -> Self {
        let mut s = Stats {
            n: 0,
            correct: 0,
            tp: vec![0; k],
            true_count: vec![0; k],
            pred_count: vec![0; k],
        };
        for (t, p) in pairs {
            s.n += 1;
            s.true_count[t] += 1;
            s.pred_count[p] += 1;
            if t == p {
                s.correct += 1;
                s.tp[t] += 1;
            }
        }
        s
    }

    fn accuracy(&self) -> f64 {
        rate(self.correct, self.n)
    }

    fn precision(&self, c: usize) -> f64 {
        rate(self.tp[c], self.pred_count[c])
    }

    fn recall(&self, c: usize) -> f64 {
        rate(self.tp[c], self.true_count[c])
    }

    fn f1(&self, c: usize) -> f64 {
        // 2TP / (2TP + FP + FN), equal to 2PR / (P + R), as scikit-learn computes it.
        rate(2 * self.tp[c], self.true_count[c] + self.pred_count[c])
    }
}

impl fmt::Display for ClassificationIntervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bootstrap;
        writeln!(
            f,
            "{}% bootstrap intervals ({} resamples of {} samples, seed {}, percentile method)",
            b.confidence * 100.0,
            b.resamples,
            self.samples,
            b.seed
        )?;
        writeln!(f, "  accuracy {}", self.accuracy)?;
        let mut table = Table::new(["class", "support", "precision", "recall", "F1"]);
        for c in &self.classes {
            table.row(vec![
                c.class.to_string(),
                c.support.to_string(),
                c.precision.to_string(),
                c.recall.to_string(),
                c.f1.to_string(),
            ]);
        }
        table.write(f, 2)
    }
}
