//! `kiln inspect`: what a run folder holds.

use burn::module::Module;
use kiln_experiment::load_run;
use kiln_experiment::run_dir::{MODEL_FILE, read_summary};
use kiln_train::Result;

use crate::cli::InspectArgs;

/// Runs `kiln inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    let run = load_run(&kiln_experiment::resolve_run(&args.run_dir)?, None)?;
    let bytes = std::fs::metadata(run.dir.join(MODEL_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("run:        {}", run.dir.display());
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
    if let Ok(summary) = read_summary(&run.dir) {
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
    if let Some(report) = kiln_experiment::compress::read_report(&run.dir)? {
        let a = &report.applied;
        let c = &report.compressed;
        println!(
            "compressed: from {}: {}{}{}; {} of {} parameters nonzero, weights {:.1}% sparse; test accuracy {:+.4} vs the original",
            report.source,
            a.prune.map_or("no pruning".into(), |s| format!(
                "pruned to {:.1}% ({})",
                s * 100.0,
                a.scope
            )),
            a.structured.map_or(String::new(), |s| format!(
                ", {:.0}% of the units removed",
                s * 100.0
            )),
            a.quantize
                .as_ref()
                .map_or(String::new(), |q| format!(", {q} weights")),
            c.nonzero_params,
            c.params,
            c.weight_sparsity * 100.0,
            report.accuracy_change
        );
    }
    println!("\n{}", run.model);
    println!("config:\n{}", run.config.to_toml());
    Ok(())
}
