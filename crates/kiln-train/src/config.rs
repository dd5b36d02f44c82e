//! The experiment config: one TOML file per experiment, with `--set key=value` overrides by
//! dotted path, checked before any work starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{KilnError, Result};

/// A whole experiment: model, data, training, optimizer, schedule and stopping rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name (default: the config file's stem); names the run folder.
    #[serde(default)]
    pub name: String,
    /// Seed of everything random: initialisation, splits, shuffling, dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The network.
    pub model: ModelConfig,
    /// Where the data comes from and how it is split.
    pub data: DataConfig,
    /// Epochs, batch size, backend, precision, logging.
    #[serde(default)]
    pub train: TrainConfig,
    /// The optimizer and its learning rate.
    #[serde(default)]
    pub optim: OptimConfig,
    /// L1 and L2 penalties.
    #[serde(default)]
    pub regularization: RegularizationConfig,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Early stopping on a validation metric.
    #[serde(default)]
    pub early_stopping: EarlyStoppingConfig,
    /// When to write checkpoints and how many to keep.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// The dynamic loss scaler of f16 training.
    #[serde(default)]
    pub loss_scale: crate::precision::LossScaleConfig,
}

/// Checkpoints of the whole training state under `RUN_DIR/checkpoints/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Every this many optimizer steps (0 = not by steps).
    #[serde(default)]
    pub every_steps: usize,
    /// Every this many epochs (0 = not by epochs).
    #[serde(default = "one")]
    pub every_epochs: usize,
    /// How many of the newest checkpoints to keep (the best by validation is kept besides).
    #[serde(default = "two")]
    pub keep_last: usize,
}

fn two() -> usize {
    2
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every_steps: 0,
            every_epochs: 1,
            keep_last: 2,
        }
    }
}

fn default_seed() -> u64 {
    42
}

/// The network and its hyper-parameters; `kind` picks the architecture family.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    /// A multi-layer perceptron (kiln-fnn).
    Mlp(MlpSpec),
    /// A convolutional network (kiln-cnn).
    Cnn(CnnSpec),
    /// A recurrent sequence classifier (kiln-rnn): Elman, LSTM or GRU.
    Rnn(RnnSpec),
    /// A character-level language model (kiln-rnn) trained on a text.
    Charlm(CharLmSpec),
}

impl ModelConfig {
    /// The architecture family's name.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Cnn(_) => "cnn",
            ModelConfig::Rnn(_) => "rnn",
            ModelConfig::Charlm(_) => "charlm",
        }
    }
}

/// A convolutional network: a preset, or a stack of conv blocks given as data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CnnSpec {
    /// `lenet` (the reference model), `resnet` (small residual network) or `custom`.
    #[serde(default)]
    pub preset: CnnPreset,
    /// Input shape `[channels, height, width]` the network is built for; checked against the data.
    #[serde(default = "mnist_shape")]
    pub input: Vec<usize>,
    /// `custom`: the conv blocks, first to last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<ConvBlockSpec>,
    /// `custom`: hidden widths of the classifier head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<usize>,
    /// `custom`: global average pooling instead of flattening.
    #[serde(default)]
    pub global_avg_pool: bool,
    /// Dropout in the classifier head.
    #[serde(default)]
    pub dropout: f64,
}

fn mnist_shape() -> Vec<usize> {
    vec![1, 28, 28]
}

/// The CNN presets.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CnnPreset {
    /// conv 32 k3, pool 2, conv 64 k3, pool 2, 1600 -> 128 -> classes.
    #[default]
    Lenet,
    /// A small residual network with batch norm and global average pooling.
    Resnet,
    /// The blocks and head given in the config.
    Custom,
}

/// One conv block of a custom CNN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConvBlockSpec {
    /// Output channels.
    pub channels: usize,
    /// Square kernel size.
    #[serde(default = "three")]
    pub kernel: usize,
    /// Zero padding on each side (0 = valid).
    #[serde(default)]
    pub padding: usize,
    /// Convolution stride.
    #[serde(default = "one")]
    pub stride: usize,
    /// Max-pool size after the block (0 = none).
    #[serde(default)]
    pub pool: usize,
    /// Batch norm after the convolution.
    #[serde(default)]
    pub batch_norm: bool,
    /// Dropout after the block.
    #[serde(default)]
    pub dropout: f64,
    /// A residual block (two 3x3 convolutions with a skip connection).
    #[serde(default)]
    pub residual: bool,
}

