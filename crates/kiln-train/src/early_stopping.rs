//! Early stopping with patience on a validation metric, and the best epoch for model selection.

use crate::checkpoint::StopperState;
use crate::settings::{EarlyStoppingConfig, Monitor};

/// What the stopper concluded after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The metric is the best so far.
    Improved,
    /// No improvement, but patience is not exhausted.
    Wait,
    /// No improvement for `patience` epochs: stop training.
    Stop,
}

/// Tracks the best value of the monitored metric and the epochs since it improved.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    best: Option<f64>,
    best_epoch: Option<usize>,
    waited: usize,
}

impl EarlyStopping {
    /// A stopper for this config (patience 0 never stops but still tracks the best epoch).
    pub fn new(config: &EarlyStoppingConfig) -> Self {
        Self {
            config: config.clone(),
            best: None,
            best_epoch: None,
            waited: 0,
        }
    }

    /// Records an epoch's validation loss and accuracy.
    pub fn observe(&mut self, epoch: usize, valid_loss: f64, valid_accuracy: f64) -> Verdict {
        let (value, better) = match self.config.monitor {
            Monitor::ValidLoss => (
                valid_loss,
                self.best
                    .is_none_or(|b| valid_loss < b - self.config.min_delta),
            ),
            Monitor::ValidAccuracy => (
                valid_accuracy,
                self.best
                    .is_none_or(|b| valid_accuracy > b + self.config.min_delta),
            ),
        };
        if better {
            self.best = Some(value);
            self.best_epoch = Some(epoch);
            self.waited = 0;
            return Verdict::Improved;
        }
        self.waited += 1;
        if self.config.patience > 0 && self.waited >= self.config.patience {
            Verdict::Stop
        } else {
            Verdict::Wait
        }
    }

    /// The epoch with the best metric so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// The state to checkpoint.
    pub fn state(&self) -> StopperState {
        StopperState {
            best: self.best,
            best_epoch: self.best_epoch,
            waited: self.waited,
        }
    }

    /// A stopper continuing from a checkpointed state.
    pub fn restore(config: &EarlyStoppingConfig, state: StopperState) -> Self {
        Self {
            config: config.clone(),
            best: state.best,
            best_epoch: state.best_epoch,
            waited: state.waited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let config = EarlyStoppingConfig {
            patience: 2,
            ..Default::default()
        };
        let mut stopper = EarlyStopping::new(&config);
        assert_eq!(stopper.observe(1, 1.0, 0.5), Verdict::Improved);
        assert_eq!(stopper.observe(2, 0.8, 0.5), Verdict::Improved);
        assert_eq!(stopper.observe(3, 0.9, 0.5), Verdict::Wait);
        assert_eq!(stopper.observe(4, 0.85, 0.5), Verdict::Stop);
        assert_eq!(stopper.best_epoch(), Some(2));
    }

    #[test]
    fn accuracy_is_maximised() {
        let config = EarlyStoppingConfig {
            patience: 1,
            monitor: Monitor::ValidAccuracy,
            ..Default::default()
        };
        let mut stopper = EarlyStopping::new(&config);
        assert_eq!(stopper.observe(1, 1.0, 0.5), Verdict::Improved);
        assert_eq!(stopper.observe(2, 0.1, 0.6), Verdict::Improved);
        assert_eq!(stopper.observe(3, 0.1, 0.6), Verdict::Stop);
    }
}
