//! One group's operating points: every way a single threshold can split its fitting samples.

use super::Constraint;

/// Selection rate, TPR and FPR reached by one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub selection_rate: f64,
    pub tpr: f64,
    pub fpr: f64,
}

/// The operating points of one group, from "select nobody" (k = 0) to "select everyone"
/// (k = m): point k selects the samples whose score is among the k largest distinct scores.
#[derive(Debug, Clone)]
pub(crate) struct Curve {
    n: usize,
    positives: usize,
    negatives: usize,
    /// Distinct scores, descending.
    scores: Vec<f64>,
    /// `selected[k]`: samples with a score >= `scores[k - 1]` (0 for k = 0).
    selected: Vec<usize>,
    /// `tp[k]`: positives among them.
    tp: Vec<usize>,
}

impl Curve {
    /// The curve of the samples `(score, label)`.
    pub fn new(mut samples: Vec<(f64, u8)>) -> Self {
        samples.sort_by(|a, b| b.0.total_cmp(&a.0));
        let n = samples.len();
        let positives = samples.iter().filter(|s| s.1 == 1).count();
        let (mut scores, mut selected, mut tp) = (Vec::new(), vec![0], vec![0]);
        let (mut sel, mut pos) = (0, 0);
        for (i, &(score, label)) in samples.iter().enumerate() {
            sel += 1;
            pos += usize::from(label);
            let last_of_tie = samples.get(i + 1).is_none_or(|next| next.0 != score);
            if last_of_tie {
                scores.push(score);
                selected.push(sel);
                tp.push(pos);
            }
        }
        Curve {
            n,
            positives,
            negatives: n - positives,
            scores,
            selected,
            tp,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Number of operating points (distinct scores + 1).
    pub fn points(&self) -> usize {
        self.selected.len()
    }

    /// The rates of point `k`.
    pub fn point(&self, k: usize) -> Point {
        let fp = self.selected[k] - self.tp[k];
        Point {
            selection_rate: ratio(self.selected[k], self.n),
            tpr: ratio(self.tp[k], self.positives),
            fpr: ratio(fp, self.negatives),
        }
    }

    /// Correct predictions at point `k`: true positives and true negatives.
    pub fn correct(&self, k: usize) -> usize {
        let fp = self.selected[k] - self.tp[k];
        self.tp[k] + self.negatives - fp
    }

    /// A threshold `t` that selects (`score >= t`) exactly the samples of point `k`: halfway
    /// between the last selected and the first unselected score; ±∞ at the ends.
    pub fn threshold(&self, k: usize) -> f64 {
        if k == 0 {
            return f64::INFINITY;
        }
        let Some(&below) = self.scores.get(k) else {
            return f64::NEG_INFINITY;
        };
        let above = self.scores[k - 1];
        let mid = above / 2.0 + below / 2.0;
        if mid > below && mid <= above {
            mid
        } else {
            above
        }
    }

    /// The point closest to `target` in what `constraint` equalises (selection rate; or TPR and
    /// FPR, by the larger of the two gaps); ties go to the more accurate point, then the lower k.
    pub fn closest(&self, constraint: Constraint, target: Point) -> usize {
        // Both distances below are max(rising, falling) in k: the minimum is at the first k
        // where the signed gaps sum to >= 0, or just before it.
        let gaps = |k: usize| {
            let p = self.point(k);
            match constraint {
                Constraint::DemographicParity => {
                    let a = p.selection_rate - target.selection_rate;
                    (a, a)
                }
                Constraint::EqualizedOdds => (p.fpr - target.fpr, p.tpr - target.tpr),
            }
        };
        let distance = |k: usize| {
            let (a, b) = gaps(k);
            a.abs().max(b.abs())
        };
        let first = partition(self.points(), |k| {
            let (a, b) = gaps(k);
            a + b < 0.0
        });
        let mut best = first.min(self.points() - 1);
        if first > 0 {
            let before = first - 1;
            let (d0, d1) = (distance(before), distance(best));
            if d0 < d1 || (d0 == d1 && self.correct(before) >= self.correct(best)) {
                best = before;
            }
        }
        best
    }
}

/// The first index in `0..len` where `below` is false (`below` true then false).
fn partition(len: usize, below: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn ratio(num: usize, den: usize) -> f64 {
    crate::confusion::rate(num, den)
}
