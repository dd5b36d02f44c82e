//! What a classifier is trained for: binary (one logit, sigmoid, binary cross-entropy) or
//! multi-class (one logit per class, softmax, cross-entropy). The losses are Burn's, fused into
//! one operation each on the CPU backends ([`crate::fused_loss`]).

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};

use crate::fused_loss;

/// The training objective of a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Two classes, one logit, sigmoid + binary cross-entropy.
    Binary,
    /// `classes` classes, one logit each, softmax + cross-entropy.
    Multiclass {
        /// Number of classes.
        classes: usize,
    },
}

impl Objective {
    /// Binary for two classes, multi-class otherwise.
    pub fn for_classes(classes: usize) -> Self {
        if classes == 2 {
            Objective::Binary
        } else {
            Objective::Multiclass { classes }
        }
    }

    /// Number of logits the model must output.
    pub fn outputs(self) -> usize {
        match self {
            Objective::Binary => 1,
            Objective::Multiclass { classes } => classes,
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Objective::Binary => 2,
            Objective::Multiclass { classes } => classes,
        }
    }

    /// Mean loss of `logits` against `labels`.
    pub fn loss(self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        match self {
            Objective::Binary => fused_loss::binary_cross_entropy_with_logits(logits, labels),
            Objective::Multiclass { .. } => fused_loss::cross_entropy(logits, labels),
        }
    }

    /// The predicted class of each row.
    pub fn predict(self, logits: Tensor<2>) -> Tensor<1, Int> {
        match self {
            Objective::Binary => logits.greater_elem(0.0).int().flatten(0, 1),
            Objective::Multiclass { .. } => logits.argmax(1).flatten(0, 1),
        }
    }

    /// Class probabilities `[batch, classes]`.
    pub fn probabilities(self, logits: Tensor<2>) -> Tensor<2> {
        match self {
            Objective::Binary => {
                let p = sigmoid(logits);
                Tensor::cat(vec![p.clone().neg().add_scalar(1.0), p], 1)
            }
            Objective::Multiclass { .. } => softmax(logits, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(t: Tensor<1, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().try_to_vec().unwrap()
    }

    #[test]
    fn binary_predicts_by_sign_and_probabilities_sum_to_one() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data([[2.0], [-1.0]], &device);
        assert_eq!(ints(Objective::Binary.predict(logits.clone())), vec![1, 0]);
        let p: Vec<f32> = Objective::Binary
            .probabilities(logits)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6 && p[1] > 0.8);
    }

    #[test]
    fn losses_match_their_formulas() {
        let device = Device::flex();
        let labels = Tensor::<1, Int>::from_data([1, 0], &device);
        let logits = Tensor::<2>::from_data([[0.0], [0.0]], &device);
        let bce: f32 = Objective::Binary.loss(logits, labels.clone()).into_scalar();
        assert!((bce - std::f32::consts::LN_2).abs() < 1e-5);
        let logits = Tensor::<2>::from_data([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]], &device);
        let objective = Objective::for_classes(3);
        assert_eq!(ints(objective.predict(logits.clone())), vec![0, 0]);
        let ce: f32 = objective.loss(logits, labels).into_scalar();
        let expected = ((3f32).ln() + (5f32.exp() + 2.0).ln() - 5.0) / 2.0;
        assert!((ce - expected).abs() < 1e-4, "{ce} vs {expected}");
    }
}
