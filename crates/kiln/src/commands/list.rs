//! `kiln list`: the zoo's model kinds (from its registry), the shipped configs and the backends.

use kiln_experiment::ExperimentConfig;
use kiln_train::BackendKind;
use kiln_zoo::KINDS;

use crate::cli::ListArgs;
use crate::shipped::SHIPPED_CONFIGS;

/// Runs `kiln list`.
pub fn run(args: &ListArgs) {
    if args.json {
        let json = serde_json::to_string_pretty(&pretrained_rows()).expect("serialises");
        println!("{json}");
        return;
    }
    println!("model kinds ([model] kind = NAME):");
    for info in KINDS.iter().map(|info| info()) {
        println!(
            "  {:<8} {} ({})",
            info.name, info.description, info.crate_name
        );
        if let Some(key) = info.variant_key {
            for variant in info.variants {
                println!(
                    "           {key} = \"{}\"{:width$}{}",
                    variant.name,
                    "",
                    variant.description,
                    width = 8usize.saturating_sub(variant.name.len())
                );
            }
        }
    }
    println!("\nshipped configs (kiln train NAME, or the file in configs/):");
    for (name, text) in SHIPPED_CONFIGS.iter().copied() {
        match ExperimentConfig::parse(text, &[], name) {
            Ok(c) => println!(
                "  {name:<20} {} on {}, {} epochs, {} lr {}",
                c.model.info().name,
                c.data.dataset,
                c.train.epochs,
                c.optim.name.as_str(),
                c.optim.lr
            ),
            Err(e) => println!("  {name:<20} (invalid: {e})"),
        }
    }
    pretrained_table();
    let compiled: Vec<&str> = BackendKind::compiled().iter().map(|b| b.name()).collect();
    println!("\nbackends compiled in: {}", compiled.join(", "));
}

/// One row of the pretrained table per model, from its compiled-in `summary.json`.
fn pretrained_rows() -> Vec<serde_json::Value> {
    kiln_pretrained::PRETRAINED
        .iter()
        .map(|model| {
            let file = |name: &str| model.file(name);
            let s: serde_json::Value = file("summary.json")
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            serde_json::json!({
                "name": model.name,
                "model": s["model"],
                "test_accuracy": s["test"]["accuracy"],
                "bits_per_char": s["test"]["bits_per_char"],
                "params": s["params"],
                "weights_bytes": file("model.bpk").map_or(0, <[u8]>::len),
                "train_seconds": s["train_seconds"],
                "weights_sha256": s["weights_sha256"],
            })
        })
        .collect()
}

/// The pretrained models with their results.
fn pretrained_table() {
    println!("\npretrained models (kiln predict|eval|explain|inspect NAME ..., no training):");
    println!(
        "  {:<20} {:>12} {:>9} {:>11} {:>10}",
        "name", "test acc/bpc", "params", "weights", "train s"
    );
    for row in pretrained_rows() {
        // A language model is measured in bits per character of its validation text.
        let result = match row["bits_per_char"].as_f64() {
            Some(bpc) => format!("{bpc:.4} bpc"),
            None => format!("{:.4}", row["test_accuracy"].as_f64().unwrap_or(f64::NAN)),
        };
        println!(
            "  {:<20} {:>12} {:>9} {:>8.1} KiB {:>10.2}",
            row["name"].as_str().unwrap_or_default(),
            result,
            row["params"].as_u64().unwrap_or(0),
            row["weights_bytes"].as_u64().unwrap_or(0) as f64 / 1024.0,
            row["train_seconds"].as_f64().unwrap_or(f64::NAN)
        );
    }
}