fn three() -> usize {
    3
}
fn one() -> usize {
    1
}

/// A recurrent sequence classifier; images are read row by row (28 steps of 28 pixels).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RnnSpec {
    /// `elman`, `lstm` or `gru`.
    #[serde(default)]
    pub cell: CellName,
    /// Hidden units per layer and direction.
    #[serde(default = "default_rnn_hidden")]
    pub hidden: usize,
    /// Stacked layers.
    #[serde(default = "one")]
    pub layers: usize,
    /// Read the sequence both ways.
    #[serde(default)]
    pub bidirectional: bool,
    /// Elman activation: `tanh` or `relu`.
    #[serde(default)]
    pub activation: RnnActivation,
    /// Dropout between stacked layers.
    #[serde(default)]
    pub dropout: f64,
}

fn default_rnn_hidden() -> usize {
    128
}

/// A character language model: embedding -> stacked recurrent layers -> vocabulary logits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CharLmSpec {
    /// `elman`, `lstm` or `gru`.
    #[serde(default)]
    pub cell: CellName,
    /// Hidden units per layer.
    #[serde(default = "default_lm_hidden")]
    pub hidden: usize,
    /// Stacked layers.
    #[serde(default = "one")]
    pub layers: usize,
    /// Width of the character embedding.
    #[serde(default = "default_embedding")]
    pub embedding: usize,
    /// Dropout on every recurrent layer's outputs: between stacked layers and before the
    /// output layer.
    #[serde(default)]
    pub dropout: f64,
}

fn default_lm_hidden() -> usize {
    256
}
fn default_embedding() -> usize {
    64
}

/// A recurrent cell.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CellName {
    /// Kiln's Elman RNN.
    Elman,
    /// Kiln's LSTM (PyTorch's equations).
    #[default]
    Lstm,
    /// Kiln's GRU (PyTorch's equations).
    Gru,
}

/// Activation of an Elman cell.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RnnActivation {
    /// tanh (the classic Elman network).
    #[default]
    Tanh,
    /// ReLU.
    Relu,
}

/// Hyper-parameters of an MLP; input and output sizes come from the data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Expected number of input features; checked against the data when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<usize>,
    /// Width of each hidden layer.
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Hidden activation.
    #[serde(default)]
    pub activation: ActivationName,
    /// Dropout probability after each hidden activation.
    #[serde(default)]
    pub dropout: f64,
    /// Batch norm after each hidden linear layer.
    #[serde(default)]
    pub batch_norm: bool,
}

/// A hidden-layer activation function.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActivationName {
    /// max(0, x)
    #[default]
    Relu,
    /// tanh(x)
    Tanh,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// Gaussian error linear unit.
    Gelu,
}

/// Data source and split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// An embedded dataset: `breast-cancer`, `iris` or `mnist-10k`.
    pub dataset: String,
    /// A user's own data instead: a CSV file (with `target`) or an MNIST-style IDX directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Target column of a CSV table.
    #[serde(default = "default_target")]
    pub target: String,
    /// Fraction held out for the test split (datasets without their own test split).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Fraction of the training split held out for validation (early stopping, model selection).
    #[serde(default)]
    pub valid_fraction: f64,
    /// Standardise features with the training split's statistics.
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Training images only: random shifts of up to this many pixels (seeded).
    #[serde(default)]
    pub augment_shift: f32,
    /// Training images only: random rotations of up to this many degrees either way (seeded).
    #[serde(default)]
    pub augment_rotation: f32,
}

fn default_target() -> String {
    "target".into()
}
fn default_test_fraction() -> f64 {
    0.2
}
fn yes() -> bool {
    true
}

/// Training length, batching, backend, precision and logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training split.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Samples per step; 0 means the whole training split (full batch).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Backend name (`flex`, `ndarray`, `wgpu`); default: the build's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Compute precision; only `f32` so far.
    #[serde(default = "default_precision")]
    pub precision: String,
    /// Language models: characters per chunk of truncated back-propagation through time.
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Print a plain progress line every this many epochs when not on a terminal.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
}

