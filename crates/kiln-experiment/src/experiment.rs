//! A whole experiment from a config: data, model, the loop, the test split and the run folder;
//! and a trained run read back for evaluation and prediction.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::prelude::*;

use kiln_data::{Augment, StreamChunks};
use kiln_train::checkpoint::{self, CheckpointPolicy, Checkpointer, VerifiedCheckpoint};
use kiln_train::collective::{Collective, agree};
use kiln_train::metrics::{Evaluation, evaluate};
use kiln_train::settings::OptimName;
use kiln_train::{
    BackendKind, Classification, FitReport, KilnError, Objective, Precision, Progress, Result,
    Trainer, weights_sha256,
};
use kiln_zoo::{AnyModel, LanguageModelling, TaskKind, evaluate_text, sample_tokens};

use crate::data::{Preprocess, Splits, load_preprocess, prepare, prepare_text};
use crate::frozen::head_samples;
use crate::manifest::Manifest;
use crate::private::{PrivacyPlan, batched_route, refuse_batch_norm};
use crate::run_dir::{
    CONFIG_FILE, LossScaleSummary, MODEL_FILE, PREPROCESS_FILE, RunDir, SplitMetrics, SplitSizes,
    Summary,
};
use crate::teacher::{distillation, load_teacher};
use crate::{ExperimentConfig, plot};
use kiln_privacy::dp_sgd::{DpClassification, GaussianNoise};

/// How to run `train` beyond what the config says.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Run folder (default: a fresh `runs/<name>`).
    pub out: Option<PathBuf>,
    /// Replace a run already in `out`.
    pub overwrite: bool,
    /// Backend (default: the config's, else the build's default).
    pub backend: Option<BackendKind>,
    /// Continue the run in `out` from its newest valid checkpoint.
    pub resume: bool,
    /// Write the model card (`model-card.md`, `model-card.json`) when training ends.
    pub card: bool,
    /// Start from the weights of this run folder (or pretrained model name) rather than a
    /// fresh initialisation: fine-tuning. Its model must be the config's.
    pub init: Option<PathBuf>,
    /// Data-parallel training over these ranks (MPI's, from `kiln-distributed`); `None` or
    /// one rank trains as one process. Only rank 0 writes the run folder.
    pub ranks: Option<Rc<dyn Collective>>,
}

/// The result of a training run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// What was written to `summary.json`.
    pub summary: Summary,
}

/// The backend a run uses: the option, else the config's, else the build's default.
pub fn choose_backend(
    option: Option<BackendKind>,
    config: &ExperimentConfig,
) -> Result<BackendKind> {
    match (option, &config.train.backend) {
        (Some(kind), _) => Ok(kind),
        (None, Some(name)) => name.parse(),
        (None, None) => BackendKind::default_compiled(),
    }
}

/// Trains the experiment and writes its run folder. Bad input (config, data, backend, output
/// folder) is reported before any training starts.
pub fn train(
    config: &ExperimentConfig,
    options: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<TrainOutcome> {
    let ranks = options.ranks.as_deref().filter(|c| c.size() > 1);
    if let Some(c) = ranks {
        crate::distributed::check_job(config, c)?;
    }
    let backend = choose_backend(options.backend, config)?;
    let device = backend.device()?;
    let precision = Precision::parse(&config.train.precision)?;
    precision.check_supported(backend, &device)?;
    let outcome = match config.model.info().task {
        TaskKind::LanguageModelling => train_text(config, options, backend, &device, progress)?,
        TaskKind::Samples | TaskKind::Sequences => {
            train_samples(config, options, backend, &device, progress)?
        }
    };
    if options.card && ranks.is_none_or(|c| c.rank() == 0) {
        crate::card::write_card(&outcome.run_dir, Some(backend))?;
    }
    Ok(outcome)
}

/// The loop's task for a classifier of the zoo: the config's batch size (the whole split for
/// full-batch `gd`), augmentation and validation split.
pub fn classification<'a>(
    config: &ExperimentConfig,
    splits: &'a Splits,
) -> Classification<'a, Logits> {
    classification_of(
        config,
        &splits.train,
        splits.valid.as_ref(),
        AnyModel::logits,
    )
}

