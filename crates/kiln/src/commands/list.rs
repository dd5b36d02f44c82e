//! `kiln list`: the zoo's model kinds (from its registry), the shipped configs and the backends.

use kiln_experiment::ExperimentConfig;
use kiln_train::BackendKind;
use kiln_zoo::KINDS;

use crate::shipped::SHIPPED_CONFIGS;

/// Runs `kiln list`.
pub fn run() {
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

/// The pretrained models with their results, read from each one's compiled-in `summary.json`.
fn pretrained_table() {
    println!("\npretrained models (kiln predict|eval|explain|inspect NAME ..., no training):");
    println!(
        "  {:<20} {:>9} {:>9} {:>11} {:>10}",
        "name", "test acc", "params", "weights", "train s"
    );
    for model in kiln_pretrained::PRETRAINED {
        let file = |name: &str| {
            model
                .files
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, b)| *b)
        };
        let summary: Option<serde_json::Value> =
            file("summary.json").and_then(|b| serde_json::from_slice(b).ok());
        let Some(s) = summary else {
            println!("  {:<20} (no readable summary.json)", model.name);
            continue;
        };
        println!(
            "  {:<20} {:>9.4} {:>9} {:>8.1} KiB {:>10.2}",
            model.name,
            s["test"]["accuracy"].as_f64().unwrap_or(f64::NAN),
            s["params"].as_u64().unwrap_or(0),
            file("model.bpk").map_or(0, <[u8]>::len) as f64 / 1024.0,
            s["train_seconds"].as_f64().unwrap_or(f64::NAN)
        );
    }
}