fn default_epochs() -> usize {
    10
}
fn default_batch_size() -> usize {
    64
}
fn default_precision() -> String {
    "f32".into()
}
fn default_log_every() -> usize {
    1
}
fn default_seq_len() -> usize {
    100
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            backend: None,
            precision: default_precision(),
            seq_len: default_seq_len(),
            log_every: default_log_every(),
        }
    }
}

/// Optimizer choice and hyper-parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// `gd` (full-batch gradient descent), `sgd`, `adam` or `adamw`.
    #[serde(default)]
    pub name: OptimName,
    /// Base learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// SGD momentum (0 disables it).
    #[serde(default)]
    pub momentum: f64,
    /// Nesterov momentum for SGD.
    #[serde(default)]
    pub nesterov: bool,
    /// Adam's first-moment decay.
    #[serde(default = "default_beta1")]
    pub beta1: f32,
    /// Adam's second-moment decay.
    #[serde(default = "default_beta2")]
    pub beta2: f32,
    /// Adam's epsilon.
    #[serde(default = "default_epsilon")]
    pub epsilon: f32,
    /// Clip gradients to this global L2 norm over all parameters (none when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

fn default_lr() -> f64 {
    1e-3
}
fn default_beta1() -> f32 {
    0.9
}
fn default_beta2() -> f32 {
    0.999
}
fn default_epsilon() -> f32 {
    1e-8
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            name: OptimName::default(),
            lr: default_lr(),
            momentum: 0.0,
            nesterov: false,
            beta1: default_beta1(),
            beta2: default_beta2(),
            epsilon: default_epsilon(),
            clip_grad_norm: None,
        }
    }
}

/// The optimizers Kiln offers (all from burn-optim).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimName {
    /// Plain gradient descent on the whole training split per step.
    Gd,
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd,
    /// Adam.
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
}

impl OptimName {
    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            OptimName::Gd => "gd",
            OptimName::Sgd => "sgd",
            OptimName::Adam => "adam",
            OptimName::Adamw => "adamw",
        }
    }
}

/// Penalties on the weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegularizationConfig {
    /// L1 coefficient: adds `l1 * sum |w|` over weight matrices/kernels (not biases) to the loss.
    #[serde(default)]
    pub l1: f64,
    /// L2 coefficient, applied as the optimizer's weight decay (decoupled for `adamw`).
    #[serde(default)]
    pub l2: f64,
}

/// Learning-rate schedule, stepped once per optimizer step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `constant`, `step` or `cosine`.
    #[serde(default)]
    pub name: ScheduleName,
    /// Linear warm-up from `lr / 100` to `lr` over this many steps first.
    #[serde(default)]
    pub warmup_steps: usize,
    /// `step`: multiply the rate by `gamma` every this many epochs.
    #[serde(default = "default_step_epochs")]
    pub step_epochs: usize,
    /// `step`: the factor.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// `cosine`: the final learning rate.
    #[serde(default)]
    pub min_lr: f64,
}

fn default_step_epochs() -> usize {
    10
}
fn default_gamma() -> f64 {
    0.1
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            name: ScheduleName::Constant,
            warmup_steps: 0,
            step_epochs: default_step_epochs(),
            gamma: default_gamma(),
            min_lr: 0.0,
        }
    }
}

/// The schedules Kiln offers (built from burn-optim's schedulers).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleName {
    /// The same rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `step_epochs` epochs.
    Step,
    /// Cosine annealing to `min_lr` over the whole run.
    Cosine,
}

/// Stop when a validation metric has not improved for `patience` epochs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Epochs without improvement before stopping; 0 disables early stopping.
    #[serde(default)]
    pub patience: usize,
    /// `valid_loss` (lower is better) or `valid_accuracy` (higher is better).
    #[serde(default)]
    pub monitor: Monitor,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Keep the weights of the best epoch at the end (model selection).
    #[serde(default = "yes")]
    pub restore_best: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        Self {
            patience: 0,
            monitor: Monitor::default(),
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

/// A validation metric to watch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss, lower is better.
    #[default]
    ValidLoss,
    /// Validation accuracy, higher is better.
    ValidAccuracy,
}

