//! Checkpoints that lose nothing: the whole state of training (model, optimizer, scheduler,
//! position, random state, metrics so far, early stopping, best model) in one folder per
//! checkpoint under `RUN_DIR/checkpoints/`, written into a temporary folder, fsync'd and renamed
//! into place, with a `latest` pointer updated the same way. Every file's sha256 and size are
//! recorded in `state.json` and checked on resume; a damaged checkpoint is skipped for the
//! previous one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::lr_scheduler::LrSchedulerRecord;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::RecordError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint_writer::{BackgroundWriter, CapturedCheckpoint, checkpoint_names};
use crate::{EpochRecord, KilnError, Result};

/// Folder of the checkpoints inside a run folder.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The manifest of a checkpoint.
pub const STATE_FILE: &str = "state.json";
const MODEL: &str = "model.bpk";
const BEST_MODEL: &str = "best-model.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const SCHEDULER: &str = "scheduler.bpk";

/// Running sums of the epoch in progress, so that its metrics survive a resume.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct RunningSums {
    /// Sum of batch loss times batch size.
    pub loss_sum: f64,
    /// Correct predictions.
    pub correct: f64,
    /// Samples seen in the epoch.
    pub samples: usize,
}

/// Early-stopping state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct StopperState {
    /// Best value of the monitored metric.
    pub best: Option<f64>,
    /// Epoch of the best value.
    pub best_epoch: Option<usize>,
    /// Epochs since the best.
    pub waited: usize,
}

/// Size and sha256 of one file of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileDigest {
    /// Hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// `state.json`: where training stands and what the checkpoint's files must be.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// The epoch in progress (1-based).
    pub epoch: usize,
    /// Batches of that epoch already trained.
    pub position: usize,
    /// Optimizer steps taken so far.
    pub step: usize,
    /// The base seed; every random draw derives from it, the epoch and the step.
    pub seed: u64,
    /// Training samples processed so far.
    pub samples_seen: usize,
    /// Seconds of training so far.
    pub train_seconds: f64,
    /// Sums of the epoch in progress.
    pub running: RunningSums,
    /// Metrics of the finished epochs.
    pub history: Vec<EpochRecord>,
    /// Early stopping.
    pub early_stopping: StopperState,
    /// Hash of the config (everything but the number of epochs and logging).
    pub config_hash: String,
    /// Kiln version that wrote it.
    pub kiln_version: String,
    /// Every other file of the checkpoint with its sha256 and size.
    pub files: BTreeMap<String, FileDigest>,
    /// The loss scaler (f16 training).
    #[serde(default)]
    pub loss_scale: Option<crate::precision::LossScaleState>,
    /// Batches trained so far (more than `step` under gradient accumulation; absent in
    /// checkpoints written before accumulation, where it equals `step`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<usize>,
    /// Shapes of the carried tensors saved as `<name>.f32`.
    #[serde(default)]
    pub carried: BTreeMap<String, Vec<usize>>,
    /// sha256 of this state itself (serialised with this field empty), so that a damaged
    /// `state.json` is detected too.
    #[serde(default)]
    pub state_sha256: String,
}

impl TrainState {
    /// A state at `epoch` (in progress) after `position` of its batches and `step` steps in all.
    #[allow(clippy::too_many_arguments)]
    pub fn at(
        epoch: usize,
        position: usize,
        step: usize,
        seed: u64,
        samples_seen: usize,
        train_seconds: f64,
        running: RunningSums,
        history: Vec<EpochRecord>,
        early_stopping: StopperState,
    ) -> Self {
        Self {
            epoch,
            position,
            step,
            seed,
            samples_seen,
            train_seconds,
            running,
            history,
            early_stopping,
            config_hash: String::new(),
            kiln_version: String::new(),
            files: BTreeMap::new(),
            batches: None,
            carried: BTreeMap::new(),
            loss_scale: None,
            state_sha256: String::new(),
        }
    }

    /// The same state with the loss scaler's.
    pub fn with_loss_scale(mut self, loss_scale: Option<crate::precision::LossScaleState>) -> Self {
        self.loss_scale = loss_scale;
        self
    }

    /// The same state with the number of batches trained (recorded only when it differs from
    /// the number of steps, so that checkpoints without accumulation stay as they were).
    pub fn with_batches(mut self, batches: usize) -> Self {
        self.batches = (batches != self.step).then_some(batches);
        self
    }

