//! Progress reporting: an indicatif bar on a terminal, one plain line per epoch (every
//! `log_every` epochs) otherwise, nothing in tests.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::EpochRecord;

/// Receives the loop's progress events.
pub trait Progress {
    /// Training starts.
    fn start(&mut self, _epochs: usize, _batches_per_epoch: usize) {}
    /// One batch is done (one optimizer step, unless gradients are accumulated).
    fn step(&mut self) {}
    /// One epoch is done.
    fn epoch(&mut self, _record: &EpochRecord) {}
    /// Training is over.
    fn finish(&mut self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}

/// Progress on standard error: a bar on a terminal, plain lines otherwise.
pub struct ConsoleProgress {
    bar: Option<ProgressBar>,
    log_every: usize,
    epochs: usize,
}

impl ConsoleProgress {
    /// Plain lines every `log_every` epochs when standard error is not a terminal.
    pub fn new(log_every: usize) -> Self {
        Self {
            bar: None,
            log_every: log_every.max(1),
            epochs: 0,
        }
    }
}

impl Progress for ConsoleProgress {
    fn start(&mut self, epochs: usize, steps_per_epoch: usize) {
        self.epochs = epochs;
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new((epochs * steps_per_epoch) as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            self.bar = Some(bar);
        }
    }

    fn step(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn epoch(&mut self, record: &EpochRecord) {
        match &self.bar {
            Some(bar) => bar.set_message(record.describe(self.epochs)),
            None if record.epoch.is_multiple_of(self.log_every) || record.epoch == self.epochs => {
                eprintln!("{}", record.describe(self.epochs))
            }
            None => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
