//! Gradual magnitude pruning while fine-tuning: a parameter transform of the loop that prunes
//! to the schedule's sparsity at each of its pruning events.

use burn::module::Module;
use kiln_train::hooks::ParamTransform;

use crate::mask::{PruneScope, prune_with};
use crate::schedule::ZhuGupta;

/// Follows a [`ZhuGupta`] schedule: after each optimizer step that is a pruning event, the
/// smallest weights are masked until the schedule's sparsity is reached. The model must carry
/// masks from the start ([`crate::attach_masks`], quantization-aware or not as this is), so that checkpoints hold them and resume
/// restores them.
#[derive(Debug, Clone)]
pub struct GradualPruning {
    schedule: ZhuGupta,
    scope: PruneScope,
    step: usize,
    last: f64,
    fake_quant: bool,
}

impl GradualPruning {
    /// Pruning as `schedule` says, each event over `scope`.
    pub fn new(schedule: ZhuGupta, scope: PruneScope) -> Self {
        Self {
            schedule,
            scope,
            step: 0,
            last: 0.0,
            fake_quant: false,
        }
    }

    /// Keeps the masks quantization-aware (as [`crate::attach_masks`] made them).
    pub fn with_fake_quant(mut self, fake_quant: bool) -> Self {
        self.fake_quant = fake_quant;
        self
    }

    /// Continues after `steps` optimizer steps (a resumed run: the masks come from its
    /// checkpoint).
    pub fn resumed_after(mut self, steps: usize) -> Self {
        self.step = steps;
        self.last = if steps == 0 {
            0.0
        } else {
            self.schedule.sparsity_at(steps)
        };
        self
    }

    /// The sparsity reached so far.
    pub fn sparsity(&self) -> f64 {
        self.last
    }
}

impl<M: Module> ParamTransform<M> for GradualPruning {
    fn apply(&mut self, model: M) -> M {
        self.step += 1;
        if !self.schedule.prunes_at(self.step) {
            return model;
        }
        let target = self.schedule.sparsity_at(self.step);
        if target <= self.last {
            return model;
        }
        self.last = target;
        prune_with(model, target, self.scope, self.fake_quant)
    }
}
