//! What a training run reports: one record per epoch and the [`FitReport`].

use serde::Serialize;

use crate::precision::LossScaleState;

/// One epoch's metrics, as written to `metrics.csv`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (without the L1 term).
    pub train_loss: f64,
    /// Training accuracy over the epoch's steps.
    pub train_accuracy: f64,
    /// Validation loss after the epoch, when there is a validation split.
    pub valid_loss: Option<f64>,
    /// Validation accuracy after the epoch.
    pub valid_accuracy: Option<f64>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

impl EpochRecord {
    /// A one-line description for logs.
    pub fn describe(&self, epochs: usize) -> String {
        let mut line = format!(
            "epoch {}/{epochs}  loss {:.4}  acc {:.4}",
            self.epoch, self.train_loss, self.train_accuracy
        );
        if let (Some(loss), Some(acc)) = (self.valid_loss, self.valid_accuracy) {
            line += &format!("  val_loss {loss:.4}  val_acc {acc:.4}");
        }
        line + &format!("  lr {:.2e}  {:.1}s", self.lr, self.seconds)
    }
}

/// What [`crate::Trainer::fit`] returns: the trained model and how training went.
#[derive(Debug)]
pub struct FitReport<M> {
    /// The trained model (the best epoch's when early stopping restores it).
    pub model: M,
    /// Metrics of every epoch.
    pub history: Vec<EpochRecord>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Training samples processed.
    pub samples_seen: usize,
    /// Wall-clock seconds of the loop (validation included).
    pub train_seconds: f64,
    /// Epoch with the best validation metric, when there is a validation split.
    pub best_epoch: Option<usize>,
    /// True when early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// The loss scaler's final state (f16 training).
    pub loss_scale: Option<LossScaleState>,
}

impl<M> FitReport<M> {
    /// The same report with the model transformed (wrapped into an enum of models, say).
    pub fn map_model<N>(self, f: impl FnOnce(M) -> N) -> FitReport<N> {
        FitReport {
            model: f(self.model),
            history: self.history,
            steps: self.steps,
            samples_seen: self.samples_seen,
            train_seconds: self.train_seconds,
            best_epoch: self.best_epoch,
            stopped_early: self.stopped_early,
            loss_scale: self.loss_scale,
        }
    }
}
