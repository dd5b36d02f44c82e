//! The command-line interface: `kiln train | eval | predict | list | inspect`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Kiln: a model zoo on Burn. Train, evaluate, inspect and use MLP, CNN and RNN models from one
/// TOML config per experiment.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model from a config file (or the name of a shipped config).
    Train(TrainArgs),
    /// Evaluate a trained run on its test split: accuracy, per-class precision/recall, confusion
    /// matrix (also written as confusion.png in the run folder).
    Eval(EvalArgs),
    /// Predict classes with a trained run: the rows of a CSV file, or PNG/JPEG digit images.
    Predict(PredictArgs),
    /// Sample text from a trained character language model.
    Generate(GenerateArgs),
    /// Measure training and inference throughput, batch-1 inference latency and peak memory of
    /// a config's model.
    Bench(BenchArgs),
    /// List the model kinds, the shipped configs, the pretrained models with their results,
    /// and the backends.
    List(ListArgs),
    /// Show a trained run's model, parameter count, file size and config.
    Inspect(InspectArgs),
    /// Compress a trained run: magnitude pruning (fine-tuned gradually), int8 weights, or a
    /// sweep of sparsities; writes a run folder with compress.json.
    Compress(CompressArgs),
    /// Audit the predictions of any model in a CSV file: accuracy, selection rate, TPR and
    /// FPR per group, demographic parity and equalized odds (Fairlearn's semantics).
    Fairness(FairnessArgs),
    /// Write a run's model card again (model-card.md, model-card.json and its pictures).
    Card(CardArgs),
    /// Explain predictions with integrated gradients: features ranked by attribution for
    /// tables, a heat map PNG for images.
    Explain(ExplainArgs),
    /// Plan a privacy budget: epsilon of a DP-SGD training, or the noise a budget needs
    /// (Opacus's RDP accountant).
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Export a trained run (or a pretrained model) for use outside Kiln: safetensors in
    /// PyTorch's layout, a torch.nn.Module folder (model.py), or ONNX.
    Export(ExportArgs),
    /// Import a state dict trained elsewhere (safetensors or PyTorch .pt) into a config's
    /// model, as a run folder that eval, predict, export and `train --init` accept.
    Import(ImportArgs),
}

/// Arguments of `kiln export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A run folder, or the name of a pretrained model (see `kiln list`).
    pub run_dir: PathBuf,
    /// safetensors (one file), pytorch-module (a folder with model.py, model.safetensors,
    /// preprocessing.json, architecture.json) or onnx (one file, opset 18).
    #[arg(long, default_value = "safetensors")]
    pub format: String,
    /// The file (or folder, for pytorch-module) to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// ONNX: a fixed batch size instead of a dynamic batch axis (recurrent models always have
    /// a fixed one: 1 unless given).
    #[arg(long)]
    pub batch: Option<usize>,
}

/// Arguments of `kiln import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A state dict: .safetensors, or a PyTorch .pt / .pth file, with PyTorch's names.
    pub weights: PathBuf,
    /// The config (a file or a shipped config's name) whose model and data the weights are for.
    #[arg(long)]
    pub config: String,
    /// Run folder to write (default: runs/<config name>, numbered if it exists).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a run already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Do not write the model card.
    #[arg(long)]
    pub no_card: bool,
    /// Backend: flex, ndarray or wgpu (those compiled in).
    #[arg(long)]
    pub backend: Option<String>,
    /// `key=value` overrides of the config, as for train.
    #[arg(long = "set")]
    pub overrides: Vec<String>,
}

/// `kiln privacy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Epsilon (and the best RDP order) spent by `--steps` steps of DP-SGD.
    Epsilon(EpsilonArgs),
    /// The noise multiplier that keeps `--epochs` epochs within `--target-epsilon`.
    Noise(NoiseArgs),
    /// Test accuracy against epsilon of trained runs, as a table and a PNG (runs without
    /// [privacy] are drawn as the non-private reference line).
    Curve(CurveArgs),
}

