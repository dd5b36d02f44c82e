//! `kiln compress`: prune, fine-tune and quantize a trained run.

use kiln_compress::{PruneScope, QuantGranularity};
use kiln_experiment::compress::{CompressOptions, CompressOutcome, compress};
use kiln_train::{ConsoleProgress, Result};

use super::parse_backend;
use crate::cli::CompressArgs;

/// Runs `kiln compress`.
pub fn run(args: &CompressArgs) -> Result<()> {
    let options = CompressOptions {
        prune: args.prune,
        scope: if args.global {
            PruneScope::Global
        } else {
            PruneScope::PerLayer
        },
        quantize: args.quantize.as_ref().map(|_| match args.block {
            Some(block) => QuantGranularity::PerBlock { block },
            None => QuantGranularity::PerTensor,
        }),
        structured: args.structured,
        qat: args.qat,
        finetune_epochs: args.finetune_epochs,
        finetune_lr: args.finetune_lr,
        sweep: args.sweep.clone(),
        out: args.out.clone(),
        overwrite: args.overwrite,
        resume: args.resume,
        backend: parse_backend(args.backend.as_deref())?,
    };
    kiln_train::interrupt::install();
    let mut progress = ConsoleProgress::new(1);
    match compress(&args.run_dir, &options, &mut progress)? {
        CompressOutcome::Run { dir, report } => {
            let (o, c) = (&report.original, &report.compressed);
            println!("                 original    compressed");
            println!("params       {:>12} {:>13}", o.params, c.params);
            println!(
                "nonzero      {:>12} {:>13}",
                o.nonzero_params, c.nonzero_params
            );
            println!("file bytes   {:>12} {:>13}", o.file_bytes, c.file_bytes);
            println!(
                "test acc     {:>12.4} {:>13.4}  ({:+.4})",
                o.test_accuracy, c.test_accuracy, report.accuracy_change
            );
            println!(
                "infer/s      {:>12.0} {:>13.0}",
                o.infer_samples_per_sec, c.infer_samples_per_sec
            );
            println!("run folder: {} (compress.json)", dir.display());
        }
        CompressOutcome::Sweep {
            dir,
            original_accuracy,
            points,
        } => {
            println!("sparsity  test accuracy  (unpruned {original_accuracy:.4})");
            for p in &points {
                println!("{:>8.3}  {:>13.4}", p.sparsity, p.test_accuracy);
            }
            println!("sweep folder: {} (sweep.json, sweep.png)", dir.display());
        }
    }
    Ok(())
}
