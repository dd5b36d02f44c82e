//! Gradual magnitude pruning while fine-tuning: a parameter transform of the loop that prunes
//! to the schedule's sparsity at each of its pruning events.

use burn::module::Module;
use kiln_train::hooks::ParamTransform;

use crate::mask::{PruneScope, prune};
use crate::schedule::ZhuGupta;

/// Follows a [`ZhuGupta`] schedule: after each optimizer step that is a pruning event, the
/// smallest weights are masked until the schedule's sparsity is reached. The model must carry
/// masks from the start ([`crate::attach_masks`]), so that checkpoints hold them and resume
/// restores them.
#[derive(Debug, Clone)]
pub struct GradualPruning {
    schedule: ZhuGupta,
    scope: PruneScope,
    step: usize,
    last: f64,
}

impl GradualPruning {
    /// Pruning as `schedule` says, each event over `scope`.
    pub fn new(schedule: ZhuGupta, scope: PruneScope) -> Self {
        Self {
            schedule,
            scope,
            step: 0,
            last: 0.0,
        }
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
        prune(model, target, self.scope)
    }
}