impl ExperimentConfig {
    /// Reads a config file, applies `key=value` overrides and checks the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            KilnError::Config(format!("{}: cannot read config: {e}", path.display()))
        })?;
        let mut config = Self::parse(&text, overrides, &path.display().to_string())?;
        if config.name.is_empty() {
            config.name = path
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().into());
        }
        Ok(config)
    }

    /// Parses config text (`origin` names it in errors), applies overrides and checks it.
    pub fn parse(text: &str, overrides: &[String], origin: &str) -> Result<Self> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            KilnError::Config(format!("{origin}: {}", one_line(&e.to_string())))
        })?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let config: Self = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                KilnError::Config(format!("{origin}: {}", one_line(&e.to_string())))
            })?;
        config
            .validate()
            .map_err(|e| KilnError::Config(format!("{origin}: {e}")))?;
        Ok(config)
    }

    /// A hash of everything that must not change on resume: the whole config except the number
    /// of epochs, logging and checkpoint timing.
    pub fn resume_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut fixed = self.clone();
        fixed.train.epochs = 0;
        fixed.train.log_every = 1;
        fixed.train.backend = None;
        fixed.checkpoint = CheckpointConfig::default();
        fixed.name = String::new();
        Sha256::digest(fixed.to_toml().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The resolved config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs always serialise")
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let check = |ok: bool, message: &str| if ok { Ok(()) } else { Err(message.to_string()) };
        check(self.train.epochs > 0, "train.epochs must be at least 1")?;
        check(
            self.optim.lr > 0.0 && self.optim.lr <= 1.0,
            "optim.lr must be in (0, 1]",
        )?;
        check(
            (0.0..1.0).contains(&self.optim.momentum),
            "optim.momentum must be in [0, 1)",
        )?;
        check(
            self.regularization.l1 >= 0.0,
            "regularization.l1 must be >= 0",
        )?;
        check(
            self.regularization.l2 >= 0.0,
            "regularization.l2 must be >= 0",
        )?;
        check(
            self.optim.clip_grad_norm.is_none_or(|c| c > 0.0),
            "optim.clip_grad_norm must be > 0",
        )?;
        check(
            (0.0..1.0).contains(&self.data.test_fraction),
            "data.test_fraction must be in [0, 1)",
        )?;
        check(
            (0.0..1.0).contains(&self.data.valid_fraction),
            "data.valid_fraction must be in [0, 1)",
        )?;
        check(
            self.train.log_every > 0,
            "train.log_every must be at least 1",
        )?;
        check(
            self.schedule.step_epochs > 0,
            "schedule.step_epochs must be at least 1",
        )?;
        check(
            self.checkpoint.keep_last > 0,
            "checkpoint.keep_last must be at least 1",
        )?;
        check(
            self.schedule.min_lr >= 0.0 && self.schedule.min_lr <= self.optim.lr,
            "schedule.min_lr must be in [0, optim.lr]",
        )?;
        check(
            self.early_stopping.patience == 0 || self.data.valid_fraction > 0.0,
            "early_stopping needs a validation split: set data.valid_fraction > 0",
        )?;
        check(
            self.data.augment_shift >= 0.0 && self.data.augment_rotation >= 0.0,
            "data.augment_shift and data.augment_rotation must be >= 0",
        )?;
        match &self.model {
            ModelConfig::Mlp(mlp) => {
                check(
                    (0.0..1.0).contains(&mlp.dropout),
                    "model.dropout must be in [0, 1)",
                )?;
                check(
                    mlp.hidden.iter().all(|&h| h > 0),
                    "model.hidden sizes must be > 0",
                )?;
            }
            ModelConfig::Cnn(cnn) => {
                check(
                    (0.0..1.0).contains(&cnn.dropout),
                    "model.dropout must be in [0, 1)",
                )?;
                check(
                    cnn.input.len() == 3,
                    "model.input must be [channels, height, width]",
                )?;
                check(
                    cnn.preset != CnnPreset::Custom || !cnn.blocks.is_empty(),
                    "model.preset = \"custom\" needs [[model.blocks]]",
                )?;
            }
            ModelConfig::Charlm(lm) => {
                check(
                    (0.0..1.0).contains(&lm.dropout),
                    "model.dropout must be in [0, 1)",
                )?;
                check(
                    lm.hidden > 0 && lm.layers > 0 && lm.embedding > 0,
                    "model.hidden, model.layers and model.embedding must be > 0",
                )?;
                check(self.train.seq_len > 0, "train.seq_len must be at least 1")?;
                check(
                    self.data.valid_fraction > 0.0,
                    "a language model needs data.valid_fraction > 0",
                )?;
            }
            ModelConfig::Rnn(rnn) => {
                check(
                    (0.0..1.0).contains(&rnn.dropout),
                    "model.dropout must be in [0, 1)",
                )?;
                check(
                    rnn.hidden > 0 && rnn.layers > 0,
                    "model.hidden and model.layers must be > 0",
                )?;
            }
        }
        crate::precision::Precision::parse(&self.train.precision).map_err(|e| e.to_string())?;
        check(
            self.loss_scale.initial > 0.0 && self.loss_scale.growth_factor >= 1.0,
            "loss_scale.initial must be > 0 and loss_scale.growth_factor >= 1",
        )?;
        check(
            self.loss_scale.backoff_factor > 0.0 && self.loss_scale.backoff_factor < 1.0,
            "loss_scale.backoff_factor must be in (0, 1)",
        )?;
        Ok(())
    }
}

