//! The scalars of one fused Adam or AdamW step, computed as Burn's optimizers compute them.

use burn::optim::LearningRate;

/// How the step is taken from the moments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Rule {
    /// Burn's `Adam`: `value -= lr * (m1 * combined) / (sqrt(m2) + epsilon)`, the bias
    /// corrections folded into `combined` and `epsilon`.
    Adam { combined: f32, epsilon: f32 },
    /// Burn's `AdamW`: `value = value * keep - lr * (m1 / correction_1) / (sqrt(m2 /
    /// correction_2) + epsilon)`, `keep = 1 - lr * weight_decay` (1 without decay).
    AdamW {
        correction_1: f32,
        correction_2: f32,
        epsilon: f32,
        keep: f32,
    },
}

/// The scalars of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Coefficients {
    pub beta_1: f32,
    pub beta_2: f32,
    pub factor_1: f32,
    pub factor_2: f32,
    pub lr: f32,
    /// The first step sets the moments instead of decaying them.
    pub first: bool,
    pub rule: Rule,
}

/// How many scalars [`Coefficients::to_array`] gives.
pub(super) const SCALARS: usize = 9;

impl Coefficients {
    /// Burn's `Adam` at step `time` (from 1); `first` when there are no moments yet.
    pub fn adam(
        betas: (f32, f32),
        epsilon: f32,
        lr: LearningRate,
        (time, first): (i32, bool),
    ) -> Self {
        let (beta_1, beta_2) = betas;
        let bias_correction2_sqrt = (1.0 - beta_2.powi(time)).sqrt();
        let rule = Rule::Adam {
            combined: bias_correction2_sqrt / (1.0 - beta_1.powi(time)),
            epsilon: epsilon * bias_correction2_sqrt,
        };
        Self::with_rule(betas, lr, first, rule)
    }

    /// Burn's `AdamW` at step `time` (from 1), `first` when there are no moments yet: the decay
    /// rate `lr * weight_decay` in f64, as Burn computes it, and no decay at all when it is zero.
    pub fn adam_w(
        betas: (f32, f32),
        epsilon: f32,
        weight_decay: f32,
        lr: LearningRate,
        (time, first): (i32, bool),
    ) -> Self {
        let (beta_1, beta_2) = betas;
        let decay_rate = lr * f64::from(weight_decay);
        let rule = Rule::AdamW {
            correction_1: 1.0 - beta_1.powi(time),
            correction_2: 1.0 - beta_2.powi(time),
            epsilon,
            keep: if decay_rate == 0.0 {
                1.0
            } else {
                (1.0 - decay_rate) as f32
            },
        };
        Self::with_rule(betas, lr, first, rule)
    }

    fn with_rule((beta_1, beta_2): (f32, f32), lr: LearningRate, first: bool, rule: Rule) -> Self {
        Self {
            beta_1,
            beta_2,
            factor_1: 1.0 - beta_1,
            factor_2: 1.0 - beta_2,
            lr: lr as f32,
            first,
            rule,
        }
    }

    /// The scalars in the order [`Coefficients::from_array`] reads them, and whether the rule
    /// is AdamW's.
    #[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
    pub fn to_array(self) -> ([f32; SCALARS], bool) {
        let head = [
            self.beta_1,
            self.beta_2,
            self.factor_1,
            self.factor_2,
            self.lr,
        ];
        let (tail, decoupled) = match self.rule {
            Rule::Adam { combined, epsilon } => ([combined, epsilon, 0.0, 0.0], false),
            Rule::AdamW {
                correction_1,
                correction_2,
                epsilon,
                keep,
            } => ([correction_1, correction_2, epsilon, keep], true),
        };
        let mut all = [0.0; SCALARS];
        all[..5].copy_from_slice(&head);
        all[5..].copy_from_slice(&tail);
        (all, decoupled)
    }

    /// The scalars [`Coefficients::to_array`] gave.
    #[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
    pub fn from_array(c: [f32; SCALARS], decoupled: bool, first: bool) -> Self {
        let [beta_1, beta_2, factor_1, factor_2, lr, a, b, e, k] = c;
        let rule = if decoupled {
            Rule::AdamW {
                correction_1: a,
                correction_2: b,
                epsilon: e,
                keep: k,
            }
        } else {
            Rule::Adam {
                combined: a,
                epsilon: b,
            }
        };
        Self {
            beta_1,
            beta_2,
            factor_1,
            factor_2,
            lr,
            first,
            rule,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_rules_survive_the_array() {
        for c in [
            Coefficients::adam((0.9, 0.999), 1e-8, 3e-3, (4, false)),
            Coefficients::adam_w((0.9, 0.99), 1e-8, 1e-4, 3e-3, (1, true)),
        ] {
            let (array, decoupled) = c.to_array();
            assert_eq!(Coefficients::from_array(array, decoupled, c.first), c);
        }
    }

    #[test]
    fn adam_w_without_decay_keeps_the_value_exactly() {
        let c = Coefficients::adam_w((0.9, 0.999), 1e-8, 0.0, 1e-3, (2, false));
        assert!(matches!(c.rule, Rule::AdamW { keep: 1.0, .. }));
        let c = Coefficients::adam_w((0.9, 0.999), 1e-8, 0.5, 1e-2, (2, false));
        assert!(matches!(c.rule, Rule::AdamW { keep, .. } if keep == 0.995));
    }
}
