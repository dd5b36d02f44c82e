//! `kiln inspect`: what a run folder holds.

use burn::module::Module;
use kiln_experiment::load_run;
use kiln_experiment::run_dir::{MODEL_FILE, read_summary};
use kiln_train::Result;

use crate::cli::InspectArgs;

/// Runs `kiln inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    let run = load_run(&args.run_dir, None)?;
    let bytes = std::fs::metadata(args.run_dir.join(MODEL_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("run:        {}", args.run_dir.display());
    let kind = run.config.model.info();
    println!(
        "model:      {} ({}, {}; {} parameters, {MODEL_FILE} {:.1} KiB)",
        kind.name,
        kind.description,
        kind.crate_name,
        run.model.num_params(),
        bytes as f64 / 1024.0
    );
    println!(
        "input:      {:?} -> {} classes",
        run.preprocess.sample_shape, run.preprocess.classes
    );
    if let Ok(summary) = read_summary(&args.run_dir) {
        println!(
            "trained:    {} epochs, {} steps on {} ({}), {:.2}s; test accuracy {:.4}",
            summary.epochs,
            summary.steps,
            summary.backend,
            summary.precision,
            summary.train_seconds,
            summary.test.accuracy
        );
        println!("weights:    sha256 {}", summary.weights_sha256);
    }
    println!("\n{}", run.model);
    println!("config:\n{}", run.config.to_toml());
    Ok(())
}
