//! Pruning masks as Burn reparameterizations: the effective weight is `base · mask`.
//!
//! The optimizer updates the dense base; masked entries get a zero gradient and their effective
//! value stays zero. The mask is a boolean parameter, so it is recorded with the model (part of
//! every checkpoint) and never touched by an optimizer. [`Module::materialize`] merges it into
//! the weight and drops it, giving an ordinary model with zeros where it was pruned.

use burn::module::{Module, Param, ParamId, Reparameterization, Reparameterizer};
use burn::prelude::*;

/// The pruning mask of one weight: `true` where the weight is kept (flattened, row-major);
/// with `fake_quant`, the masked weight is also rounded to its int8 grid on the way forward
/// (quantization-aware training, see [`fake_quantize`]).
#[derive(Module, Debug)]
pub struct PruneMask {
    /// `true` for each kept entry of the weight, in the weight's row-major order.
    pub keep: Param<Tensor<1, Bool>>,
    /// Fake-quantize the masked weight (symmetric int8, one scale per tensor).
    pub fake_quant: bool,
}

impl Reparameterization for PruneMask {
    const NAME: &'static str = "prune_mask";

    fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
        let shape = base.shape();
        let keep = self.keep.val().reshape(shape);
        let masked = base.mask_fill(keep.bool_not(), 0.0);
        match self.fake_quant {
            true => fake_quantize(masked),
            false => masked,
        }
    }
}

/// `w + (q(w) − w).detach()`: the forward pass sees `w` rounded to the symmetric int8 grid of
/// scale `max|w| / 127` (the grid of [`crate::quantize_int8`] per tensor), the backward pass
/// passes the gradient straight through to `w` (the straight-through estimator).
pub fn fake_quantize<const D: usize>(weight: Tensor<D>) -> Tensor<D> {
    let scale = weight
        .clone()
        .abs()
        .max()
        .detach()
        .div_scalar(127.0)
        .clamp_min(1e-12);
    let rank = [1usize; D];
    let scale: Tensor<D> = scale.reshape(rank);
    let quantized = weight
        .clone()
        .div(scale.clone())
        .round()
        .clamp(-127.0, 127.0)
        .mul(scale);
    weight.clone() + (quantized - weight).detach()
}

/// Which weights compete for the same threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PruneScope {
    /// Each weight tensor loses the same fraction of its entries.
    #[default]
    PerLayer,
    /// One magnitude threshold over all weights: layers with many small weights lose more.
    Global,
}

/// Whether a parameter of rank `rank` is pruned and quantized: weights, not biases or norms.
pub(crate) fn is_weight(rank: usize) -> bool {
    rank >= 2
}

/// Prunes `sparsity` (in [0, 1)) of the weights of `model` by magnitude, as masks; weights
/// already masked are merged first, so pruning again only removes more (the zeros stay the
/// smallest). Biases and batch-norm parameters are never pruned.
pub fn prune<M: Module>(model: M, sparsity: f64, scope: PruneScope) -> M {
    prune_with(model, sparsity, scope, false)
}

/// [`prune`], the masks also fake-quantizing their weights when `fake_quant`.
pub fn prune_with<M: Module>(model: M, sparsity: f64, scope: PruneScope, fake_quant: bool) -> M {
    let model = model.materialize();
    let threshold = match scope {
        PruneScope::PerLayer => None,
        PruneScope::Global => Some(global_threshold(&model, sparsity)),
    };
    model.apply_reparameterization(MagnitudePruner {
        sparsity,
        threshold,
        fake_quant,
    })
}

/// Attaches all-`true` masks to every weight (sparsity 0): the structure a gradual pruning run
/// and its checkpoints have from the first step; with `fake_quant`, quantization-aware.
pub fn attach_masks<M: Module>(model: M, fake_quant: bool) -> M {
    prune_with(model, 0.0, PruneScope::PerLayer, fake_quant)
}

struct MagnitudePruner {
    sparsity: f64,
    /// The global threshold, if any; else each tensor's own.
    threshold: Option<f32>,
    fake_quant: bool,
}

impl Reparameterizer for MagnitudePruner {
    type Reparam = PruneMask;

    fn reparameterize<const D: usize>(
        &mut self,
        _path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<PruneMask>) {
        if !is_weight(D) {
            return (param, None);
        }
        let weight = param.val();
        let count = weight.shape().num_elements();
        let magnitudes = weight.abs().reshape([count]);
        let keep = match self.threshold {
            Some(threshold) => magnitudes.greater_elem(threshold),
            None => keep_largest(magnitudes, self.sparsity),
        };
        let mask = PruneMask {
            keep: Param::initialized(ParamId::new(), keep),
            fake_quant: self.fake_quant,
        };
        (param, Some(mask))
    }
}

/// `true` for the `(1 - sparsity)` largest of `magnitudes` (ties broken by position, so
/// exactly `round(sparsity · n)` entries are pruned).
fn keep_largest(magnitudes: Tensor<1>, sparsity: f64) -> Tensor<1, Bool> {
    let n = magnitudes.shape().num_elements();
    let pruned = pruned_count(n, sparsity);
    let device = magnitudes.device();
    if pruned == 0 {
        return Tensor::<1, Bool>::from_data(TensorData::new(vec![true; n], [n]), &device);
    }
    let order = magnitudes.argsort(0); // ascending
    let ranks: Vec<i64> = order
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("argsort gives integers");
    let mut keep = vec![true; n];
    for &index in &ranks[..pruned] {
        keep[index as usize] = false;
    }
    Tensor::<1, Bool>::from_data(TensorData::new(keep, [n]), &device)
}

/// Entries of `n` that a sparsity prunes.
pub(crate) fn pruned_count(n: usize, sparsity: f64) -> usize {
    ((n as f64 * sparsity).round() as usize).min(n)
}

/// The magnitude below or at which `sparsity` of all weights of `model` lie.
fn global_threshold<M: Module>(model: &M, sparsity: f64) -> f32 {
    let mut magnitudes = crate::stats::weight_magnitudes(model);
    let pruned = pruned_count(magnitudes.len(), sparsity);
    if pruned == 0 {
        return -1.0; // keeps everything, zeros included
    }
    magnitudes.sort_unstable_by(f32::total_cmp);
    magnitudes[pruned - 1]
}
