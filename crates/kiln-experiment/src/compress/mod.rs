//! `kiln compress`: a trained run pruned (at once, or gradually while fine-tuning on the one
//! loop), its weights optionally stored as int8, written as an ordinary run folder (eval,
//! predict and inspect read it) with `compress.json` comparing it with the original; or a sweep
//! of sparsities drawn as accuracy against sparsity.

mod measure;
mod options;
mod report;
mod workload;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use kiln_compress::{
    GradualPruning, PruneScope, QuantGranularity, ZhuGupta, attach_masks, prune, quantize_int8,
};
use kiln_train::checkpoint::{self, VerifiedCheckpoint};
use kiln_train::{KilnError, Progress, Result, TrainTask, Trainer, weights_sha256};
use kiln_zoo::AnyModel;

use crate::experiment::{TrainedRun, checkpointer, classification, load_run};
use crate::manifest::Manifest;
use crate::run_dir::{
    CONFIG_FILE, MODEL_FILE, PREPROCESS_FILE, RunDir, SplitMetrics, Summary, read_summary,
};
use crate::{ExperimentConfig, plot};

pub use measure::{ModelMeasure, inference_rate, measure};
pub use options::CompressOptions;
pub use report::{Applied, COMPRESS_FILE, CompressReport, SweepPoint};
use workload::{TextTask, Workload};

/// File name of a sweep's points, in the sweep's folder.
pub const SWEEP_FILE: &str = "sweep.json";

/// What `kiln compress` wrote.
#[derive(Debug, Clone)]
pub enum CompressOutcome {
    /// One compressed run folder and its report.
    Run {
        /// The run folder.
        dir: PathBuf,
        /// Its `compress.json`.
        report: Box<CompressReport>,
    },
    /// A sweep: one run folder per sparsity, `sweep.json` and `sweep.png`.
    Sweep {
        /// The sweep's folder.
        dir: PathBuf,
        /// The unpruned model's test accuracy.
        original_accuracy: f64,
        /// Accuracy at each sparsity.
        points: Vec<SweepPoint>,
    },
}

/// Compresses the run in `source` as `options` say.
pub fn compress(
    source: &Path,
    options: &CompressOptions,
    progress: &mut dyn Progress,
) -> Result<CompressOutcome> {
    options.validate()?;
    let original = load_run(source, options.backend)?;
    if let Some(previous) = read_report(source)?
        && previous.applied.quantize.is_some()
    {
        return Err(KilnError::Input(format!(
            "{}: its weights are already int8 and cannot be pruned, fine-tuned or quantized again: compress {} instead",
            source.display(),
            previous.source
        )));
    }
    let workload = Workload::of(&original)?;
    let file_bytes = file_size(&source.join(MODEL_FILE))?;
    let before = workload.measure(
        &original.model,
        original.objective,
        file_bytes,
        &original.device,
    )?;
    if options.sweep.is_empty() {
        let report = compress_one(
            &original,
            &workload,
            &before,
            options,
            &options.out,
            progress,
        )?;
        return Ok(CompressOutcome::Run {
            dir: options.out.clone(),
            report: Box::new(report),
        });
    }
    let folder = RunDir::create(Some(&options.out), "sweep", options.overwrite)?;
    let mut points = Vec::new();
    for &sparsity in &options.sweep {
        let one = CompressOptions {
            prune: Some(sparsity),
            sweep: Vec::new(),
            ..options.clone()
        };
        let dir = folder.path().join(format!("sparsity-{sparsity:.3}"));
        eprintln!(
            "sweep: pruning to {:.1}% into {}",
            sparsity * 100.0,
            dir.display()
        );
        let report = compress_one(&original, &workload, &before, &one, &dir, progress)?;
        eprintln!(
            "sweep: {:.1}% sparsity -> test accuracy {:.4} (unpruned {:.4})",
            sparsity * 100.0,
            report.compressed.test_accuracy,
            before.test_accuracy
        );
        points.push(SweepPoint {
            sparsity,
            test_accuracy: report.compressed.test_accuracy,
            nonzero_params: report.compressed.nonzero_params,
        });
    }
    let json = serde_json::json!({
        "source": source.display().to_string(),
        "original_accuracy": before.test_accuracy,
        "points": points,
    });
    folder.write(
        SWEEP_FILE,
        serde_json::to_string_pretty(&json)
            .expect("serialises")
            .as_bytes(),
    )?;
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.sparsity, p.test_accuracy))
        .collect();
    plot::write_sweep(&folder.path().join("sweep.png"), &xy, before.test_accuracy)?;
    Ok(CompressOutcome::Sweep {
        dir: folder.path().to_path_buf(),
        original_accuracy: before.test_accuracy,
        points,
    })
}

