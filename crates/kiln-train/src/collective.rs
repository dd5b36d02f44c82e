//! Data-parallel training: what the loop needs from a group of processes that train one model
//! together (MPI's ranks, say), and what it does with it.
//!
//! Each rank takes its share of every global batch ([`TrainTask::shard`](crate::TrainTask)),
//! weights its loss by its share of the samples, and back-propagates. The gradients of all
//! ranks are then summed with one all-reduce of a flattened buffer, in the model's parameter
//! order, before any other gradient hook (clipping sees the global gradient). The running train
//! metrics are summed each step too, batch-norm running statistics are averaged after each
//! optimizer step, and every few steps the ranks compare a checksum of their parameters.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::checkpoint::RunningSums;
use crate::{KilnError, Result};

/// A group of processes training one model: collective operations every rank calls in the
/// same order.
pub trait Collective: std::fmt::Debug {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Replaces `values` by their sum over all ranks (element-wise).
    fn sum_f32(&self, values: &mut [f32]);
    /// Replaces `values` by their sum over all ranks (element-wise).
    fn sum_f64(&self, values: &mut [f64]);
    /// Whether every rank passed the same `value`.
    fn all_equal(&self, value: u64) -> bool;
}

/// Every rank's setup result agreed on: `Ok` only when all ranks succeeded. A rank whose own
/// setup failed returns its error; the others an error saying another rank failed. Call it
/// before the first collective operation of training, so that no rank waits forever.
pub fn agree<T>(collective: &dyn Collective, result: Result<T>) -> Result<T> {
    let ok = collective.all_equal(u64::from(result.is_ok()));
    match (result, ok) {
        (Ok(value), true) => Ok(value),
        (Err(e), _) => Err(e),
        (Ok(_), false) => Err(KilnError::Input(format!(
            "rank {}: another rank could not start (its message says why); stopping",
            collective.rank()
        ))),
    }
}

/// Initialises `model`'s lazily initialised parameters now, from the device's current seed:
/// before each rank seeds its own dropout stream, so that every rank (and one process) starts
/// from the same weights.
pub(crate) fn materialize<M: Module>(model: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
}

/// Sums the gradients of `model`'s trainable parameters over all ranks.
pub(crate) fn sum_gradients<M: Module>(
    collective: &dyn Collective,
    model: &M,
    grads: GradientsParams,
) -> GradientsParams {
    let mut gather = GatherGrads {
        grads: &grads,
        buffer: Vec::new(),
    };
    model.visit(&mut gather);
    let mut buffer = gather.buffer;
    collective.sum_f32(&mut buffer);
    let mut scatter = ScatterGrads {
        grads,
        buffer: &buffer,
        offset: 0,
    };
    model.visit(&mut scatter);
    scatter.grads
}

/// Appends every trainable parameter's gradient (zeros where it has none) to `buffer`.
struct GatherGrads<'a> {
    grads: &'a GradientsParams,
    buffer: Vec<f32>,
}

impl ModuleVisitor for GatherGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        match self.grads.get::<D>(param.id) {
            Some(grad) => self.buffer.extend(grad.into_data().iter::<f32>()),
            None => self
                .buffer
                .extend(std::iter::repeat_n(0.0, value.shape().num_elements())),
        }
    }
}

/// Writes the summed buffer back, in the same order.
struct ScatterGrads<'a> {
    grads: GradientsParams,
    buffer: &'a [f32],
    offset: usize,
}

impl ModuleVisitor for ScatterGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let shape = value.shape();
        let n = shape.num_elements();
        let part = self.buffer[self.offset..self.offset + n].to_vec();
        self.offset += n;
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let device = grad.device();
            let summed = Tensor::<D>::from_data(TensorData::new(part, shape), &device);
            self.grads.register::<D>(param.id, summed);
        }
    }
}

/// Averages the float buffers that are not trained (batch norm's running mean and variance)
/// over all ranks.
pub(crate) fn average_buffers<M: Module>(collective: &dyn Collective, model: M) -> M {
    let mut gather = GatherBuffers::default();
    model.visit(&mut gather);
    if gather.buffer.is_empty() {
        return model;
    }
    let mut buffer = gather.buffer;
    collective.sum_f32(&mut buffer);
    let ranks = collective.size() as f32;
    buffer.iter_mut().for_each(|v| *v /= ranks);
    model.map(&mut ScatterBuffers {
        buffer: &buffer,
        offset: 0,
        ids: gather.ids,
    })
}

#[derive(Default)]
struct GatherBuffers {
    buffer: Vec<f32>,
    ids: Vec<ParamId>,
}

impl ModuleVisitor for GatherBuffers {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            return;
        }
        self.ids.push(param.id);
        self.buffer.extend(value.into_data().iter::<f32>());
    }
}

struct ScatterBuffers<'a> {
    buffer: &'a [f32],
    offset: usize,
    ids: Vec<ParamId>,
}

impl ModuleMapper for ScatterBuffers<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !self.ids.contains(&param.id) {
            return param;
        }
        let (id, value, mapper) = param.consume();
        let shape = value.shape();
        let n = shape.num_elements();
        let part = self.buffer[self.offset..self.offset + n].to_vec();
        self.offset += n;
        let averaged = Tensor::<D>::from_data(TensorData::new(part, shape), &value.device());
        Param::from_mapped_value(id, averaged, mapper)
    }
}

/// The sums of one step over all ranks.
pub(crate) fn sum_running(collective: &dyn Collective, local: RunningSums) -> RunningSums {
    let mut values = [local.loss_sum, local.correct, local.samples as f64];
    collective.sum_f64(&mut values);
    RunningSums {
        loss_sum: values[0],
        correct: values[1],
        samples: values[2].round() as usize,
    }
}

/// Stops the job when the ranks' parameters have drifted apart (a checksum that differs).
pub(crate) fn check_in_step<M: Module>(
    collective: &dyn Collective,
    model: &M,
    step: usize,
) -> Result<()> {
    let hash = crate::weights_sha256(model);
    let value = u64::from_str_radix(&hash[..16], 16).unwrap_or(0);
    if collective.all_equal(value) {
        return Ok(());
    }
    Err(KilnError::Internal(format!(
        "rank {}: the ranks' parameters differ after step {step} (checksum {}): their training \
         has drifted apart (different builds, CPUs or data on the ranks?); stopping",
        collective.rank(),
        &hash[..16]
    )))
}