/// Arguments of `kiln privacy curve`.
#[derive(Debug, clap::Args)]
pub struct CurveArgs {
    /// Run folders written by `kiln train`.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `kiln privacy epsilon`.
#[derive(Debug, clap::Args)]
pub struct EpsilonArgs {
    /// Poisson sampling rate q (expected batch size / training examples), in (0, 1].
    #[arg(long, allow_hyphen_values = true)]
    pub sample_rate: f64,
    /// Noise multiplier sigma (noise standard deviation / clip norm), >= 0.
    #[arg(long, allow_hyphen_values = true)]
    pub noise_multiplier: f64,
    /// Optimizer steps.
    #[arg(long)]
    pub steps: usize,
    /// delta, in (0, 1).
    #[arg(long, allow_hyphen_values = true)]
    pub delta: f64,
    /// Print JSON (`epsilon`, `order`).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kiln privacy noise`.
#[derive(Debug, clap::Args)]
pub struct NoiseArgs {
    /// The budget epsilon, > 0.
    #[arg(long, allow_hyphen_values = true)]
    pub target_epsilon: f64,
    /// Poisson sampling rate q, in (0, 1].
    #[arg(long, allow_hyphen_values = true)]
    pub sample_rate: f64,
    /// Epochs of training (int(epochs / q) steps).
    #[arg(long, allow_hyphen_values = true)]
    pub epochs: f64,
    /// delta, in (0, 1).
    #[arg(long, allow_hyphen_values = true)]
    pub delta: f64,
    /// Print JSON (`noise_multiplier`, `epsilon`, `steps`).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kiln train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A TOML config file, or the name of a shipped config (see `kiln list`).
    pub config: String,
    /// Run folder (default: runs/<config name>, numbered if it exists).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a trained run already in --out.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Do not write the model card (model-card.md) at the end.
    #[arg(long)]
    pub no_card: bool,
    /// Continue the run in --out from its newest valid checkpoint (bit-exact).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Start from the weights of this run folder (or pretrained model) instead of a fresh
    /// initialisation: fine-tuning, of an imported run say. Its model must be the config's.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Backend: flex, ndarray or wgpu (those compiled in).
    #[arg(long)]
    pub backend: Option<String>,
    /// Override train.epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Compute precision (f32 master weights in every case): overrides train.precision.
    #[arg(long, value_parser = ["f32", "f16", "bf16"])]
    pub precision: Option<String>,
    /// Override any config key by dotted path, e.g. --set optim.lr=0.01 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Arguments of `kiln eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A run folder written by `kiln train`, or one of its checkpoint folders.
    pub run_dir: PathBuf,
    /// Backend to evaluate on (default: the one it trained on).
    #[arg(long)]
    pub backend: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fairness by group: test metrics per value of these sensitive attributes
    /// (`data.sensitive`), comma-separated; several give one table each.
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// With --by: choose one decision threshold per group on the validation split so that the
    /// groups' selection rates (demographic-parity) or error rates (equalized-odds) match,
    /// and report accuracy and disparity on the test split before and after.
    #[arg(long, requires = "by", value_parser = ["demographic-parity", "equalized-odds"])]
    pub mitigate: Option<String>,
    /// With --mitigate: the disparity left allowed on the validation split (the selection-rate
    /// difference, or the equalized-odds difference); larger keeps more accuracy.
    #[arg(
        long,
        default_value_t = 0.01,
        requires = "mitigate",
        allow_hyphen_values = true
    )]
    pub tolerance: f64,
}

/// Arguments of `kiln list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print the pretrained models' table as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kiln fairness`.
#[derive(Debug, clap::Args)]
pub struct FairnessArgs {
    /// A CSV file of predictions with a header (from any model, not only Kiln's).
    pub predictions: PathBuf,
    /// The column of true labels.
    #[arg(long)]
    pub label: String,
    /// The column of predicted labels.
    #[arg(long)]
    pub prediction: String,
    /// The sensitive column(s), comma-separated; several group by their combined values.
    #[arg(long, value_delimiter = ',', required = true)]
    pub by: Vec<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kiln card`.
#[derive(Debug, clap::Args)]
pub struct CardArgs {
    /// A run folder written by `kiln train` or `kiln compress`.
    pub run_dir: PathBuf,
    /// Backend to measure on (default: the one it trained on).
    #[arg(long)]
    pub backend: Option<String>,
}

/// Arguments of `kiln explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A run folder written by `kiln train`.
    pub run_dir: PathBuf,
    /// PNG/JPEG images for image models, or one CSV file of rows for tables.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Steps of the integral along the path from the baseline to the input to start with; they
    /// are doubled until the completeness gap is within 1% (at most 1,024).
    #[arg(long, default_value_t = 64)]
    pub steps: usize,
    /// The baseline: `zeros` of the standardised space (the training mean), or `raw-zeros`
    /// (all raw values 0: a black image).
    #[arg(long, default_value = "zeros", value_parser = ["zeros", "raw-zeros"])]
    pub baseline: String,
    /// The class to explain (default: the predicted one).
    #[arg(long)]
    pub class: Option<usize>,
    /// Folder for the heat maps of image inputs (default: the run folder's `explanations/`;
    /// for a pretrained model, `explanations/` in the current folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Backend (default: the one it trained on).
    #[arg(long)]
    pub backend: Option<String>,
}