    /// The state with its files' digests and its own hash filled in.
    pub(crate) fn sealed(mut self, files: &[(String, Vec<u8>)]) -> Self {
        self.files = files
            .iter()
            .map(|(file, bytes)| (file.clone(), digest_bytes(bytes)))
            .collect();
        self.state_sha256 = self.self_hash();
        self
    }

    fn self_hash(&self) -> String {
        let mut blank = self.clone();
        blank.state_sha256 = String::new();
        let text = serde_json::to_string_pretty(&blank).expect("serialises");
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// When to write checkpoints and how many to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Every this many optimizer steps (0 = not by steps).
    pub every_steps: usize,
    /// Every this many epochs (0 = not by epochs).
    pub every_epochs: usize,
    /// How many of the newest checkpoints to keep (the best one is kept besides).
    pub keep_last: usize,
}

/// Writes checkpoints of one run.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    root: PathBuf,
    policy: CheckpointPolicy,
    config_hash: String,
    writer: BackgroundWriter,
}

/// What a checkpoint holds besides its state.
pub struct Snapshot<'a, M> {
    /// The model being trained.
    pub model: &'a M,
    /// The best model so far, when early stopping keeps one.
    pub best: Option<&'a M>,
    /// The optimizer.
    pub optimizer: &'a ModuleOptimizer,
    /// The learning-rate scheduler.
    pub scheduler: &'a ModuleLrScheduler,
    /// Extra tensors the loop carries between steps (a language model's recurrent state),
    /// saved as raw little-endian f32 files `<name>.f32`.
    pub carried: Vec<(&'static str, Tensor<3>)>,
}

impl<'a, M> Snapshot<'a, M> {
    /// The state of a loop that carries nothing between steps but the model and optimizer.
    pub fn of(
        model: &'a M,
        best: Option<&'a M>,
        optimizer: &'a ModuleOptimizer,
        scheduler: &'a ModuleLrScheduler,
    ) -> Self {
        Self {
            model,
            best,
            optimizer,
            scheduler,
            carried: Vec::new(),
        }
    }

