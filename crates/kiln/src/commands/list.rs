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
    let compiled: Vec<&str> = BackendKind::compiled().iter().map(|b| b.name()).collect();
    println!("\nbackends compiled in: {}", compiled.join(", "));
}
