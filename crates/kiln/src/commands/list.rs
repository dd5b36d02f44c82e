//! `kiln list`: models and shipped configs.

use kiln_train::{BackendKind, ExperimentConfig};

use crate::shipped::SHIPPED_CONFIGS;

/// Runs `kiln list`.
pub fn run() {
    println!("models:");
    println!(
        "  mlp   multi-layer perceptron (kiln-fnn): hidden sizes, activation, dropout, batch norm"
    );
    println!("\nshipped configs (kiln train NAME, or the file in configs/):");
    for (name, text) in SHIPPED_CONFIGS.iter().copied() {
        match ExperimentConfig::parse(text, &[], name) {
            Ok(c) => println!(
                "  {name:<20} {} on {}, {} epochs, {} lr {}",
                c.model.kind(),
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