/// [`classification`] of `train` and `valid` through `forward` (the head of a model with a
/// frozen first stage trains on that stage's features).
fn classification_of<'a>(
    config: &ExperimentConfig,
    train: &'a kiln_data::Samples,
    valid: Option<&'a kiln_data::Samples>,
    forward: Logits,
) -> Classification<'a, Logits> {
    let batch_size = if config.optim.name == OptimName::Gd {
        0
    } else {
        config.train.batch_size
    };
    Classification::new(train, forward)
        .with_optional_valid(valid)
        .with_batch_size(batch_size)
        .with_augment(Augment {
            max_shift: config.data.augment_shift,
            max_rotation: config.data.augment_rotation,
        })
}

/// The zoo's forward pass, as the loop's tasks take it.
pub type Logits = fn(&AnyModel, Tensor<2>) -> Tensor<2>;

/// DP-SGD's task over the zoo's models.
pub(crate) type PrivateTask<'a> = DpClassification<'a, AnyModel, Logits>;

/// The loop's task and noise hook of a DP-SGD run on `splits` (the batched per-example
/// route where the model kind has one).
pub(crate) fn private_task<'a>(
    plan: &PrivacyPlan,
    splits: &'a Splits,
    objective: Objective,
) -> (PrivateTask<'a>, GaussianNoise) {
    private_task_of(plan, &splits.train, splits.valid.as_ref(), objective, false)
}

/// [`private_task`] of `train` and `valid`; `on_head`: the samples are a frozen first stage's
/// features and the task trains the head alone.
fn private_task_of<'a>(
    plan: &PrivacyPlan,
    train: &'a kiln_data::Samples,
    valid: Option<&'a kiln_data::Samples>,
    objective: Objective,
    on_head: bool,
) -> (PrivateTask<'a>, GaussianNoise) {
    let noise = GaussianNoise::new(
        plan.noise_multiplier,
        plan.max_grad_norm,
        plan.sample_rate * plan.examples as f64,
    );
    let forward: Logits = match on_head {
        true => AnyModel::head_logits,
        false => AnyModel::logits,
    };
    let task = DpClassification::new(train, forward, plan.sample_rate, plan.max_grad_norm)
        .with_optional_valid(valid)
        .with_batched_route(batched_route(objective, plan.max_grad_norm, on_head));
    (task, noise)
}

/// What a finished training hands to the run folder.
struct Trained<M> {
    report: FitReport<M>,
    /// A differentially private run's plan.
    privacy: Option<PrivacyPlan>,
    test: SplitMetrics,
    valid: Option<SplitMetrics>,
    samples: SplitSizes,
}

