//! L1 regularisation: `sum |w|` over weight matrices and kernels (rank >= 2), not over biases or
//! batch-norm parameters, as a differentiable term added to the loss.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;

/// `sum |w|` over every weight of rank >= 2 in `model`, or `None` for a model without weights.
pub fn l1_norm<M: Module>(model: &M) -> Option<Tensor<1>> {
    let mut visitor = L1Visitor { total: None };
    model.visit(&mut visitor);
    visitor.total
}

struct L1Visitor {
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for L1Visitor {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D < 2 {
            return;
        }
        let term = param.val().abs().sum();
        self.total = Some(match self.total.take() {
            Some(total) => total + term,
            None => term,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny;

    #[test]
    fn counts_weights_but_not_biases() {
        let device = Device::flex();
        let _rng = crate::rng_guard(); // model init draws from Burn's global RNG: not mid-way through another test
        let model = tiny(3, 2, &[4], &device);
        let by_hand: f32 = [model.hidden[0].weight.val(), model.output.weight.val()]
            .into_iter()
            .map(|w| w.abs().sum().into_scalar::<f32>())
            .sum();
        let l1: f32 = l1_norm(&model).unwrap().into_scalar();
        assert!((l1 - by_hand).abs() < 1e-4, "{l1} vs {by_hand}");
    }
}
