//! `kiln generate`: text sampled from a character language model.

use kiln_experiment::load_run;
use kiln_train::Result;

use super::parse_backend;
use crate::cli::GenerateArgs;

/// Runs `kiln generate`.
pub fn run(args: &GenerateArgs) -> Result<()> {
    let run = load_run(
        &kiln_experiment::resolve_run(&args.run_dir)?,
        parse_backend(args.backend.as_deref())?,
    )?;
    let text = run.generate(&args.prompt, args.len, args.temperature, args.seed)?;
    println!("{text}");
    Ok(())
}
