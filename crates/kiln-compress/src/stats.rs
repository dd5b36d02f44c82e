//! How sparse a model is: parameters, nonzero parameters, and the same over weights alone.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;

use crate::mask::is_weight;

/// Parameter counts of a model (masks applied; the masks themselves are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct SparsityStats {
    /// Float parameters.
    pub params: usize,
    /// Float parameters that are not zero.
    pub nonzero_params: usize,
    /// Parameters that pruning may remove (weights of rank >= 2).
    pub weights: usize,
    /// Weights that are not zero.
    pub nonzero_weights: usize,
}

impl SparsityStats {
    /// Fraction of the weights that are zero.
    pub fn weight_sparsity(&self) -> f64 {
        1.0 - self.nonzero_weights as f64 / self.weights.max(1) as f64
    }
}

/// Counts the parameters of `model` and those that are zero, through its masks.
pub fn sparsity<M: Module>(model: &M) -> SparsityStats {
    // A visitor sees the stored base of a masked weight: merge the masks into a copy first.
    let mut counter = Counter::default();
    model.clone().materialize().visit(&mut counter);
    counter.stats
}

#[derive(Default)]
struct Counter {
    stats: SparsityStats,
}

impl ModuleVisitor for Counter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let count = value.shape().num_elements();
        let nonzero = value
            .not_equal_elem(0.0)
            .int()
            .sum()
            .into_scalar::<i64>()
            .max(0) as usize;
        self.stats.params += count;
        self.stats.nonzero_params += nonzero;
        if is_weight(D) {
            self.stats.weights += count;
            self.stats.nonzero_weights += nonzero;
        }
    }
}

/// Every weight's magnitude, through its mask.
pub(crate) fn weight_magnitudes<M: Module>(model: &M) -> Vec<f32> {
    struct Magnitudes(Vec<f32>);
    impl ModuleVisitor for Magnitudes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if is_weight(D) {
                let values: Vec<f32> = param
                    .val()
                    .abs()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("float weights");
                self.0.extend(values);
            }
        }
    }
    let mut magnitudes = Magnitudes(Vec::new());
    model.clone().materialize().visit(&mut magnitudes);
    magnitudes.0
}