/// Reads `compress.json` of a run folder, if it has one.
pub fn read_report(dir: &Path) -> Result<Option<CompressReport>> {
    let path = dir.join(COMPRESS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| KilnError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| KilnError::Input(format!("{}: not a compression report: {e}", path.display())))
}

fn file_size(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| KilnError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Prunes, fine-tunes and quantizes one copy of `original` into the run folder `out`.
fn compress_one(
    original: &TrainedRun,
    workload: &Workload,
    before: &ModelMeasure,
    options: &CompressOptions,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<CompressReport> {
    let config = &original.config;
    let run = match options.resume {
        true => RunDir::existing(out)?,
        false => RunDir::create(Some(out), &config.name, options.overwrite)?,
    };
    let autodiff = original.device.clone().autodiff();
    let shape = original.preprocess.shape();
    let (spec, model) = {
        let _rng = kiln_train::rng_guard();
        autodiff.seed(config.seed);
        match options.structured {
            Some(fraction) => {
                // Cut on the inference copy, then read its weights into a trainable model.
                let (spec, small) = config.model.remove_units(
                    &original.model,
                    fraction,
                    &shape,
                    &original.device,
                )?;
                let trainable = spec
                    .build(&shape, &autodiff)?
                    .try_load_record(small.into_record())
                    .map_err(|e| KilnError::Internal(format!("structured pruning: {e:?}")))?;
                (spec, trainable)
            }
            None => {
                let model_file = original.dir.join(MODEL_FILE);
                let model = config.model.build(&shape, &autodiff)?;
                let model = model.try_load_file(&model_file).map_err(|e| {
                    KilnError::Input(format!(
                        "{}: cannot load model: {e:?}",
                        model_file.display()
                    ))
                })?;
                (config.model.clone(), model)
            }
        }
    };
    // Fine-tuning trains as the run did (its optimizer and schedule, over the fine-tuning's
    // epochs), at its learning rate unless told otherwise; no early stopping.
    let lr = options.finetune_lr.unwrap_or(config.optim.lr);
    let mut fit = config.fit_config()?;
    fit.epochs = options.finetune_epochs;
    fit.optim.lr = lr;
    fit.early_stopping.patience = 0;

    let (model, history) = if options.finetune_epochs == 0 {
        let model = match options.prune {
            Some(sparsity) => prune(model, sparsity, options.scope),
            None => model,
        };
        (model, None)
    } else {
        let batches = match workload {
            Workload::Samples(splits) => {
                TrainTask::<AnyModel>::batches_per_epoch(&classification(config, splits))
            }
            Workload::Text { train, .. } => train.len(),
        };
        let steps = batches.div_ceil(fit.accumulate_steps) * options.finetune_epochs;
        let hash = fine_tuning_hash(config, options, lr);
        // Masks are part of the model, so they are in every checkpoint.
        let checkpointer = checkpointer(config, &run, hash.clone());
        let resume = match options.resume {
            true => Some(resume_point(&run, &hash)?),
            false => None,
        };
        let done = resume.as_ref().map_or(0, |c| c.state.step);
        let mut trainer = Trainer::new(fit)
            .with_progress(progress)
            .with_checkpointer(checkpointer.as_ref())
            .resume_from(resume.as_ref());
        let model = match options.prune {
            Some(sparsity) => {
                // Prune over the first two thirds of the steps, then recover at that sparsity.
                let span = (steps * 2 / 3).max(1);
                let schedule = ZhuGupta::over(sparsity, span, span.min(20));
                let pruning = GradualPruning::new(schedule, options.scope)
                    .with_fake_quant(options.qat)
                    .resumed_after(done);
                trainer = trainer.with_transform(pruning);
                attach_masks(model, options.qat)
            }
            None if options.qat => attach_masks(model, true),
            None => model,
        };
        let report = match workload {
            Workload::Samples(splits) => {
                trainer.fit(model, &mut classification(config, splits), &autodiff)?
            }
            Workload::Text { train, valid, .. } => {
                let vocab = original.preprocess.vocab.chars().count();
                trainer.fit(model, &mut TextTask::new(train, valid, vocab), &autodiff)?
            }
        };
        (
            report.model,
            Some((report.history, report.steps, report.train_seconds)),
        )
    };
    let mut inference = model.materialize().valid();
    if let Some(granularity) = options.quantize {
        inference = quantize_int8(inference, granularity);
    }

    let mut resolved = config.clone();
    resolved.model = spec;
    resolved.name = format!("{}-compressed", config.name);
    if options.finetune_epochs > 0 {
        resolved.train.epochs = options.finetune_epochs; // what `summary.json`'s epochs count
    }
    run.write(CONFIG_FILE, resolved.to_toml().as_bytes())?;
    let preprocess = serde_json::to_string_pretty(&original.preprocess).expect("serialises");
    run.write(PREPROCESS_FILE, preprocess.as_bytes())?;
    run.save_model(&inference)?;
    Manifest::record(run.path(), &[CONFIG_FILE, PREPROCESS_FILE, MODEL_FILE])?;
    let after = workload.measure(
        &inference,
        original.objective,
        file_size(&run.path().join(MODEL_FILE))?,
        &original.device,
    )?;
    let applied = Applied {
        prune: options.prune,
        scope: match options.scope {
            PruneScope::PerLayer => "per_layer".into(),
            PruneScope::Global => "global".into(),
        },
        structured: options.structured,
        quantize: options.quantize.map(|_| "int8".into()),
        qat: options.qat,
        quant_block: match options.quantize {
            Some(QuantGranularity::PerBlock { block }) => Some(block),
            _ => None,
        },
        finetune_epochs: options.finetune_epochs,
        finetune_lr: lr,
    };
    let report = CompressReport::new(
        original.dir.display().to_string(),
        applied,
        before.clone(),
        after,
    );
    run.write(
        COMPRESS_FILE,
        serde_json::to_string_pretty(&report)
            .expect("serialises")
            .as_bytes(),
    )?;
    write_summary(
        &run, original, &resolved, &inference, workload, &report, history,
    )?;
    crate::card::write_card(run.path(), options.backend)?;
    Ok(report)
}

/// What must not change when a fine-tuning resumes: the run's config and every option that
/// shapes the fine-tuning (its epochs too: the pruning schedule spans them).
fn fine_tuning_hash(config: &ExperimentConfig, options: &CompressOptions, lr: f64) -> String {
    use sha2::{Digest, Sha256};
    let what = format!(
        "{}|prune={:?}|scope={:?}|structured={:?}|qat={}|lr={lr}|epochs={}",
        config.resume_hash(),
        options.prune,
        options.scope,
        options.structured,
        options.qat,
        options.finetune_epochs
    );
    Sha256::digest(what.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The newest valid checkpoint of an interrupted fine-tuning in `run`, made with these options.
fn resume_point(run: &RunDir, hash: &str) -> Result<VerifiedCheckpoint> {
    let Some(checkpoint) = checkpoint::newest_valid(run.path())? else {
        return Err(KilnError::Input(format!(
            "{}: no checkpoint of a fine-tuning to resume from",
            run.path().display()
        )));
    };
    if checkpoint.state.config_hash != hash {
        return Err(KilnError::Input(format!(
            "{}: this checkpoint was written by kiln compress with other options or another source run: resume with the same flags",
            checkpoint.dir.display()
        )));
    }
    eprintln!(
        "resuming the fine-tuning from {} (epoch {}, step {})",
        checkpoint.dir.display(),
        checkpoint.state.epoch,
        checkpoint.state.step
    );
    Ok(checkpoint)
}

/// `summary.json` of a compressed run: the original's, with the fine-tuning's figures and the
/// compressed model's metrics and hash.
fn write_summary(
    run: &RunDir,
    original: &TrainedRun,
    config: &ExperimentConfig,
    model: &AnyModel,
    workload: &Workload,
    report: &CompressReport,
    history: Option<(Vec<kiln_train::EpochRecord>, usize, f64)>,
) -> Result<()> {
    let base = read_summary(&original.dir)?;
    let metrics = |samples: &kiln_data::Samples| {
        let e = kiln_train::metrics::evaluate(
            model,
            AnyModel::logits,
            original.objective,
            samples,
            &original.device,
        )?;
        Ok::<_, KilnError>(SplitMetrics {
            loss: e.loss,
            accuracy: e.accuracy,
            bits_per_char: None,
        })
    };
    let (epochs, steps, seconds, train) = match &history {
        Some((history, steps, seconds)) => {
            run.write_metrics(history)?;
            plot::write_curves(&run.path().join("curves.png"), history)?;
            let last = history.last().expect("at least one epoch");
            let train = SplitMetrics {
                loss: last.train_loss,
                accuracy: last.train_accuracy,
                bits_per_char: None,
            };
            (history.len(), *steps, *seconds, train)
        }
        None => (0, 0, 0.0, base.train),
    };
    let test = SplitMetrics {
        loss: report.compressed.test_loss,
        accuracy: report.compressed.test_accuracy,
        bits_per_char: report.compressed.bits_per_char,
    };
    let summary = Summary {
        name: config.name.clone(),
        epochs,
        steps,
        params: report.compressed.params,
        train_seconds: seconds,
        train_samples_per_sec: 0.0,
        train,
        valid: match workload.splits() {
            Some(splits) => splits.valid.as_ref().map(metrics).transpose()?,
            None => Some(test),
        },
        test,
        weights_sha256: weights_sha256(model),
        best_epoch: None,
        stopped_early: false,
        ..base
    };
    run.write_summary(&summary)
}
