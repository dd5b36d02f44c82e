//! Zhu & Gupta's (2017) gradual pruning schedule:
//! `s_t = s_f + (s_i − s_f)(1 − (t − t0)/(n·Δt))³` for `t0 <= t <= t0 + n·Δt`, pruning every
//! `Δt` steps: fast at first, when there are many redundant weights, slower near the target.

use serde::{Deserialize, Serialize};

/// The schedule's parameters, in optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZhuGupta {
    /// Sparsity at `start_step` (`s_i`).
    pub initial: f64,
    /// Sparsity reached at `start_step + pruning_steps · frequency` and kept after (`s_f`).
    pub target: f64,
    /// First pruning step (`t0`).
    pub start_step: usize,
    /// Number of pruning events (`n`).
    pub pruning_steps: usize,
    /// Optimizer steps between pruning events (`Δt`).
    pub frequency: usize,
}

impl ZhuGupta {
    /// Prunes from 0 to `target` over `steps` optimizer steps in `events` events, starting at
    /// step 0.
    pub fn over(target: f64, steps: usize, events: usize) -> Self {
        let events = events.clamp(1, steps.max(1));
        Self {
            initial: 0.0,
            target,
            start_step: 0,
            pruning_steps: events,
            frequency: (steps / events).max(1),
        }
    }

    /// The sparsity the schedule asks for after optimizer step `step`.
    pub fn sparsity_at(&self, step: usize) -> f64 {
        if step < self.start_step {
            return 0.0;
        }
        let span = (self.pruning_steps * self.frequency) as f64;
        let progress = ((step - self.start_step) as f64 / span.max(1.0)).min(1.0);
        self.target + (self.initial - self.target) * (1.0 - progress).powi(3)
    }

    /// Whether step `step` is a pruning event (`t0 + kΔt`, `0 <= k <= n`).
    pub fn prunes_at(&self, step: usize) -> bool {
        step >= self.start_step
            && (step - self.start_step).is_multiple_of(self.frequency)
            && (step - self.start_step) / self.frequency <= self.pruning_steps
    }

    /// Checks the values (a message naming the field).
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [("initial", self.initial), ("target", self.target)] {
            if !(0.0..1.0).contains(&value) {
                return Err(format!(
                    "the {name} sparsity must be in [0, 1), got {value}"
                ));
            }
        }
        if self.frequency == 0 {
            return Err("the pruning frequency must be at least one step".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_cubic_from_initial_to_target() {
        let s = ZhuGupta {
            initial: 0.0,
            target: 0.9,
            start_step: 10,
            pruning_steps: 4,
            frequency: 5,
        };
        assert_eq!(s.sparsity_at(0), 0.0);
        assert_eq!(s.sparsity_at(10), 0.0);
        // t - t0 = 10 of n·Δt = 20: 0.9 + (0 - 0.9)(1 - 0.5)^3 = 0.9 - 0.1125
        assert!((s.sparsity_at(20) - 0.7875).abs() < 1e-12);
        assert!((s.sparsity_at(30) - 0.9).abs() < 1e-12);
        assert!((s.sparsity_at(1000) - 0.9).abs() < 1e-12);
        let events: Vec<usize> = (0..40).filter(|&t| s.prunes_at(t)).collect();
        assert_eq!(events, vec![10, 15, 20, 25, 30]);
    }
}