fn train_samples(
    config: &ExperimentConfig,
    options: &TrainOptions,
    backend: BackendKind,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<TrainOutcome> {
    let splits = prepare(&config.data, config.seed)?;
    let objective = Objective::for_classes(splits.preprocess.classes);
    let fit = config.fit_config()?;
    // Read before taking the RNG guard: loading a run builds a model under that guard too.
    let teacher = match &config.distill {
        Some(distill) => Some(load_teacher(distill, backend, &splits.preprocess)?),
        None => None,
    };
    let autodiff = device.clone().autodiff();
    let _rng = kiln_train::rng_guard();
    autodiff.seed(config.seed);
    let model = config.model.build(&splits.preprocess.shape(), &autodiff)?;
    let model = init_weights(model, options)?;
    let plan = match &config.privacy {
        Some(privacy) => {
            refuse_batch_norm(&model)?;
            let batch = config.train.batch_size;
            let plan = PrivacyPlan::new(privacy, batch, splits.train.len(), config.train.epochs)?;
            eprintln!(
                "differentially private: sample rate {:.5}, noise multiplier {}, clip norm {}, delta {}",
                plan.sample_rate, plan.noise_multiplier, plan.max_grad_norm, plan.delta
            );
            Some(plan)
        }
        None => None,
    };
    let ranks = options.ranks.as_deref().filter(|c| c.size() > 1);
    let lead = ranks.is_none_or(|c| c.rank() == 0);
    let setup = (|| {
        let run = if lead {
            Some(start_run(config, options, backend, &splits.preprocess)?)
        } else if let (true, Some(out)) = (options.resume, &options.out) {
            Some(RunDir::existing(out)?) // read to resume; rank 0 alone writes
        } else {
            None
        };
        let resume = match &run {
            Some(run) => find_resume_point(config, options, run)?,
            None => None,
        };
        Ok((run, resume))
    })();
    let (run, resume) = match ranks {
        Some(c) => agree(c, setup)?,
        None => setup?,
    };
    let checkpointer = run
        .as_ref()
        .filter(|_| lead)
        .and_then(|run| checkpointer(config, run, config.resume_hash()));
    let mut silent = kiln_train::Silent;
    let mut trainer = Trainer::new(fit)
        .with_progress(if lead { progress } else { &mut silent })
        .with_checkpointer(checkpointer.as_ref())
        .resume_from(resume.as_ref());
    if let Some(c) = ranks {
        trainer = trainer.with_collective(c, crate::distributed::check_every());
    }
    if let (Some(teacher), Some(distill)) = (&teacher, &config.distill) {
        trainer = trainer.with_loss_term(distillation(teacher, distill));
    }
    // A frozen first stage is computed once and the head trains on it, unless the inputs
    // change every epoch (augmentation) or a teacher reads them ([distill]).
    let augmented = config.data.augment_shift > 0.0 || config.data.augment_rotation > 0.0;
    let head = match augmented || config.distill.is_some() {
        true => None,
        false => head_samples(&model, &splits.train, splits.valid.as_ref(), &autodiff),
    };
    let (train, valid, forward): (_, _, Logits) = match &head {
        Some(h) => (&h.train, h.valid.as_ref(), AnyModel::head_logits),
        None => (&splits.train, splits.valid.as_ref(), AnyModel::logits),
    };
    let report = match plan {
        None => {
            let mut task = classification_of(config, train, valid, forward);
            trainer.fit(model, &mut task, &autodiff)?
        }
        Some(plan) => {
            let on_head = head.is_some();
            let (mut task, noise) = private_task_of(&plan, train, valid, objective, on_head);
            trainer
                .with_gradient_hook(noise)
                .fit(model, &mut task, &autodiff)?
        }
    };
    let inference = report.model.valid();
    let metrics = |samples: &kiln_data::Samples| {
        let e = evaluate(&inference, AnyModel::logits, objective, samples, device)?;
        Ok::<_, KilnError>(SplitMetrics {
            loss: e.loss,
            accuracy: e.accuracy,
            bits_per_char: None,
        })
    };
    let trained = Trained {
        test: metrics(&splits.test)?,
        valid: splits.valid.as_ref().map(metrics).transpose()?,
        samples: split_sizes(&splits),
        privacy: plan,
        report,
    };
    finish_run(run.as_ref().filter(|_| lead), config, backend, trained)
}

fn train_text(
    config: &ExperimentConfig,
    options: &TrainOptions,
    backend: BackendKind,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<TrainOutcome> {
    let text = prepare_text(&config.data)?;
    let streams = config.train.batch_size.max(1);
    let train_chunks = StreamChunks::new(text.train, streams, config.train.seq_len);
    let valid_chunks = StreamChunks::new(text.valid, streams, config.train.seq_len);
    if train_chunks.is_empty() || valid_chunks.is_empty() {
        return Err(KilnError::Input(format!(
            "the text is too short for train.batch_size {streams} x train.seq_len {} in both splits",
            config.train.seq_len
        )));
    }
    let fit = config.fit_config()?;
    let autodiff = device.clone().autodiff();
    let _rng = kiln_train::rng_guard();
    autodiff.seed(config.seed);
    let model = config.model.build(&text.preprocess.shape(), &autodiff)?;
    let AnyModel::Charlm(model) = init_weights(model, options)? else {
        return Err(KilnError::Internal(format!(
            "model kind {} trains on text but is not a character language model",
            config.model.info().name
        )));
    };
    let run = start_run(config, options, backend, &text.preprocess)?;
    let resume = find_resume_point(config, options, &run)?;
    let checkpointer = checkpointer(config, &run, config.resume_hash());
    let mut task = LanguageModelling::new(&train_chunks, &valid_chunks, model.vocab_size());
    let report = Trainer::new(fit)
        .with_progress(progress)
        .with_checkpointer(checkpointer.as_ref())
        .resume_from(resume.as_ref())
        .fit(model, &mut task, &autodiff)?;
    let evaluation = evaluate_text(&report.model.valid(), &valid_chunks, device);
    let metrics = SplitMetrics {
        loss: evaluation.loss,
        accuracy: evaluation.accuracy,
        bits_per_char: Some(evaluation.bits_per_char),
    };
    let samples = SplitSizes {
        train: train_chunks.len() * streams * config.train.seq_len,
        valid: valid_chunks.len() * streams * config.train.seq_len,
        test: valid_chunks.len() * streams * config.train.seq_len,
    };
    // Saved as `AnyModel` so that `load_run` reads it back like every other model.
    let report = report.map_model(AnyModel::Charlm);
    finish_run(
        Some(&run),
        config,
        backend,
        Trained {
            report,
            privacy: None,
            test: metrics,
            valid: Some(metrics),
            samples,
        },
    )
}

/// With `--init`: `model` with the weights of the run folder `options.init` (a pretrained
/// model's name too), which must hold a model of the same architecture.
fn init_weights(model: AnyModel, options: &TrainOptions) -> Result<AnyModel> {
    let Some(init) = &options.init else {
        return Ok(model);
    };
    let dir = crate::resolve_run(init)?;
    let file = dir.join(MODEL_FILE);
    if !file.is_file() {
        return Err(KilnError::Input(format!(
            "{}: not a run folder (no {MODEL_FILE}) for --init",
            dir.display()
        )));
    }
    Manifest::read(&dir)?.verify(&dir, MODEL_FILE)?;
    let model = model.try_load_file(&file).map_err(|e| {
        KilnError::Input(format!(
            "{}: its weights do not fit the config's model: {e:?}",
            file.display()
        ))
    })?;
    eprintln!("starting from the weights of {}", dir.display());
    Ok(model)
}

/// The checkpointer of a run, unless the config turns checkpoints off; `hash` is what a
/// resume must match (the config's [`ExperimentConfig::resume_hash`] for a training).
pub(crate) fn checkpointer(
    config: &ExperimentConfig,
    run: &RunDir,
    hash: String,
) -> Option<Checkpointer> {
    let c = &config.checkpoint;
    (c.every_steps > 0 || c.every_epochs > 0).then(|| {
        let policy = CheckpointPolicy {
            every_steps: c.every_steps,
            every_epochs: c.every_epochs,
            keep_last: c.keep_last,
        };
        Checkpointer::new(run.path(), policy, hash)
    })
}

/// With `--resume`: the newest valid checkpoint of the run, checked against the config.
fn find_resume_point(
    config: &ExperimentConfig,
    options: &TrainOptions,
    run: &RunDir,
) -> Result<Option<VerifiedCheckpoint>> {
    if !options.resume {
        return Ok(None);
    }
    if let Some(report) = crate::compress::read_report(run.path())? {
        let what = match report.applied.quantize {
            Some(_) => "its weights are int8, which cannot be trained",
            None => "its pruning masks were merged into the weights",
        };
        return Err(KilnError::Input(format!(
            "{}: written by kiln compress ({what}), so training cannot resume from it: compress {} again with --finetune-epochs",
            run.path().display(),
            report.source
        )));
    }
    let Some(checkpoint) = checkpoint::newest_valid(run.path())? else {
        return Err(KilnError::Input(format!(
            "{}: no checkpoint to resume from",
            run.path().display()
        )));
    };
    if checkpoint.state.config_hash != config.resume_hash() {
        return Err(KilnError::Input(format!(
            "{}: the config differs from the one this checkpoint was trained with (only train.epochs may change on resume)",
            checkpoint.dir.display()
        )));
    }
    eprintln!(
        "resuming from {} (epoch {}, step {})",
        checkpoint.dir.display(),
        checkpoint.state.epoch,
        checkpoint.state.step
    );
    Ok(Some(checkpoint))
}

/// Creates the run folder (or opens it to resume) and writes the resolved config and the
/// preprocessing.
pub(crate) fn start_run(
    config: &ExperimentConfig,
    options: &TrainOptions,
    backend: BackendKind,
    preprocess: &Preprocess,
) -> Result<RunDir> {
    let run = match (&options.out, options.resume) {
        (Some(out), true) => RunDir::existing(out)?,
        (None, true) => return Err(KilnError::Input("--resume needs --out RUN_DIR".into())),
        (_, false) => RunDir::create(options.out.as_deref(), &config.name, options.overwrite)?,
    };
    let mut resolved = config.clone();
    resolved.train.backend = Some(backend.name().into());
    run.write(CONFIG_FILE, resolved.to_toml().as_bytes())?;
    let preprocess = serde_json::to_string_pretty(preprocess).expect("serialises");
    run.write(PREPROCESS_FILE, preprocess.as_bytes())?;
    Manifest::record(run.path(), &[CONFIG_FILE, PREPROCESS_FILE])?;
    Ok(run)
}

/// Saves the model, the metrics, the curves and `summary.json`.
fn finish_run<M: Module>(
    run: Option<&RunDir>,
    config: &ExperimentConfig,
    backend: BackendKind,
    trained: Trained<M>,
) -> Result<TrainOutcome> {
    let report = &trained.report;
    let inference = report.model.valid();
    let last = report.history.last().expect("at least one epoch");
    if let Some(run) = run {
        run.save_model(&report.model)?;
        Manifest::record(run.path(), &[MODEL_FILE])?;
    }
    let privacy = match &trained.privacy {
        Some(plan) => {
            // The privacy spent by the end of each epoch, then by the whole run.
            let per_epoch: Vec<f64> = (1..=report.history.len())
                .map(|e| plan.spent(e * plan.steps_per_epoch()).map(|s| s.epsilon))
                .collect::<Result<_>>()?;
            if let Some(run) = run {
                run.write_metrics_with(&report.history, Some(("epsilon", &per_epoch)))?;
            }
            Some(plan.summary(report.steps)?)
        }
        None => {
            if let Some(run) = run {
                run.write_metrics(&report.history)?;
            }
            None
        }
    };
    if let Some(run) = run {
        plot::write_curves(&run.path().join("curves.png"), &report.history)?;
    }
    let summary = Summary {
        name: config.name.clone(),
        model: config.model.info().name.into(),
        backend: backend.name().into(),
        precision: config.train.precision.clone(),
        epochs: report.history.len(),
        steps: report.steps,
        params: inference.num_params(),
        seed: config.seed,
        train_seconds: report.train_seconds,
        train_samples_per_sec: report.samples_seen as f64 / report.train_seconds.max(1e-9),
        train: SplitMetrics {
            loss: last.train_loss,
            accuracy: last.train_accuracy,
            bits_per_char: None,
        },
        valid: trained.valid,
        test: trained.test,
        weights_sha256: weights_sha256(&inference),
        best_epoch: report.best_epoch,
        stopped_early: report.stopped_early,
        samples: trained.samples,
        kiln_version: env!("CARGO_PKG_VERSION").into(),
        loss_scale: report.loss_scale.map(|s| LossScaleSummary {
            final_scale: s.scale,
            min: s.min_scale,
            skipped_steps: s.skipped_steps,
        }),
        privacy,
        imported_from: None,
    };
    // Ranks other than 0 write nothing: their outcome has no run folder.
    let Some(run) = run else {
        return Ok(TrainOutcome {
            run_dir: PathBuf::new(),
            summary,
        });
    };
    run.write_summary(&summary)?;
    Ok(TrainOutcome {
        run_dir: run.path().to_path_buf(),
        summary,
    })
}

pub(crate) fn split_sizes(splits: &Splits) -> SplitSizes {
    SplitSizes {
        train: splits.train.len(),
        valid: splits.valid.as_ref().map_or(0, |v| v.len()),
        test: splits.test.len(),
    }
}

/// A trained run read back from its folder, ready to evaluate and predict.
#[derive(Debug)]
pub struct TrainedRun {
    /// The run folder.
    pub dir: PathBuf,
    /// The resolved config it was trained with.
    pub config: ExperimentConfig,
    /// The input preprocessing fitted at training time.
    pub preprocess: Preprocess,
    /// Binary or multi-class.
    pub objective: Objective,
    /// The model in inference mode.
    pub model: AnyModel,
    /// The device it runs on.
    pub device: Device,
}

/// Reads a run folder (config, preprocessing, model) onto `backend` (default: the one it
/// trained on when compiled in, else the build's default).
pub fn load_run(dir: &Path, backend: Option<BackendKind>) -> Result<TrainedRun> {
    if checkpoint::is_checkpoint(dir) {
        let verified = checkpoint::open(dir)?;
        let run_dir = dir.parent().and_then(Path::parent).unwrap_or(dir);
        return load_model_from(run_dir, &verified.dir.join(MODEL_FILE), backend);
    }
    load_model_from(dir, &dir.join(MODEL_FILE), backend)
}

/// Reads the config and preprocessing of `dir` and the weights in `model_file`.
fn load_model_from(
    dir: &Path,
    model_file: &Path,
    backend: Option<BackendKind>,
) -> Result<TrainedRun> {
    if !model_file.is_file() {
        return Err(KilnError::Input(format!(
            "{}: not a run folder (no {MODEL_FILE})",
            dir.display()
        )));
    }
    let manifest = Manifest::read(dir)?;
    manifest.verify(dir, CONFIG_FILE)?;
    manifest.verify(dir, PREPROCESS_FILE)?;
    if model_file.parent() == Some(dir) {
        manifest.verify(dir, MODEL_FILE)?; // a checkpoint's model was verified by its state
    }
    let config_path = dir.join(CONFIG_FILE);
    let config = ExperimentConfig::load(&config_path, &[])?;
    let preprocess = load_preprocess(&dir.join(PREPROCESS_FILE))?;
    let backend = match backend {
        Some(kind) => kind,
        None => choose_backend(None, &config)
            .ok()
            .filter(|b| b.is_compiled())
            .map_or_else(BackendKind::default_compiled, Ok)?,
    };
    let device = backend.device()?;
    let objective = Objective::for_classes(preprocess.classes);
    // Initialising draws from Burn's global RNG: not in the middle of another thread's training.
    let initial = {
        let _rng = kiln_train::rng_guard();
        config.model.build(&preprocess.shape(), &device)?
    };
    let model = initial.try_load_file(model_file).map_err(|e| {
        KilnError::Input(format!(
            "{}: cannot load model: {e:?}",
            model_file.display()
        ))
    })?;
    Ok(TrainedRun {
        dir: dir.into(),
        config,
        preprocess,
        objective,
        model: model.valid(),
        device,
    })
}

impl TrainedRun {
    /// Evaluates the model on the test split of the data it was trained on (for a language
    /// model: the validation text, in bits per character).
    pub fn evaluate_test(&self) -> Result<Evaluation> {
        if let AnyModel::Charlm(model) = &self.model {
            let text = prepare_text(&self.config.data)?;
            let chunks = StreamChunks::new(
                text.valid,
                self.config.train.batch_size.max(1),
                self.config.train.seq_len,
            );
            let e = evaluate_text(model, &chunks, &self.device);
            return Ok(Evaluation {
                loss: e.loss,
                accuracy: e.accuracy,
                confusion: Vec::new(),
                bits_per_char: Some(e.bits_per_char),
            });
        }
        let splits = prepare(&self.config.data, self.config.seed)?;
        evaluate(
            &self.model,
            AnyModel::logits,
            self.objective,
            &splits.test,
            &self.device,
        )
    }

    /// Refuses a language-model run where a classifier is needed (`kiln predict`).
    pub fn require_classifier(&self) -> Result<()> {
        if matches!(self.model, AnyModel::Charlm(_)) {
            return Err(KilnError::Input(format!(
                "{}: a language model (model kind charlm) generates text and does not classify rows: use `kiln generate {}`",
                self.dir.display(),
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Number of input values per sample.
    pub fn sample_size(&self) -> usize {
        self.preprocess.sample_shape.iter().product()
    }

    /// Class probabilities for raw (not yet standardised) samples, `sample_size` values each.
    pub fn predict(&self, mut rows: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        self.require_classifier()?;
        let size = self.sample_size();
        if rows.is_empty() || !rows.len().is_multiple_of(size) {
            return Err(KilnError::Input(format!(
                "input has {} values, not a whole number of samples of {size} values",
                rows.len()
            )));
        }
        rows.chunks_exact_mut(size)
            .for_each(|row| self.preprocess.apply(row));
        let samples = kiln_data::Samples {
            labels: vec![0; rows.len() / size],
            features: rows,
            sample_shape: self.preprocess.sample_shape.clone(),
            num_classes: self.objective.classes(),
            ..kiln_data::Samples::default()
        };
        crate::card::probabilities(self, &samples)
    }

    /// The most probable class and its probability for each raw sample.
    pub fn classify(&self, rows: Vec<f32>) -> Result<Vec<(usize, f32)>> {
        Ok(self
            .predict(rows)?
            .iter()
            .map(|p| crate::card::top_class(p))
            .collect())
    }

    /// Language models: `length` characters sampled after `prompt` at `temperature`; the same
    /// `seed` gives the same text.
    pub fn generate(
        &self,
        prompt: &str,
        length: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<String> {
        let AnyModel::Charlm(model) = &self.model else {
            return Err(KilnError::Input(format!(
                "{}: generate needs a language model run (model kind charlm), this is {}",
                self.dir.display(),
                self.config.model.info().name
            )));
        };
        if temperature <= 0.0 {
            return Err(KilnError::Input("--temperature must be > 0".into()));
        }
        let vocab: Vec<char> = self.preprocess.vocab.chars().collect();
        let corpus = kiln_data::Corpus {
            vocab,
            tokens: Vec::new(),
        };
        let prompt_tokens = corpus.encode(prompt).map_err(|c| {
            KilnError::Input(format!(
                "the prompt holds {c:?}, a character the model never saw"
            ))
        })?;
        if prompt_tokens.is_empty() {
            return Err(KilnError::Input("--prompt must not be empty".into()));
        }
        let _rng = kiln_train::rng_guard();
        let tokens = sample_tokens(
            model,
            &prompt_tokens,
            length,
            temperature,
            seed,
            &self.device,
        )?;
        Ok(format!("{prompt}{}", corpus.decode(&tokens)))
    }
}
