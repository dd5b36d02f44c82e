//! `kiln export`: a run (or pretrained model) as safetensors, a torch.nn.Module folder or ONNX.

use kiln_experiment::interop::{ExportFormat, ExportOptions, export_run};
use kiln_train::Result;

use crate::cli::ExportArgs;

/// Runs `kiln export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    let format: ExportFormat = args.format.parse()?;
    let run_dir = kiln_experiment::resolve_run(&args.run_dir)?;
    let run = kiln_experiment::load_run(&run_dir, None)?;
    let options = ExportOptions {
        overwrite: args.overwrite,
        batch: args.batch,
    };
    let files = export_run(&run, format, &args.out, &options)?;
    println!(
        "exported {} ({}) as {}:",
        run.config.name,
        run.config.model.info().name,
        args.format
    );
    for file in files {
        println!("  {}", file.display());
    }
    Ok(())
}
