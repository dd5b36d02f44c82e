//! `kiln bench`: throughput and memory of a config's model.

use kiln_experiment::bench::bench;
use kiln_train::Result;
use kiln_train::write_atomic;

use super::parse_backend;
use super::train::load_config_named;
use crate::cli::BenchArgs;

/// Runs `kiln bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let mut overrides = args.overrides.clone();
    if let Some(precision) = &args.precision {
        overrides.push(format!("train.precision=\"{precision}\""));
    }
    let config = load_config_named(&args.config, overrides)?;
    let report = bench(&config, parse_backend(args.backend.as_deref())?, args.steps)?;
    let unit = &report.unit;
    let batch1 = report
        .infer_batch1_ms
        .map(|ms| format!(", batch-1 inference {ms:.3} ms"))
        .unwrap_or_default();
    println!(
        "{} on {} in {} (batch {}): train {:.0} {unit}/s, inference {:.0} {unit}/s{batch1}, peak RSS {:.0} MiB",
        report.name,
        report.backend,
        report.precision,
        report.batch_size,
        report.train_samples_per_sec,
        report.infer_samples_per_sec,
        report.peak_rss_mib
    );
    if let Some(rate) = report.generate_chars_per_sec {
        println!("generation (one character at a time): {rate:.0} characters/s");
    }
    if let Some(path) = &args.json {
        write_atomic(
            path,
            serde_json::to_string_pretty(&report)
                .expect("serialises")
                .as_bytes(),
        )?;
    }
    Ok(())
}
