//! Run folders in and out of Kiln: `kiln export` (safetensors in PyTorch's layout, a
//! `torch.nn.Module` folder, ONNX) and `kiln import` (a state dict trained elsewhere becomes a
//! run folder that eval, predict, fine-tuning and export accept).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use kiln_data::StreamChunks;
use kiln_interop::{
    Architecture, read_state_dict, safetensors_bytes, torch_module_source, torch_state_dict,
};
use kiln_train::metrics::evaluate;
use kiln_train::{KilnError, Result, weights_sha256};
use kiln_zoo::{AnyModel, TaskKind, evaluate_text};
use serde::Serialize;

use crate::data::{Preprocess, prepare, prepare_text};
use crate::experiment::{split_sizes, start_run};
use crate::manifest::Manifest;
use crate::run_dir::{MODEL_FILE, SplitMetrics, SplitSizes, Summary};
use crate::{ExperimentConfig, TrainOptions, TrainOutcome, TrainedRun, choose_backend};

/// What `kiln export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One `.safetensors` file with PyTorch's names and layout.
    Safetensors,
    /// A folder: `model.safetensors`, `model.py`, `preprocessing.json`, `architecture.json`.
    PytorchModule,
    /// One `.onnx` file (opset 18) taking standardised inputs.
    Onnx,
}

impl std::str::FromStr for ExportFormat {
    type Err = KilnError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "safetensors" => Ok(Self::Safetensors),
            "pytorch-module" => Ok(Self::PytorchModule),
            "onnx" => Ok(Self::Onnx),
            other => Err(KilnError::Input(format!(
                "unknown export format {other:?} (safetensors, pytorch-module, onnx)"
            ))),
        }
    }
}

/// How `kiln export` writes.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Replace an existing output.
    pub overwrite: bool,
    /// ONNX: a fixed batch size instead of a dynamic batch axis (the recurrent models always
    /// have one: 1 unless given).
    pub batch: Option<usize>,
}

/// `preprocessing.json` of an export: what a program outside Kiln does to a raw sample before
/// the model.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedPreprocessing {
    /// Shape of one input as the exported model takes it, batch excluded.
    pub input_shape: Vec<usize>,
    /// Mean per feature (or one for all), subtracted first; empty when not standardised.
    pub mean: Vec<f32>,
    /// Standard deviation per feature (or one for all), divided by next.
    pub std: Vec<f32>,
    /// Number of classes (outputs); for a binary classifier with one logit, 2.
    pub classes: usize,
    /// Feature names of tables.
    pub feature_names: Vec<String>,
    /// Language models: the vocabulary, in token order.
    pub vocab: String,
}

/// Writes `run` in `format` to `out` (a file, or a folder for `pytorch-module`). An existing
/// `out` is refused unless `options.overwrite`. Returns the files written.
pub fn export_run(
    run: &TrainedRun,
    format: ExportFormat,
    out: &Path,
    options: &ExportOptions,
) -> Result<Vec<PathBuf>> {
    let overwrite = options.overwrite;
    if out.exists() && !overwrite {
        return Err(KilnError::Input(format!(
            "{}: already exists (pass --overwrite to replace it)",
            out.display()
        )));
    }
    let name = &run.config.name;
    let arch = Architecture::of(&run.model)?;
    match format {
        ExportFormat::Safetensors => {
            write_file(out, &safetensors(run, &arch)?)?;
            Ok(vec![out.to_path_buf()])
        }
        ExportFormat::PytorchModule => {
            std::fs::create_dir_all(out).map_err(|source| KilnError::Write {
                path: out.into(),
                source,
            })?;
            let files = [
                ("model.safetensors", safetensors(run, &arch)?),
                ("model.py", torch_module_source(&arch, name).into_bytes()),
                ("preprocessing.json", json(&preprocessing(run, &arch))?),
                ("architecture.json", json(&arch)?),
            ];
            files
                .into_iter()
                .map(|(file, bytes)| {
                    let path = out.join(file);
                    write_file(&path, &bytes).map(|()| path)
                })
                .collect()
        }
        ExportFormat::Onnx => {
            let bytes = crate::onnx::export(run, &arch, options.batch)?;
            write_file(out, &bytes)?;
            Ok(vec![out.to_path_buf()])
        }
    }
}

fn safetensors(run: &TrainedRun, arch: &Architecture) -> Result<Vec<u8>> {
    let dict = torch_state_dict(&run.model)?;
    let metadata = [
        ("kiln_run", run.config.name.clone()),
        ("kiln_model", run.config.model.info().name.to_string()),
        ("kiln_weights_sha256", weights_sha256(&run.model)),
        (
            "kiln_architecture",
            serde_json::to_string(arch).expect("serialises"),
        ),
    ];
    safetensors_bytes(&dict, &metadata)
}

