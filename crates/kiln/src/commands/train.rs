//! `kiln train`: config + overrides -> run folder.

use std::path::Path;

use kiln_experiment::{ExperimentConfig, TrainOptions, train};
use kiln_train::{ConsoleProgress, KilnError, Result};

use super::parse_backend;
use crate::cli::TrainArgs;
use crate::shipped::shipped_config;

/// Loads the config (a file, or a shipped config by name) with the command-line overrides.
pub fn load_config(args: &TrainArgs) -> Result<ExperimentConfig> {
    let mut overrides = args.overrides.clone();
    if let Some(epochs) = args.epochs {
        overrides.push(format!("train.epochs={epochs}"));
    }
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    if let Some(precision) = &args.precision {
        overrides.push(format!("train.precision=\"{precision}\""));
    }
    load_config_named(&args.config, overrides)
}

/// Loads a config file, or a shipped config by name, with `overrides`.
pub fn load_config_named(name: &str, overrides: Vec<String>) -> Result<ExperimentConfig> {
    let path = Path::new(name);
    if path.is_file() {
        return ExperimentConfig::load(path, &overrides);
    }
    match shipped_config(name) {
        Some(text) => {
            let mut config =
                ExperimentConfig::parse(text, &overrides, &format!("shipped config {name}"))?;
            if config.name.is_empty() {
                config.name = name.to_string();
            }
            Ok(config)
        }
        None => Err(KilnError::Config(format!(
            "{name}: config file not found (and not a shipped config; see `kiln list`)"
        ))),
    }
}

/// Runs `kiln train`: data-parallel over MPI's ranks when launched by `mpirun` (built with
/// `--features mpi`).
pub fn run(args: &TrainArgs) -> Result<()> {
    let ranks = kiln_distributed::world().filter(|w| w.size() > 1);
    let lead = ranks.as_ref().is_none_or(|w| w.rank() == 0);
    let result = train_on(args, ranks.clone(), lead);
    if let (Err(error), Some(world)) = (&result, &ranks) {
        // Every rank says why, and exits at once: MPI's finalisation would wait for the others.
        eprintln!("error: {error}");
        if world.rank() == 0 {
            eprintln!(
                "(rank 0 of {}: the job stops; nothing saved so far is lost)",
                world.size()
            );
        }
        std::process::exit(error.exit_code());
    }
    result
}

fn train_on(
    args: &TrainArgs,
    ranks: Option<std::rc::Rc<dyn kiln_train::Collective>>,
    lead: bool,
) -> Result<()> {
    let config = load_config(args)?;
    let size = ranks.as_ref().map_or(1, |w| w.size());
    let options = TrainOptions {
        out: args.out.clone(),
        overwrite: args.overwrite,
        backend: parse_backend(args.backend.as_deref())?,
        resume: args.resume,
        card: !args.no_card,
        init: args.init.clone(),
        ranks,
    };
    kiln_train::interrupt::install();
    let mut progress = ConsoleProgress::new(config.train.log_every);
    let outcome = train(&config, &options, &mut progress)?;
    if !lead {
        return Ok(());
    }
    if size > 1 {
        println!(
            "data-parallel over {size} ranks (global batch {})",
            config.train.batch_size
        );
    }
    let s = &outcome.summary;
    println!(
        "trained {} ({}, {} params) on {} in {:.2}s: {} epochs, {} steps, {:.0} samples/s",
        s.name,
        s.model,
        s.params,
        s.backend,
        s.train_seconds,
        s.epochs,
        s.steps,
        s.train_samples_per_sec
    );
    println!(
        "test accuracy {:.4}  test loss {:.4}",
        s.test.accuracy, s.test.loss
    );
    println!("run folder: {}", outcome.run_dir.display());
    if options.card {
        println!(
            "model card: {}",
            outcome
                .run_dir
                .join(kiln_experiment::card::CARD_MARKDOWN)
                .display()
        );
    }
    Ok(())
}
