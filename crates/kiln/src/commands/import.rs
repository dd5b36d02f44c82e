//! `kiln import`: a state dict trained elsewhere becomes a run folder.

use kiln_experiment::TrainOptions;
use kiln_experiment::interop::import_weights;
use kiln_train::Result;

use super::parse_backend;
use super::train::load_config_named;
use crate::cli::ImportArgs;

/// Runs `kiln import`.
pub fn run(args: &ImportArgs) -> Result<()> {
    let config = load_config_named(&args.config, args.overrides.clone())?;
    let options = TrainOptions {
        out: args.out.clone(),
        overwrite: args.overwrite,
        backend: parse_backend(args.backend.as_deref())?,
        resume: false,
        card: !args.no_card,
        init: None,
        ranks: None,
    };
    let outcome = import_weights(&args.weights, &config, &options)?;
    let s = &outcome.summary;
    println!(
        "imported {} into {} ({}, {} parameters): test loss {:.4}, accuracy {:.4}",
        args.weights.display(),
        outcome.run_dir.display(),
        s.model,
        s.params,
        s.test.loss,
        s.test.accuracy
    );
    println!("weights_sha256 {}", s.weights_sha256);
    Ok(())
}