/// The preprocessing an export's consumer repeats.
pub fn preprocessing(run: &TrainedRun, arch: &Architecture) -> ExportedPreprocessing {
    let p = &run.preprocess;
    ExportedPreprocessing {
        input_shape: arch.input_shape(p.sample_shape.iter().product()),
        mean: p.mean.clone(),
        std: p.std.clone(),
        classes: p.classes,
        feature_names: p.feature_names.clone(),
        vocab: p.vocab.clone(),
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut text = serde_json::to_string_pretty(value).expect("serialises");
    text.push('\n');
    Ok(text.into_bytes())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| KilnError::Write {
        path: path.into(),
        source,
    })
}

/// `kiln import`: the state dict in `weights` loaded into the model `config` builds, written
/// as a run folder (config, preprocessing fitted on the config's data, model, summary with the
/// test metrics, and the model card when `options.card`). Nothing is created when the file or
/// the config is bad, or the state dict does not fit the model.
pub fn import_weights(
    weights: &Path,
    config: &ExperimentConfig,
    options: &TrainOptions,
) -> Result<TrainOutcome> {
    let tensors = read_state_dict(weights)?;
    let backend = choose_backend(options.backend, config)?;
    let device = backend.device()?;
    let in_file = |e: KilnError| match e {
        KilnError::Input(message) => KilnError::Input(format!("{}: {message}", weights.display())),
        other => other,
    };
    let build = |preprocess: &Preprocess| {
        let _rng = kiln_train::rng_guard();
        device.seed(config.seed);
        let model = config.model.build(&preprocess.shape(), &device)?;
        kiln_interop::load_state_dict(model, &tensors).map_err(in_file)
    };
    let (model, preprocess, metrics, samples) = match config.model.info().task {
        TaskKind::LanguageModelling => {
            let text = prepare_text(&config.data)?;
            let model = build(&text.preprocess)?;
            let streams = config.train.batch_size.max(1);
            let seq_len = config.train.seq_len;
            let valid = StreamChunks::new(text.valid, streams, seq_len);
            let train = StreamChunks::new(text.train, streams, seq_len);
            let AnyModel::Charlm(lm) = &model else {
                return Err(KilnError::Internal(
                    "a text model that is not a charlm".into(),
                ));
            };
            let e = evaluate_text(lm, &valid, &device);
            let m = SplitMetrics {
                loss: e.loss,
                accuracy: e.accuracy,
                bits_per_char: Some(e.bits_per_char),
            };
            let t = evaluate_text(lm, &train, &device);
            let train_metrics = SplitMetrics {
                loss: t.loss,
                accuracy: t.accuracy,
                bits_per_char: Some(t.bits_per_char),
            };
            let size = |c: &StreamChunks| c.len() * streams * seq_len;
            let samples = SplitSizes {
                train: size(&train),
                valid: size(&valid),
                test: size(&valid),
            };
            (model, text.preprocess, (train_metrics, Some(m), m), samples)
        }
        TaskKind::Samples | TaskKind::Sequences => {
            let splits = prepare(&config.data, config.seed)?;
            let model = build(&splits.preprocess)?;
            let objective = kiln_train::Objective::for_classes(splits.preprocess.classes);
            let metrics = |samples: &kiln_data::Samples| {
                let e = evaluate(&model, AnyModel::logits, objective, samples, &device)?;
                Ok::<_, KilnError>(SplitMetrics {
                    loss: e.loss,
                    accuracy: e.accuracy,
                    bits_per_char: None,
                })
            };
            let all = (
                metrics(&splits.train)?,
                splits.valid.as_ref().map(metrics).transpose()?,
                metrics(&splits.test)?,
            );
            let samples = split_sizes(&splits);
            (model, splits.preprocess, all, samples)
        }
    };
    let run = start_run(config, options, backend, &preprocess)?;
    run.save_model(&model)?;
    Manifest::record(run.path(), &[MODEL_FILE])?;
    run.write_metrics(&[])?;
    let (train, valid, test) = metrics;
    let summary = Summary {
        name: config.name.clone(),
        model: config.model.info().name.into(),
        backend: backend.name().into(),
        precision: config.train.precision.clone(),
        epochs: 0,
        steps: 0,
        params: model.num_params(),
        seed: config.seed,
        train_seconds: 0.0,
        train_samples_per_sec: 0.0,
        train,
        valid,
        test,
        weights_sha256: weights_sha256(&model),
        best_epoch: None,
        stopped_early: false,
        samples,
        kiln_version: env!("CARGO_PKG_VERSION").into(),
        loss_scale: None,
        privacy: None,
        imported_from: Some(weights.display().to_string()),
    };
    run.write_summary(&summary)?;
    if options.card {
        crate::card::write_card(run.path(), Some(backend))?;
    }
    Ok(TrainOutcome {
        run_dir: run.path().to_path_buf(),
        summary,
    })
}