    /// The same snapshot with tensors the loop carries between steps.
    pub fn carrying(mut self, carried: Vec<(&'static str, Tensor<3>)>) -> Self {
        self.carried = carried;
        self
    }
}

impl Checkpointer {
    /// Checkpoints of the run in `run_dir`.
    pub fn new(run_dir: &Path, policy: CheckpointPolicy, config_hash: String) -> Self {
        Self {
            root: run_dir.join(CHECKPOINTS_DIR),
            policy,
            config_hash,
            writer: BackgroundWriter::default(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> CheckpointPolicy {
        self.policy
    }

    /// Whether a checkpoint is due after optimizer step `step` (a step that ends an epoch is
    /// left to [`Checkpointer::due_after_epoch`]), or because SIGINT/SIGTERM asked for one.
    pub fn due_after_step(&self, step: usize, ends_epoch: bool) -> bool {
        let every = self.policy.every_steps;
        (every > 0 && step.is_multiple_of(every) && !ends_epoch) || crate::interrupt::requested()
    }

    /// Whether a checkpoint is due at the end of `epoch` (always after the last one), whose
    /// last optimizer step was `step` (due by `every_steps` too).
    pub fn due_after_epoch(&self, epoch: usize, step: usize, last: bool) -> bool {
        let (every, every_steps) = (self.policy.every_epochs, self.policy.every_steps);
        (every > 0 && epoch.is_multiple_of(every))
            || (every_steps > 0 && step.is_multiple_of(every_steps))
            || last
            || crate::interrupt::requested()
    }

    /// Saves a checkpoint, then returns [`KilnError::Interrupted`] when a signal asked to stop.
    ///
    /// The checkpoint is captured in memory here and written on a background thread while
    /// training goes on; the next save, [`Checkpointer::flush`] and the end of a signalled run
    /// wait for it (and report its error, if writing failed).
    pub fn save_or_stop<M: Module>(
        &self,
        snapshot: Snapshot<'_, M>,
        state: TrainState,
        is_best: bool,
    ) -> Result<()> {
        let checkpoint = self.capture(snapshot, state, is_best)?;
        if crate::interrupt::requested() {
            self.writer.wait()?;
            return Err(KilnError::Interrupted(checkpoint.write()?));
        }
        self.writer.submit(checkpoint)
    }

    /// Waits until every checkpoint saved so far is on disk.
    pub fn flush(&self) -> Result<()> {
        self.writer.wait().map(|_| ())
    }

    /// Serialises everything a checkpoint holds into memory (the writer adds the digests).
    fn capture<M: Module>(
        &self,
        snapshot: Snapshot<'_, M>,
        mut state: TrainState,
        is_best: bool,
    ) -> Result<CapturedCheckpoint> {
        let failed = |e: RecordError| {
            KilnError::Internal(format!(
                "{}: cannot serialise the checkpoint: {e:?}",
                self.root.display()
            ))
        };
        let _ = snapshot.model.valid(); // brings batch-norm statistics up to date
        let mut files = vec![(
            MODEL.to_string(),
            snapshot
                .model
                .clone()
                .into_record()
                .into_bytes()
                .map_err(failed)?
                .to_vec(),
        )];
        if let Some(best) = snapshot.best {
            let _ = best.valid();
            let bytes = best.clone().into_record().into_bytes().map_err(failed)?;
            files.push((BEST_MODEL.to_string(), bytes.to_vec()));
        }
        let optimizer = snapshot.optimizer.into_bytes().map_err(failed)?;
        files.push((OPTIMIZER.to_string(), optimizer.to_vec()));
        let scheduler = snapshot
            .scheduler
            .to_record()
            .into_bytes()
            .map_err(failed)?;
        files.push((SCHEDULER.to_string(), scheduler.to_vec()));
        state.carried = BTreeMap::new();
        for (name, tensor) in &snapshot.carried {
            let values: Vec<f32> = tensor
                .to_data()
                .convert::<f32>()
                .try_to_vec()
                .map_err(|e| {
                    KilnError::Internal(format!(
                        "{}: cannot read the carried tensor {name}: {e:?}",
                        self.root.display()
                    ))
                })?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            files.push((format!("{name}.f32"), bytes));
            state
                .carried
                .insert(name.to_string(), tensor.dims().to_vec());
        }
        state.config_hash = self.config_hash.clone();
        state.kiln_version = env!("CARGO_PKG_VERSION").into();
        Ok(CapturedCheckpoint {
            root: self.root.clone(),
            name: format!("step-{:010}", state.step),
            files,
            state,
            is_best,
            keep_last: self.policy.keep_last,
        })
    }
}

/// A checkpoint folder that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedCheckpoint {
    /// The folder.
    pub dir: PathBuf,
    /// Its state.
    pub state: TrainState,
}

impl VerifiedCheckpoint {
    /// Loads the model into `model` (built with the same config).
    pub fn load_model<M: Module>(&self, model: M) -> Result<M> {
        load_module(model, &self.dir.join(MODEL))
    }

    /// Loads the best model into `model`, when the checkpoint has one.
    pub fn load_best<M: Module>(&self, model: M) -> Result<Option<M>> {
        let path = self.dir.join(BEST_MODEL);
        if !path.exists() {
            return Ok(None);
        }
        load_module(model, &path).map(Some)
    }

    /// A carried tensor saved with the checkpoint, on `device`.
    pub fn load_carried(&self, name: &str, device: &Device) -> Result<Option<Tensor<3>>> {
        let Some(shape) = self.state.carried.get(name) else {
            return Ok(None);
        };
        let path = self.dir.join(format!("{name}.f32"));
        let bytes =
            fs::read(&path).map_err(|e| KilnError::Input(format!("{}: {e}", path.display())))?;
        let &[a, b, c] = shape.as_slice() else {
            return Err(KilnError::Input(format!(
                "{}: {STATE_FILE} gives {name} the shape {shape:?}, not three dimensions",
                self.dir.display()
            )));
        };
        let expected = a
            .checked_mul(b)
            .and_then(|n| n.checked_mul(c))
            .and_then(|n| n.checked_mul(4));
        if expected != Some(bytes.len()) {
            return Err(KilnError::Input(format!(
                "{}: {} bytes, but the shape {shape:?} needs {} f32 values",
                path.display(),
                bytes.len(),
                a.saturating_mul(b).saturating_mul(c)
            )));
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Some(Tensor::from_data(
            TensorData::new(values, [a, b, c]),
            device,
        )))
    }

    /// Restores the optimizer state.
    pub fn load_optimizer(&self, optimizer: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let path = self.dir.join(OPTIMIZER);
        optimizer
            .load(&path)
            .map_err(|e| KilnError::Input(format!("{}: cannot load: {e:?}", path.display())))
    }

    /// Restores the scheduler state.
    pub fn load_scheduler(&self, scheduler: ModuleLrScheduler) -> Result<ModuleLrScheduler> {
        let path = self.dir.join(SCHEDULER);
        let record = LrSchedulerRecord::load(&path)
            .map_err(|e| KilnError::Input(format!("{}: cannot load: {e:?}", path.display())))?;
        Ok(scheduler.load_record(record))
    }
}

fn load_module<M: Module>(model: M, path: &Path) -> Result<M> {
    model
        .try_load_file(path)
        .map_err(|e| KilnError::Input(format!("{}: cannot load: {e:?}", path.display())))
}

/// Checks one checkpoint folder: its `state.json` parses and every file it lists has the recorded
/// size and sha256.
pub fn verify(dir: &Path) -> std::result::Result<TrainState, String> {
    let text =
        fs::read_to_string(dir.join(STATE_FILE)).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    let state: TrainState =
        serde_json::from_str(&text).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    if state.state_sha256 != state.self_hash() {
        return Err(format!("{STATE_FILE}: checksum mismatch (corrupt)"));
    }
    if !state.files.contains_key(MODEL) || !state.files.contains_key(OPTIMIZER) {
        return Err(format!("{STATE_FILE} lists no model or optimizer"));
    }
    for (file, expected) in &state.files {
        let actual = digest(&dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
        if actual.size != expected.size {
            return Err(format!(
                "{file}: {} bytes, expected {} (truncated?)",
                actual.size, expected.size
            ));
        }
        if actual.sha256 != expected.sha256 {
            return Err(format!("{file}: checksum mismatch (corrupt)"));
        }
    }
    Ok(state)
}

/// The newest checkpoint of a run that passes verification; damaged ones are named in a warning
/// and skipped. `Ok(None)` when the run has no checkpoint at all; an error naming the folder when
/// none is valid.
pub fn newest_valid(run_dir: &Path) -> Result<Option<VerifiedCheckpoint>> {
    let root = run_dir.join(CHECKPOINTS_DIR);
    let stale = crate::checkpoint_writer::remove_stale_temporaries(&root)?;
    if stale > 0 {
        eprintln!(
            "removed {stale} unfinished checkpoint write(s) from {}",
            root.display()
        );
    }
    let names = checkpoint_names(&root);
    if names.is_empty() {
        return Ok(None);
    }
    for name in names.iter().rev() {
        let dir = root.join(name);
        match verify(&dir) {
            Ok(state) => return Ok(Some(VerifiedCheckpoint { dir, state })),
            Err(reason) => eprintln!("warning: skipping checkpoint {}: {reason}", dir.display()),
        }
    }
    Err(KilnError::Input(format!(
        "{}: no valid checkpoint ({} damaged)",
        root.display(),
        names.len()
    )))
}

/// Reads a checkpoint folder given directly (for `kiln eval` / `kiln predict`).
pub fn open(dir: &Path) -> Result<VerifiedCheckpoint> {
    let state =
        verify(dir).map_err(|reason| KilnError::Input(format!("{}: {reason}", dir.display())))?;
    Ok(VerifiedCheckpoint {
        dir: dir.to_path_buf(),
        state,
    })
}

/// True when `dir` looks like one checkpoint folder.
pub fn is_checkpoint(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file()
}

impl FileDigest {
    /// Size and sha256 of the file at `path`.
    pub fn of_file(path: &Path) -> std::io::Result<Self> {
        digest(path)
    }
}

fn digest(path: &Path) -> std::io::Result<FileDigest> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok(FileDigest {
        sha256: hex(&hasher.finalize()),
        size,
    })
}

fn digest_bytes(bytes: &[u8]) -> FileDigest {
    FileDigest {
        sha256: hex(&Sha256::digest(bytes)),
        size: bytes.len() as u64,
    }
}

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