/// Arguments of `kiln predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A run folder written by `kiln train`, or one of its checkpoint folders.
    pub run_dir: PathBuf,
    /// A CSV file of feature rows (header optional; a target column is ignored), or one or more
    /// PNG/JPEG images for image models.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Backend to predict on (default: the one it trained on).
    #[arg(long)]
    pub backend: Option<String>,
    /// Print JSON instead of CSV.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `kiln generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// A run folder of a language model (`model.kind = "charlm"`).
    pub run_dir: PathBuf,
    /// Text to start from.
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Number of characters to generate.
    #[arg(long, default_value_t = 400)]
    pub len: usize,
    /// Sampling temperature: lower is more conservative.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Seed of the sampling: the same seed gives the same text.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Backend (default: the one it trained on).
    #[arg(long)]
    pub backend: Option<String>,
}

/// Arguments of `kiln bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A TOML config file, or the name of a shipped config.
    pub config: String,
    /// Timed training steps (after 5 warm-up steps).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Backend: flex, ndarray or wgpu (those compiled in).
    #[arg(long)]
    pub backend: Option<String>,
    /// Compute precision (f32 master weights in every case): overrides train.precision.
    #[arg(long, value_parser = ["f32", "f16", "bf16"])]
    pub precision: Option<String>,
    /// Override any config key by dotted path (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Arguments of `kiln inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A run folder written by `kiln train`.
    pub run_dir: PathBuf,
}

/// Arguments of `kiln compress`.
#[derive(Debug, clap::Args)]
pub struct CompressArgs {
    /// A run folder written by `kiln train`.
    pub run_dir: PathBuf,
    /// Prune this fraction of the weights by magnitude (in [0, 1), e.g. 0.9).
    #[arg(long, allow_hyphen_values = true)]
    pub prune: Option<f64>,
    /// Structured pruning: remove this fraction of the conv filters (cnn) or hidden units (mlp)
    /// with the smallest L1 norms, giving a smaller dense model (in [0, 1), e.g. 0.5).
    #[arg(long, allow_hyphen_values = true)]
    pub structured: Option<f64>,
    /// One magnitude threshold over all layers instead of the same fraction of each.
    #[arg(long)]
    pub global: bool,
    /// Store the weights as int8 (symmetric, MinMax calibration).
    #[arg(long, value_parser = ["int8"])]
    pub quantize: Option<String>,
    /// int8: one scale per block of this many values (default: one per tensor).
    #[arg(long)]
    pub block: Option<u8>,
    /// Fine-tune quantization-aware (fake int8 weights with a straight-through estimator);
    /// needs --quantize int8 and --finetune-epochs.
    #[arg(long)]
    pub qat: bool,
    /// Fine-tune for this many epochs, pruning gradually (Zhu & Gupta) over the first two thirds.
    #[arg(long, default_value_t = 0)]
    pub finetune_epochs: usize,
    /// Learning rate of the fine-tuning (default: the run's, on the run's schedule over the
    /// fine-tuning epochs).
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    /// Prune to each of these sparsities (comma-separated), one run folder each, and draw
    /// accuracy against sparsity (sweep.png).
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<f64>,
    /// Output folder (a run folder; with --sweep, the folder of the sweep's runs).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace what is already in --out.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Continue an interrupted fine-tuning in --out from its newest checkpoint (give the same
    /// flags); bit-exact, pruning masks included.
    #[arg(long)]
    pub resume: bool,
    /// Backend (default: the one the run trained on).
    #[arg(long)]
    pub backend: Option<String>,
}
