//! The `kiln` command line. It only wires Kiln's crates together: kiln-data for data,
//! kiln-zoo for models, kiln-train for the loop, kiln-experiment for configs, run folders and
//! compression.
#![warn(missing_docs)]

pub mod cli;
pub mod commands;
#[cfg(target_os = "linux")]
pub mod large_blocks;
pub mod shipped;

pub use cli::{Cli, Command, PrivacyCommand};

/// Runs one parsed command.
pub fn run(cli: &Cli) -> kiln_train::Result<()> {
    match &cli.command {
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::List(args) => {
            commands::list::run(args);
            Ok(())
        }
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Compress(args) => commands::compress::run(args),
        Command::Privacy(command) => commands::privacy::run(command),
        Command::Fairness(args) => commands::fairness::run(args),
        Command::Card(args) => commands::card::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Import(args) => commands::import::run(args),
    }
}

/// The README's examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "flex"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