/// Applies one `dotted.key=value` override; the value is read as TOML (number, bool, array,
/// quoted string) and otherwise taken as a plain string.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| KilnError::Config(format!("--set '{item}': expected key=value")))?;
    let key = key.trim();
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(KilnError::Config(format!(
            "--set '{item}': bad key '{key}'"
        )));
    }
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry.as_table_mut().ok_or_else(|| {
            KilnError::Config(format!("--set '{item}': '{part}' is not a section"))
        })?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[model]\nkind = \"mlp\"\nhidden = [8]\n[data]\ndataset = \"iris\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = ExperimentConfig::parse(MINIMAL, &[], "t.toml").unwrap();
        assert_eq!(c.seed, 42);
        assert_eq!(c.optim.name, OptimName::Adam);
        assert_eq!(c.train.batch_size, 64);
        assert_eq!(
            c.model,
            ModelConfig::Mlp(MlpSpec {
                input_size: None,
                hidden: vec![8],
                activation: ActivationName::Relu,
                dropout: 0.0,
                batch_norm: false
            })
        );
    }

    #[test]
    fn overrides_reach_any_key_by_dotted_path() {
        let sets = [
            "optim.lr=0.01",
            "data.path=/x/y.csv",
            "model.hidden=[3, 4]",
            "optim.name=sgd",
            "seed=7",
        ]
        .map(String::from);
        let c = ExperimentConfig::parse(MINIMAL, &sets, "t.toml").unwrap();
        assert_eq!(c.optim.lr, 0.01);
        assert_eq!(c.data.path.as_deref(), Some(Path::new("/x/y.csv")));
        assert_eq!(c.optim.name, OptimName::Sgd);
        assert_eq!(c.seed, 7);
        assert!(matches!(&c.model, ModelConfig::Mlp(mlp) if mlp.hidden == vec![3, 4]));
    }

    #[test]
    fn round_trips_through_toml() {
        let c = ExperimentConfig::parse(MINIMAL, &[], "t.toml").unwrap();
        assert_eq!(
            ExperimentConfig::parse(&c.to_toml(), &[], "again").unwrap(),
            c
        );
    }

    #[test]
    fn bad_configs_name_the_file_and_the_problem() {
        let cases = [
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\nbogus = 1\n",
                "unknown field `bogus`",
            ),
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\n[optim]\nlr = -1.0\n",
                "optim.lr",
            ),
            (
                "[model]\nkind = \"transformer\"\n[data]\ndataset = \"iris\"\n",
                "transformer",
            ),
            ("[model\n", "t.toml"),
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\n[early_stopping]\npatience = 3\n",
                "valid_fraction",
            ),
        ];
        for (text, needle) in cases {
            let err = ExperimentConfig::parse(text, &[], "t.toml").unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("t.toml: "), "{message}");
            assert!(
                message.contains(needle),
                "{message} should mention {needle}"
            );
            assert_eq!(err.exit_code(), 2);
        }
        let err = ExperimentConfig::parse(MINIMAL, &["nokey".into()], "t.toml").unwrap_err();
        assert!(err.to_string().contains("expected key=value"));
    }
}
